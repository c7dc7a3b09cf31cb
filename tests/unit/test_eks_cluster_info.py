"""Unit tests of spotflow.eks.eks_cluster_info: a missing cluster is not an error, node
group names are paged and sorted, other errors fail the task."""

from __future__ import annotations

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
from ansible_collections.spotflow.eks.plugins.modules import eks_cluster_info as mod  # noqa: E402


class FakeEKS:
    def __init__(self, cluster=None, pages=(), error=None):
        self.cluster = cluster
        self.pages = list(pages)
        self.error = error
        self.calls = []

    def describe_cluster(self, name, aws_retry=False):
        self.calls.append("describe")
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "nope"}}, "DescribeCluster")
        if self.cluster is None:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "No cluster"}}, "DescribeCluster")
        return {"cluster": self.cluster}

    def list_nodegroups(self, clusterName, aws_retry=False, nextToken=None):
        self.calls.append(("list", nextToken))
        index = int(nextToken or 0)
        page = {"nodegroups": self.pages[index]}
        if index + 1 < len(self.pages):
            page["nextToken"] = str(index + 1)
        return page


def run(args, client, monkeypatch, capsys, check_mode=False):
    monkeypatch.setattr(AnsibleAWSModule, "client", lambda self, service, retry_decorator=None, **kw: client)
    with patch_module_args(dict(args, _ansible_check_mode=check_mode)):
        with pytest.raises(SystemExit) as exit_info:
            mod.main()
    result = json.loads(capsys.readouterr().out)
    result["_rc"] = exit_info.value.code
    return result


@pytest.mark.parametrize("check_mode", [False, True])
def test_missing_cluster(monkeypatch, capsys, check_mode):
    result = run({"name": "dev"}, FakeEKS(), monkeypatch, capsys, check_mode)
    assert result["_rc"] == 0 and result["changed"] is False
    assert result["exists"] is False and result["cluster"] == {} and result["nodegroups"] == []


def test_cluster_and_paged_nodegroups(monkeypatch, capsys):
    cluster = {"name": "dev", "status": "ACTIVE", "resourcesVpcConfig": {"clusterSecurityGroupId": "sg-1"},
               "tags": {"spotflow:cluster": "dev"}}
    client = FakeEKS(cluster, pages=[["ng-spot"], ["ng-on-demand"]])
    result = run({"name": "dev"}, client, monkeypatch, capsys, check_mode=True)
    assert result["exists"] is True
    assert result["cluster"]["resources_vpc_config"]["cluster_security_group_id"] == "sg-1"
    assert result["cluster"]["tags"] == {"spotflow:cluster": "dev"}
    assert result["nodegroups"] == ["ng-on-demand", "ng-spot"]
    assert ("list", "1") in client.calls


def test_without_nodegroups(monkeypatch, capsys):
    client = FakeEKS({"name": "dev", "status": "ACTIVE"}, pages=[["x"]])
    result = run({"name": "dev", "list_nodegroups": False}, client, monkeypatch, capsys)
    assert "nodegroups" not in result and client.calls == ["describe"]


def test_other_errors_fail(monkeypatch, capsys):
    result = run({"name": "dev"}, FakeEKS(error="AccessDeniedException"), monkeypatch, capsys)
    assert result["_rc"] == 1 and "Failed to read EKS cluster dev" in result["msg"]
