"""The local cloud's EKS token verification, on tokens made by our own generator."""

from __future__ import annotations

import base64
import datetime

import botocore.session
import pytest

from ansible_collections.spotflow.eks.plugins.module_utils.eks_token import generate_token
from localcloud.aws.eks_auth import Authority, TokenRejected, review_response, verify

ENDPOINT = "http://127.0.0.1:15000"
AKID, SECRET = "AKIATESTTESTTEST0001", "s3cret"
CREATOR = "arn:aws:iam::123456789012:user/creator"


def authority(clusters=("prod",), creator=CREATOR):
    return Authority(
        sts_hosts={"127.0.0.1:15000"},
        secret_for=lambda akid: SECRET if akid == AKID else None,
        caller_identity=lambda akid: ("AIDA1", creator if akid == AKID else "arn:aws:iam::123456789012:user/other", "123456789012"),
        access=lambda name, arn: (arn, ["system:masters"]) if name in clusters and arn == CREATOR else None,
        clusters=lambda: list(clusters),
    )


def token(cluster="prod", secret=SECRET, endpoint=ENDPOINT):
    sess = botocore.session.Session()
    sess.set_credentials(AKID, secret)
    sts = sess.create_client("sts", region_name="us-east-1", endpoint_url=endpoint)
    return generate_token(cluster, "us-east-1", client=sts)[0]


def url_of(tok: str) -> str:
    raw = tok[len("k8s-aws-v1."):]
    return base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()


def tok_of(url: str) -> str:
    return "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")


def test_valid_token_names_the_creator_and_cluster():
    ident = verify(token(), authority())
    assert (ident.arn, ident.cluster) == (CREATOR, "prod")
    review = review_response(token(), authority())
    assert review["status"]["authenticated"] is True
    assert "system:masters" in review["status"]["user"]["groups"]


@pytest.mark.parametrize("mutate, reason", [
    (lambda u: u.replace("GetCallerIdentity", "GetSessionToken"), "GetCallerIdentity"),
    (lambda u: u[:-1] + ("0" if u[-1] != "0" else "1"), "signature"),
    (lambda u: u.replace("127.0.0.1:15000", "evil.example:443"), "STS endpoint"),
    (lambda u: u.replace("x-k8s-aws-id", "x-other"), "signed header"),
])
def test_altered_tokens_are_refused(mutate, reason):
    with pytest.raises(TokenRejected, match=reason):
        verify(tok_of(mutate(url_of(token()))), authority())


def test_wrong_secret_other_cluster_unknown_key_expired_are_refused():
    with pytest.raises(TokenRejected, match="signature"):
        verify(token(secret="wrong"), authority())
    with pytest.raises(TokenRejected, match="signature"):
        verify(token(cluster="staging"), authority())
    with pytest.raises(TokenRejected, match="expired"):
        verify(token(), authority(), now=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=16))
    with pytest.raises(TokenRejected, match="future"):
        verify(token(), authority(), now=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=10))
    with pytest.raises(TokenRejected, match="prefix"):
        verify("Bearer-ish", authority())
    assert review_response("junk", authority())["status"]["authenticated"] is False


def test_identity_other_than_creator_is_refused():
    with pytest.raises(TokenRejected, match="no access entry"):
        verify(token(), authority(creator="arn:aws:iam::123456789012:user/other"))


def test_username_and_groups_come_from_the_cluster_access():
    def access(name, arn):
        return ("alice", ["airflow-admins"]) if arn == CREATOR else None

    review = review_response(token(), Authority(
        sts_hosts={"127.0.0.1:15000"}, secret_for=lambda akid: SECRET, clusters=lambda: ["prod"], access=access,
        caller_identity=lambda akid: ("AIDA1", CREATOR, "123456789012")))
    assert review["status"]["user"]["username"] == "alice"
    assert review["status"]["user"]["groups"] == ["airflow-admins", "system:authenticated"]
