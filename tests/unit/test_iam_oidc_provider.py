"""Unit tests of spotflow.eks.iam_oidc_provider: URL matching, client ID and
thumbprint diffs, and the module's behaviour against an in-memory IAM double
that (like IAM and moto) refuses a second provider for the same URL."""

from __future__ import annotations

import copy
import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.spotflow.eks.plugins.modules import iam_oidc_provider as oidc
from botocore.exceptions import ClientError

ISSUER = "https://oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF0123456789"
HOSTPATH = "oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF0123456789"
ARN = "arn:aws:iam::123456789012:oidc-provider/" + HOSTPATH
THUMB = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"


@pytest.mark.parametrize("url", [ISSUER, ISSUER + "/", HOSTPATH, "HTTPS://" + HOSTPATH, " " + ISSUER])
def test_url_forms_match_the_arn(url):
    assert oidc.url_key(url) == HOSTPATH
    assert oidc.create_url(url) == ISSUER
    assert oidc.arn_matches(ARN, url)


def test_other_urls_do_not_match():
    assert not oidc.arn_matches(ARN, ISSUER + "0")
    assert not oidc.arn_matches(ARN, "oidc.eks.eu-west-1.amazonaws.com/id/ABCDEF")


def test_client_id_changes():
    assert oidc.client_id_changes(["sts.amazonaws.com"], ["sts.amazonaws.com"]) == ([], [])
    assert oidc.client_id_changes(["a", "b"], ["c", "a"]) == (["c"], ["b"])


def test_thumbprints_ignore_case_and_order_and_none_is_unmanaged():
    assert not oidc.thumbprints_differ([THUMB], None)
    assert not oidc.thumbprints_differ([THUMB.upper(), "a" * 40], ["a" * 40, THUMB])
    assert oidc.thumbprints_differ([], [THUMB])


class FakeIAM:
    def __init__(self, providers=None):
        self.providers = copy.deepcopy(providers or {})
        self.calls = []

    def _get(self, arn):
        if arn not in self.providers:
            raise ClientError({"Error": {"Code": "NoSuchEntity", "Message": "not found"}}, "GetOpenIDConnectProvider")
        return self.providers[arn]

    def list_open_id_connect_providers(self, aws_retry=False):
        return {"OpenIDConnectProviderList": [{"Arn": arn} for arn in self.providers]}

    def get_open_id_connect_provider(self, OpenIDConnectProviderArn, aws_retry=False):
        return dict(copy.deepcopy(self._get(OpenIDConnectProviderArn)), ResponseMetadata={})

    def create_open_id_connect_provider(self, aws_retry=False, **request):
        self.calls.append(("create", request))
        arn = "arn:aws:iam::123456789012:oidc-provider/" + oidc.url_key(request["Url"])
        if arn in self.providers:
            raise ClientError({"Error": {"Code": "EntityAlreadyExists", "Message": "exists"}}, "CreateOpenIDConnectProvider")
        self.providers[arn] = dict(
            Url=oidc.url_key(request["Url"]),
            ClientIDList=list(request["ClientIDList"]),
            ThumbprintList=list(request.get("ThumbprintList", [])),
            Tags=list(request.get("Tags", [])),
        )
        return {"OpenIDConnectProviderArn": arn}

    def add_client_id_to_open_id_connect_provider(self, OpenIDConnectProviderArn, ClientID, aws_retry=False):
        self.calls.append(("add_client_id", ClientID))
        self._get(OpenIDConnectProviderArn)["ClientIDList"].append(ClientID)

    def remove_client_id_from_open_id_connect_provider(self, OpenIDConnectProviderArn, ClientID, aws_retry=False):
        self.calls.append(("remove_client_id", ClientID))
        self._get(OpenIDConnectProviderArn)["ClientIDList"].remove(ClientID)

    def update_open_id_connect_provider_thumbprint(self, OpenIDConnectProviderArn, ThumbprintList, aws_retry=False):
        self.calls.append(("update_thumbprint", ThumbprintList))
        self._get(OpenIDConnectProviderArn)["ThumbprintList"] = list(ThumbprintList)

    def tag_open_id_connect_provider(self, OpenIDConnectProviderArn, Tags, aws_retry=False):
        self.calls.append(("tag", Tags))
        provider = self._get(OpenIDConnectProviderArn)
        keys = set(t["Key"] for t in Tags)
        provider["Tags"] = [t for t in provider["Tags"] if t["Key"] not in keys] + list(Tags)

    def untag_open_id_connect_provider(self, OpenIDConnectProviderArn, TagKeys, aws_retry=False):
        self.calls.append(("untag", TagKeys))
        provider = self._get(OpenIDConnectProviderArn)
        provider["Tags"] = [t for t in provider["Tags"] if t["Key"] not in TagKeys]

    def delete_open_id_connect_provider(self, OpenIDConnectProviderArn, aws_retry=False):
        self.calls.append(("delete", OpenIDConnectProviderArn))
        del self.providers[OpenIDConnectProviderArn]

    def mutations(self):
        return [name for name, _ in self.calls]


