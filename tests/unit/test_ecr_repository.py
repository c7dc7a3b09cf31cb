"""Unit tests of spotflow.eks.ecr_repository and ecr_repository_info against an
in-memory ECR double: create with every setting, updates, the encryption that
cannot change, tags, lifecycle policy compared by content, delete with and
without images; check mode changes nothing."""

from __future__ import annotations

import copy
import json
import pathlib
import sys

import pytest

COLLECTIONS = pathlib.Path(__file__).resolve().parents[2] / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

import botocore.waiter  # noqa: E402
from ansible.module_utils.testing import patch_module_args  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.spotflow.eks.plugins.module_utils import ecr as ecr_utils  # noqa: E402
from ansible_collections.spotflow.eks.plugins.modules import ecr_repository as mod  # noqa: E402
from ansible_collections.spotflow.eks.plugins.modules import ecr_repository_info as info_mod  # noqa: E402

NAME = "spotflow/dev/airflow"
ARN = "arn:aws:ecr:eu-west-1:123456789012:repository/" + NAME
KEEP_20 = {"rules": [{"rulePriority": 1, "description": "keep 20", "selection": {
    "tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 20}, "action": {"type": "expire"}}]}


def client_error(code, op="Op"):
    return ClientError({"Error": {"Code": code, "Message": code}}, op)


class FakeECR:
    def __init__(self):
        self.repos = {}
        self.tags = {}
        self.policies = {}
        self.images = {}
        self.calls = []

    def _repo(self, name):
        if name not in self.repos:
            raise client_error("RepositoryNotFoundException")
        return self.repos[name]

    def _log(self, name, **kw):
        self.calls.append((name, kw))

    def mutations(self):
        return [n for n, _ in self.calls if not n.startswith(("describe", "list", "get"))]

    # reads
    def describe_repositories(self, repositoryNames=None, aws_retry=False, **kw):
        self._log("describe_repositories")
        if repositoryNames:
            return {"repositories": [copy.deepcopy(self._repo(n)) for n in repositoryNames]}
        return {"repositories": [copy.deepcopy(r) for r in self.repos.values()]}

    def list_tags_for_resource(self, resourceArn, aws_retry=False):
        self._log("list_tags_for_resource")
        return {"tags": [{"Key": k, "Value": v} for k, v in self.tags.get(resourceArn, {}).items()]}

    def get_lifecycle_policy(self, repositoryName, aws_retry=False, **kw):
        self._log("get_lifecycle_policy")
        self._repo(repositoryName)
        if repositoryName not in self.policies:
            raise client_error("LifecyclePolicyNotFoundException")
        return {"lifecyclePolicyText": self.policies[repositoryName]}

    def get_paginator(self, op):
        fake = self

        class Paginator:
            def paginate(self, repositoryName=None, **kw):
                if op == "list_images":
                    fake._repo(repositoryName)
                    yield {"imageIds": [{"imageDigest": d} for d in fake.images.get(repositoryName, [])]}
                elif op == "describe_images":
                    fake._repo(repositoryName)
                    yield {"imageDetails": [{"imageDigest": d, "imageTags": ["t" + str(i)], "imagePushedAt": "2026-11-0{0}".format(i + 1)}
                                            for i, d in enumerate(fake.images.get(repositoryName, []))]}
                else:
                    yield fake.describe_repositories()

        return Paginator()

    # writes
    def create_repository(self, repositoryName, imageTagMutability, imageScanningConfiguration, encryptionConfiguration,
                          tags=None, aws_retry=False, **kw):
        self._log("create_repository", encryptionConfiguration=encryptionConfiguration)
        assert all(v is not None for v in encryptionConfiguration.values()), "botocore refuses None (ecs_ecr's bug)"
        arn = "arn:aws:ecr:eu-west-1:123456789012:repository/" + repositoryName
        self.repos[repositoryName] = {
            "repositoryName": repositoryName, "repositoryArn": arn, "registryId": "123456789012",
            "repositoryUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/" + repositoryName,
            "imageTagMutability": imageTagMutability, "imageScanningConfiguration": imageScanningConfiguration,
            "encryptionConfiguration": encryptionConfiguration,
        }
        self.tags[arn] = dict((t["Key"], t["Value"]) for t in tags or [])
        return {"repository": copy.deepcopy(self.repos[repositoryName])}

    def put_image_tag_mutability(self, repositoryName, imageTagMutability, aws_retry=False, **kw):
        self._log("put_image_tag_mutability")
        self._repo(repositoryName)["imageTagMutability"] = imageTagMutability

    def put_image_scanning_configuration(self, repositoryName, imageScanningConfiguration, aws_retry=False, **kw):
        self._log("put_image_scanning_configuration")
        self._repo(repositoryName)["imageScanningConfiguration"] = imageScanningConfiguration

    def put_lifecycle_policy(self, repositoryName, lifecyclePolicyText, aws_retry=False, **kw):
        self._log("put_lifecycle_policy")
        self._repo(repositoryName)
        self.policies[repositoryName] = lifecyclePolicyText

    def delete_lifecycle_policy(self, repositoryName, aws_retry=False, **kw):
        self._log("delete_lifecycle_policy")
        self.policies.pop(repositoryName)

    def tag_resource(self, resourceArn, tags, aws_retry=False):
        self._log("tag_resource", tags=tags)
        self.tags.setdefault(resourceArn, {}).update((t["Key"], t["Value"]) for t in tags)

    def untag_resource(self, resourceArn, tagKeys, aws_retry=False):
        self._log("untag_resource", tagKeys=tagKeys)
        for k in tagKeys:
            self.tags[resourceArn].pop(k, None)

    def delete_repository(self, repositoryName, force=False, aws_retry=False, **kw):
        self._log("delete_repository", force=force)
        self._repo(repositoryName)
        if self.images.get(repositoryName) and not force:
            raise client_error("RepositoryNotEmptyException")
        del self.repos[repositoryName]
        self.images.pop(repositoryName, None)
        self.policies.pop(repositoryName, None)


def run(module, args, client, monkeypatch, capsys, check_mode=False):
    monkeypatch.setattr(AnsibleAWSModule, "client", lambda self, service, retry_decorator=None, **kw: client)
    monkeypatch.setattr(botocore.waiter.time, "sleep", lambda s: None)
    with patch_module_args(dict(args, region="eu-west-1", _ansible_check_mode=check_mode, _ansible_diff=True)):
        with pytest.raises(SystemExit) as exit_info:
            module.main()
    result = json.loads(capsys.readouterr().out)
    result["_rc"] = exit_info.value.code
    return result


def args(**overrides):
    base = dict(name=NAME, image_tag_mutability="IMMUTABLE", scan_on_push=True,
                encryption_configuration={"encryption_type": "AES256"}, lifecycle_policy=KEEP_20,
                tags={"spotflow:cluster": "dev", "spotflow:component": "ecr_image"})
    base.update(overrides)
    return base


# ---------------------------------------------------------------- pure logic


def test_policy_is_compared_by_content():
    two = {"rules": [dict(KEEP_20["rules"][0], rulePriority=2), dict(KEEP_20["rules"][0], rulePriority=1)]}
    assert ecr_utils.same_policy(two, {"rules": list(reversed(two["rules"]))})
    assert not ecr_utils.same_policy(KEEP_20, {"rules": [dict(KEEP_20["rules"][0], selection=dict(
        KEEP_20["rules"][0]["selection"], countNumber=5))]})
    assert ecr_utils.same_policy({}, None)


@pytest.mark.parametrize("value", ["{not json", json.dumps({"rules": []}), json.dumps({"x": 1})])
def test_bad_policy_documents(value):
    with pytest.raises(mod.SpecError):
        mod.policy_document(value)


def test_encryption_spec_never_sends_a_null_key():
    assert mod.encryption_spec({"encryption_configuration": {"encryption_type": "AES256", "kms_key": None}}) == {"encryptionType": "AES256"}
    assert mod.encryption_spec({"encryption_configuration": {"encryption_type": "KMS", "kms_key": None}}) == {"encryptionType": "KMS"}
    assert mod.encryption_spec({"encryption_configuration": {"encryption_type": "KMS", "kms_key": "alias/x"}}) == {
        "encryptionType": "KMS", "kmsKey": "alias/x"}
    with pytest.raises(mod.SpecError):
        mod.encryption_spec({"encryption_configuration": {"encryption_type": "AES256", "kms_key": "alias/x"}})


def test_encryption_differences_resolve_aliases():
    key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1234"
    current = {"encryptionType": "KMS", "kmsKey": key_arn}
    assert mod.encryption_differences(current, {"encryptionType": "KMS"}, None) == []
    assert mod.encryption_differences(current, {"encryptionType": "KMS", "kmsKey": "alias/x"}, lambda k: key_arn) == []
    assert mod.encryption_differences(current, {"encryptionType": "KMS", "kmsKey": "alias/y"}, lambda k: "other") != []
    assert mod.encryption_differences(None, {"encryptionType": "KMS"}, None) == ["encryption_type AES256 -> KMS"]
    assert mod.encryption_differences(current, None, None) == []


# ---------------------------------------------------------------- the module


@pytest.mark.parametrize("check_mode", [False, True])
def test_create_then_rerun(monkeypatch, capsys, check_mode):
    client = FakeECR()
    result = run(mod, args(), client, monkeypatch, capsys, check_mode)
    assert result["_rc"] == 0 and result["changed"] is True and result["created"] is True
    assert result["repository"]["image_tag_mutability"] == "IMMUTABLE"
    assert result["repository"]["lifecycle_policy"] == KEEP_20
    assert result["diff"]["before"] == {} and result["diff"]["after"]["scan_on_push"] is True
    if check_mode:
        assert client.mutations() == [] and result["repository_uri"] == ""
        return
    assert client.mutations() == ["create_repository", "put_lifecycle_policy"]
    assert result["repository_uri"].endswith("/" + NAME)
    assert result["repository"]["tags"] == {"spotflow:cluster": "dev", "spotflow:component": "ecr_image"}
    assert result["repository"]["encryption_configuration"] == {"encryption_type": "AES256"}
    again = run(mod, args(), client, monkeypatch, capsys)
    assert again["changed"] is False and client.mutations() == ["create_repository", "put_lifecycle_policy"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_updates(monkeypatch, capsys, check_mode):
    client = FakeECR()
    run(mod, args(), client, monkeypatch, capsys)
    before = len(client.mutations())
    changed = args(image_tag_mutability="MUTABLE", scan_on_push=False, tags={"spotflow:cluster": "dev", "team": "data"},
                   lifecycle_policy=json.dumps({"rules": [dict(KEEP_20["rules"][0], selection=dict(
                       KEEP_20["rules"][0]["selection"], countNumber=5))]}))
    result = run(mod, changed, client, monkeypatch, capsys, check_mode)
    assert result["changed"] is True
    assert result["diff"]["after"]["image_tag_mutability"] == "MUTABLE"
    assert result["diff"]["after"]["tags"] == {"spotflow:cluster": "dev", "team": "data"}
    assert result["repository"]["lifecycle_policy"]["rules"][0]["selection"]["countNumber"] == 5
    if check_mode:
        assert len(client.mutations()) == before
        return
    assert client.mutations()[before:] == ["put_image_tag_mutability", "put_image_scanning_configuration",
                                           "put_lifecycle_policy", "untag_resource", "tag_resource"]
    assert run(mod, changed, client, monkeypatch, capsys)["changed"] is False


def test_tags_not_given_are_not_managed_and_policy_kept_unless_purged(monkeypatch, capsys):
    client = FakeECR()
    run(mod, args(), client, monkeypatch, capsys)
    result = run(mod, args(tags=None, lifecycle_policy=None), client, monkeypatch, capsys)
    assert result["changed"] is False and result["repository"]["tags"]["spotflow:cluster"] == "dev"
    purged = run(mod, args(tags=None, lifecycle_policy=None, purge_lifecycle_policy=True), client, monkeypatch, capsys)
    assert purged["changed"] is True and purged["repository"]["lifecycle_policy"] == {}


def test_encryption_cannot_change(monkeypatch, capsys):
    client = FakeECR()
    run(mod, args(), client, monkeypatch, capsys)
    result = run(mod, args(encryption_configuration={"encryption_type": "KMS"}), client, monkeypatch, capsys)
    assert result["_rc"] == 1 and "cannot change the encryption" in result["msg"]
    assert "AES256 -> KMS" in result["msg"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent(monkeypatch, capsys, check_mode):
    client = FakeECR()
    run(mod, args(), client, monkeypatch, capsys)
    client.images[NAME] = ["sha256:a", "sha256:b"]
    refused = run(mod, {"name": NAME, "state": "absent"}, client, monkeypatch, capsys, check_mode)
    assert refused["_rc"] == 1 and "force_absent" in refused["msg"] and refused["image_count"] == 2
    result = run(mod, {"name": NAME, "state": "absent", "force_absent": True}, client, monkeypatch, capsys, check_mode)
    assert result["changed"] is True and result["image_count"] == 2 and result["repository"] == {}
    assert (NAME in client.repos) is check_mode
    if not check_mode:
        assert ("delete_repository", {"force": True}) in client.calls
        again = run(mod, {"name": NAME, "state": "absent", "force_absent": True}, client, monkeypatch, capsys)
        assert again["changed"] is False


def test_info(monkeypatch, capsys):
    client = FakeECR()
    run(mod, args(), client, monkeypatch, capsys)
    client.images[NAME] = ["sha256:old", "sha256:new"]
    result = run(info_mod, {"names": [NAME, "not/there"], "include_images": True}, client, monkeypatch, capsys)
    assert result["changed"] is False and len(result["repositories"]) == 1
    repo = result["repositories"][0]
    assert repo["repository_name"] == NAME and repo["lifecycle_policy"] == KEEP_20
    assert repo["image_scanning_configuration"] == {"scan_on_push": True}
    assert [i["image_digest"] for i in repo["images"]] == ["sha256:new", "sha256:old"]  # newest push first
    everything = run(info_mod, {}, client, monkeypatch, capsys)
    assert [r["repository_name"] for r in everything["repositories"]] == [NAME] and "images" not in everything["repositories"][0]
