"""Unit tests of spotflow.eks.eks_access_entry against an in-memory EKS double: create,
no-op rerun, group/username/policy/tag changes, type refusal, delete; in and out of check mode."""

from __future__ import annotations

import copy
import json
import pathlib
import sys

import pytest

COLLECTIONS = pathlib.Path(__file__).resolve().parents[2] / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible.module_utils.testing import patch_module_args  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.spotflow.eks.plugins.modules import eks_access_entry as mod  # noqa: E402

CI = "arn:aws:iam::123456789012:role/ci"
ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
VIEW = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"


class FakeEKS:
    def __init__(self):
        self.entries = {}
        self.policies = {}
        self.calls = []

    def _entry(self, clusterName, principalArn):
        if principalArn not in self.entries:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "not found"}}, "DescribeAccessEntry")
        return self.entries[principalArn]

    def describe_access_entry(self, aws_retry=False, **key):
        return {"accessEntry": copy.deepcopy(self._entry(**key))}

    def list_associated_access_policies(self, aws_retry=False, nextToken=None, **key):
        self._entry(**key)
        return {"associatedAccessPolicies": [{"policyArn": a, "accessScope": s} for a, s in self.policies[key["principalArn"]].items()]}

    def create_access_entry(self, aws_retry=False, **request):
        self.calls.append(("create", request))
        arn = request["principalArn"]
        self.entries[arn] = dict(request, accessEntryArn="arn:entry/" + arn, kubernetesGroups=request.get("kubernetesGroups", []),
                                 username=request.get("username") or arn, tags=request.get("tags", {}))
        self.policies[arn] = {}
        return {"accessEntry": copy.deepcopy(self.entries[arn])}

    def update_access_entry(self, aws_retry=False, clusterName=None, principalArn=None, **change):
        self.calls.append(("update", change))
        self.entries[principalArn].update(change)

    def associate_access_policy(self, aws_retry=False, clusterName=None, principalArn=None, policyArn=None, accessScope=None):
        self.calls.append(("associate", policyArn, accessScope))
        self.policies[principalArn][policyArn] = accessScope

    def disassociate_access_policy(self, aws_retry=False, clusterName=None, principalArn=None, policyArn=None):
        self.calls.append(("disassociate", policyArn))
        self.policies[principalArn].pop(policyArn)

    def tag_resource(self, aws_retry=False, resourceArn=None, tags=None):
        self.calls.append(("tag", tags))
        next(e for e in self.entries.values() if e["accessEntryArn"] == resourceArn)["tags"].update(tags)

    def untag_resource(self, aws_retry=False, resourceArn=None, tagKeys=None):
        self.calls.append(("untag", tagKeys))
        for key in tagKeys:
            next(e for e in self.entries.values() if e["accessEntryArn"] == resourceArn)["tags"].pop(key)

    def delete_access_entry(self, aws_retry=False, clusterName=None, principalArn=None):
        self.calls.append(("delete", principalArn))
        self.entries.pop(principalArn)
        self.policies.pop(principalArn)


def run(args, client, monkeypatch, capsys, check_mode=False):
    monkeypatch.setattr(AnsibleAWSModule, "client", lambda self, service, retry_decorator=None, **kw: client)
    with patch_module_args(dict(cluster_name="dev", principal_arn=CI, _ansible_check_mode=check_mode, _ansible_diff=True, **args)):
        with pytest.raises(SystemExit) as exit_info:
            mod.main()
    result = json.loads(capsys.readouterr().out)
    result["_rc"] = exit_info.value.code
    return result


def test_policy_names_take_the_principal_partition():
    assert mod.policy_arn("AmazonEKSViewPolicy", CI) == VIEW
    assert mod.policy_arn("AmazonEKSViewPolicy", "arn:aws-cn:iam::123456789012:role/ci") == \
        "arn:aws-cn:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
    assert mod.policy_arn(ADMIN, CI) == ADMIN


def test_policy_changes_compare_scopes_and_purge():
    current = {ADMIN: {"type": "cluster"}, VIEW: {"type": "namespace", "namespaces": ["b", "a"]}}
    desired = {VIEW: mod.access_scope(["a", "b"])}
    assert mod.policy_changes(current, desired, purge=True) == ({}, [ADMIN])
    assert mod.policy_changes(current, desired, purge=False) == ({}, [])
    assert mod.policy_changes(current, {VIEW: mod.access_scope([])}, purge=False) == ({VIEW: {"type": "cluster"}}, [])
    assert mod.policy_changes(current, None, purge=True) == ({}, [])


@pytest.mark.parametrize("check_mode", [False, True])
def test_create_then_rerun_is_a_no_op(monkeypatch, capsys, check_mode):
    client = FakeEKS()
    args = dict(kubernetes_groups=["ops"], access_policies=[dict(policy_arn="AmazonEKSClusterAdminPolicy")], tags={"team": "data"})
    result = run(args, client, monkeypatch, capsys, check_mode=check_mode)
    assert result["_rc"] == 0 and result["changed"] is True
    assert result["diff"]["after"]["access_policies"] == {ADMIN: "cluster"}
    assert result["access_policies"] == [{"policy_arn": ADMIN, "access_scope": {"type": "cluster", "namespaces": []}}]
    if check_mode:
        assert client.calls == []
        return
    assert [c[0] for c in client.calls] == ["create", "associate"]
    assert client.calls[0][1] == {"clusterName": "dev", "principalArn": CI, "type": "STANDARD", "kubernetesGroups": ["ops"],
                                  "tags": {"team": "data"}}
    again = run(args, client, monkeypatch, capsys)
    assert again["changed"] is False and len(client.calls) == 2


def test_changes_are_made_in_place(monkeypatch, capsys):
    client = FakeEKS()
    run(dict(kubernetes_groups=["ops"], access_policies=[dict(policy_arn=ADMIN)], tags={"a": "1"}), client, monkeypatch, capsys)
    client.calls.clear()
    result = run(dict(kubernetes_groups=["viewers"], username="ci", tags={"b": "2"},
                      access_policies=[dict(policy_arn="AmazonEKSViewPolicy", namespaces=["airflow"])]), client, monkeypatch, capsys)
    assert result["changed"] is True
    assert client.calls == [("update", {"kubernetesGroups": ["viewers"], "username": "ci"}), ("untag", ["a"]), ("tag", {"b": "2"}),
                            ("disassociate", ADMIN), ("associate", VIEW, {"type": "namespace", "namespaces": ["airflow"]})]
    assert result["access_entry"]["username"] == "ci"


def test_type_cannot_change_and_system_groups_are_refused(monkeypatch, capsys):
    client = FakeEKS()
    run({}, client, monkeypatch, capsys)
    result = run(dict(type="EC2_LINUX"), client, monkeypatch, capsys)
    assert result["_rc"] == 1 and "it is STANDARD, type is EC2_LINUX" in result["msg"]
    result = run(dict(kubernetes_groups=["system:masters"]), client, monkeypatch, capsys)
    assert result["_rc"] == 1 and "system:masters" in result["msg"] and client.calls == [("create", client.calls[0][1])]


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent_then_absent_again(monkeypatch, capsys, check_mode):
    client = FakeEKS()
    run(dict(access_policies=[dict(policy_arn=ADMIN)]), client, monkeypatch, capsys)
    result = run(dict(state="absent"), client, monkeypatch, capsys, check_mode=check_mode)
    assert result["changed"] is True and result["diff"]["after"] == {}
    assert (CI in client.entries) is check_mode
    if not check_mode:
        assert run(dict(state="absent"), client, monkeypatch, capsys)["changed"] is False