def existing(**overrides):
    provider = {
        "Url": HOSTPATH,
        "ClientIDList": ["sts.amazonaws.com"],
        "ThumbprintList": [THUMB],
        "Tags": [{"Key": "team", "Value": "data"}],
    }
    provider.update(overrides)
    return {ARN: provider}


def run(args, client, monkeypatch, capsys, check_mode=False, diff=True):
    monkeypatch.setattr(AnsibleAWSModule, "client", lambda self, service, retry_decorator=None, **kw: client)
    module_args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(module_args):
        with pytest.raises(SystemExit) as exit_info:
            oidc.main()
    result = json.loads(capsys.readouterr().out)
    result["_rc"] = exit_info.value.code
    return result


@pytest.mark.parametrize("check_mode", [False, True])
def test_create_without_thumbprints_then_rerun(monkeypatch, capsys, check_mode):
    client = FakeIAM()
    result = run({"url": ISSUER, "tags": {"team": "data"}}, client, monkeypatch, capsys, check_mode=check_mode)
    assert result["changed"] is True
    assert result["diff"]["after"]["client_ids"] == ["sts.amazonaws.com"]
    if check_mode:
        assert client.calls == [] and result["arn"] == ""
        return
    assert client.calls == [
        ("create", {"Url": ISSUER, "ClientIDList": ["sts.amazonaws.com"], "Tags": [{"Key": "team", "Value": "data"}]})
    ]
    assert result["arn"] == ARN
    again = run({"url": HOSTPATH + "/", "tags": {"team": "data"}}, client, monkeypatch, capsys)
    assert again["changed"] is False and again["arn"] == ARN
    assert client.mutations() == ["create"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_update_client_ids_thumbprints_and_tags(monkeypatch, capsys, check_mode):
    client = FakeIAM(existing(ClientIDList=["sts.amazonaws.com", "old-audience"]))
    new_thumb = "a" * 40
    result = run(
        {"url": ISSUER, "client_ids": ["sts.amazonaws.com", "new-audience"], "thumbprints": [new_thumb], "tags": {"env": "dev"}},
        client,
        monkeypatch,
        capsys,
        check_mode=check_mode,
    )
    assert result["changed"] is True
    assert result["diff"]["before"]["client_ids"] == ["old-audience", "sts.amazonaws.com"]
    assert result["diff"]["after"]["client_ids"] == ["new-audience", "sts.amazonaws.com"]
    assert result["diff"]["after"]["thumbprints"] == [new_thumb]
    assert result["diff"]["after"]["tags"] == {"env": "dev"}
    if check_mode:
        assert client.calls == []
    else:
        assert client.calls == [
            ("add_client_id", "new-audience"),
            ("remove_client_id", "old-audience"),
            ("update_thumbprint", [new_thumb]),
            ("untag", ["team"]),
            ("tag", [{"Key": "env", "Value": "dev"}]),
        ]
        assert result["oidc_provider"]["tags"] == {"env": "dev"}


def test_thumbprints_left_out_are_not_touched(monkeypatch, capsys):
    client = FakeIAM(existing())
    result = run({"url": ISSUER}, client, monkeypatch, capsys)
    assert result["changed"] is False
    assert client.calls == []


@pytest.mark.parametrize("check_mode", [False, True])
@pytest.mark.parametrize("how", [{"url": ISSUER}, {"arn": ARN}])
def test_absent(monkeypatch, capsys, check_mode, how):
    client = FakeIAM(existing())
    result = run(dict(how, state="absent"), client, monkeypatch, capsys, check_mode=check_mode)
    assert result["changed"] is True and result["arn"] == ""
    assert client.calls == ([] if check_mode else [("delete", ARN)])
    again = run(dict(how, state="absent"), FakeIAM(), monkeypatch, capsys, check_mode=check_mode)
    assert again["changed"] is False


def test_present_needs_url(monkeypatch, capsys):
    result = run({"arn": ARN}, FakeIAM(existing()), monkeypatch, capsys)
    assert result["failed"] is True and "url" in result["msg"]
