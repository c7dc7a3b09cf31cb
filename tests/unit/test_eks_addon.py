"""Unit tests of spotflow.eks.eks_addon: configuration and version logic, and the
module's behaviour against an in-memory EKS double."""

from __future__ import annotations

import copy
import json

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.spotflow.eks.plugins.modules import eks_addon
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::123456789012:role/efs-csi"
VERSIONS = [
    {"addonVersion": "v2.0.9-eksbuild.1", "compatibilities": [{"clusterVersion": "1.34", "defaultVersion": False}]},
    {"addonVersion": "v2.1.4-eksbuild.1", "compatibilities": [{"clusterVersion": "1.34", "defaultVersion": True}]},
    {"addonVersion": "v2.1.10-eksbuild.1", "compatibilities": [{"clusterVersion": "1.34", "defaultVersion": False},
                                                               {"clusterVersion": "1.35", "defaultVersion": False}]},
]


# ---------------------------------------------------------------- pure logic


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, None),
        ("", {}),
        ("  ", {}),
        ({"a": 1}, {"a": 1}),
        ('{"controller": {"replicaCount": 1}}', {"controller": {"replicaCount": 1}}),
        ("controller:\n  replicaCount: 1\n", {"controller": {"replicaCount": 1}}),
    ],
)
def test_parse_configuration(value, expected):
    assert eks_addon.parse_configuration(value) == expected


@pytest.mark.parametrize("value", ["[1, 2]", "just text", 42])
def test_parse_configuration_refuses_non_mappings(value):
    with pytest.raises(eks_addon.ConfigurationError):
        eks_addon.parse_configuration(value)


def test_pick_default_version():
    assert eks_addon.pick_default_version(VERSIONS, "1.34") == "v2.1.4-eksbuild.1"
    # no default flagged: the newest compatible, compared numerically (2.1.10 > 2.1.4)
    assert eks_addon.pick_default_version(VERSIONS, "1.35") == "v2.1.10-eksbuild.1"
    assert eks_addon.pick_default_version(VERSIONS, "1.20") is None


def current_addon(**overrides):
    addon = {
        "addonName": "aws-efs-csi-driver",
        "clusterName": "c1",
        "status": "ACTIVE",
        "addonVersion": "v2.1.4-eksbuild.1",
        "addonArn": "arn:aws:eks:eu-west-1:123456789012:addon/c1/aws-efs-csi-driver/x",
        "serviceAccountRoleArn": ROLE,
        "configurationValues": '{"controller":{"replicaCount":1}}',
        "tags": {"team": "data"},
    }
    addon.update(overrides)
    return addon


@pytest.mark.parametrize(
    "params, expected",
    [
        ({}, {}),
        ({"addon_version": "v2.1.4-eksbuild.1"}, {}),
        ({"addon_version": "v2.1.10-eksbuild.1"}, {"addonVersion": "v2.1.10-eksbuild.1"}),
        ({"service_account_role_arn": ROLE}, {}),
        ({"service_account_role_arn": ROLE + "2"}, {"serviceAccountRoleArn": ROLE + "2"}),
        # same data, other spelling (YAML text, dict): no change
        ({"configuration_values": "controller:\n  replicaCount: 1"}, {}),
        ({"configuration_values": {"controller": {"replicaCount": 1}}}, {}),
        (
            {"configuration_values": {"controller": {"replicaCount": 2}}},
            {"configurationValues": '{"controller":{"replicaCount":2}}'},
        ),
        ({"configuration_values": {}}, {"configurationValues": "{}"}),
    ],
)
def test_addon_changes(params, expected):
    assert eks_addon.addon_changes(current_addon(), params) == expected


# ---------------------------------------------------------------- module behaviour


def not_found(operation):
    return ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "No addon"}}, operation)


class Paginator:
    def __init__(self, client):
        self.client = client

    def paginate(self, **kwargs):
        self.client.version_queries.append(kwargs)
        return self

    def build_full_result(self):
        return {"addons": [{"addonName": "aws-efs-csi-driver", "addonVersions": VERSIONS}]}


class FakeEKS:
    def __init__(self, addons=None, update_status="Successful"):
        self.addons = dict((a["addonName"], copy.deepcopy(a)) for a in (addons or []))
        self.calls = []
        self.version_queries = []
        self.update_status = update_status
        self.describe_updates = []

    def describe_cluster(self, name, aws_retry=False):
        return {"cluster": {"name": name, "version": "1.34"}}

    def get_paginator(self, name):
        assert name == "describe_addon_versions"
        return Paginator(self)

    def describe_addon(self, clusterName, addonName, aws_retry=False):
        if addonName not in self.addons:
            raise not_found("DescribeAddon")
        return {"addon": copy.deepcopy(self.addons[addonName])}

    def create_addon(self, aws_retry=False, **request):
        self.calls.append(("create_addon", request))
        addon = dict(request, status="ACTIVE", addonArn="arn:aws:eks:::addon/c1/%s/new" % request["addonName"])
        addon.pop("resolveConflicts", None)
        self.addons[request["addonName"]] = addon
        return {"addon": copy.deepcopy(addon)}

    def update_addon(self, clusterName, addonName, aws_retry=False, **request):
        self.calls.append(("update_addon", request))
        self.addons[addonName].update((k, v) for k, v in request.items() if k != "resolveConflicts")
        return {"update": {"id": "u-1", "status": self.update_status, "type": "AddonUpdate"}}

    def describe_update(self, name, updateId, nodegroupName=None, addonName=None):
        self.describe_updates.append(dict(name=name, updateId=updateId, addonName=addonName))
        return {"update": {"id": updateId, "status": "Successful"}}

    def delete_addon(self, clusterName, addonName, preserve, aws_retry=False):
        self.calls.append(("delete_addon", {"preserve": preserve}))
        del self.addons[addonName]
        return {}

    def tag_resource(self, resourceArn, tags, aws_retry=False):
        self.calls.append(("tag_resource", tags))
        for addon in self.addons.values():
            if addon["addonArn"] == resourceArn:
                addon.setdefault("tags", {}).update(tags)

    def untag_resource(self, resourceArn, tagKeys, aws_retry=False):
        self.calls.append(("untag_resource", tagKeys))
        for addon in self.addons.values():
            if addon["addonArn"] == resourceArn:
                for key in tagKeys:
                    addon["tags"].pop(key, None)

    def mutations(self):
        return [name for name, _ in self.calls]


def run(args, client, monkeypatch, capsys, check_mode=False, diff=True):
    monkeypatch.setattr(AnsibleAWSModule, "client", lambda self, service, retry_decorator=None, **kw: client)
    module_args = dict(args, region="eu-west-1", _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(module_args):
        with pytest.raises(SystemExit) as exit_info:
            eks_addon.main()
    result = json.loads(capsys.readouterr().out)
    result["_rc"] = exit_info.value.code
    return result


def args(**overrides):
    base = {
        "cluster_name": "c1",
        "name": "aws-efs-csi-driver",
        "service_account_role_arn": ROLE,
        "configuration_values": {"controller": {"replicaCount": 1}},
        "resolve_conflicts": "OVERWRITE",
        "tags": {"team": "data"},
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize("check_mode", [False, True])
def test_create_uses_the_default_version(monkeypatch, capsys, check_mode):
    client = FakeEKS()
    result = run(args(), client, monkeypatch, capsys, check_mode=check_mode)
    assert result["changed"] is True
    assert result["addon"]["addon_version"] == "v2.1.4-eksbuild.1"
    assert client.version_queries == [{"kubernetesVersion": "1.34", "addonName": "aws-efs-csi-driver"}]
    assert result["diff"]["after"]["configuration_values"] == {"controller": {"replicaCount": 1}}
    if check_mode:
        assert client.calls == []
    else:
        assert client.calls == [
            (
                "create_addon",
                {
                    "clusterName": "c1",
                    "addonName": "aws-efs-csi-driver",
                    "addonVersion": "v2.1.4-eksbuild.1",
                    "serviceAccountRoleArn": ROLE,
                    "configurationValues": '{"controller":{"replicaCount":1}}',
                    "resolveConflicts": "OVERWRITE",
                    "tags": {"team": "data"},
                },
            )
        ]


def test_create_with_explicit_version_does_not_look_up_versions(monkeypatch, capsys):
    client = FakeEKS()
    run(args(addon_version="v2.0.9-eksbuild.1"), client, monkeypatch, capsys)
    assert client.version_queries == []
    assert client.calls[0][1]["addonVersion"] == "v2.0.9-eksbuild.1"


@pytest.mark.parametrize("check_mode", [False, True])
def test_unchanged(monkeypatch, capsys, check_mode):
    client = FakeEKS([current_addon()])
    result = run(args(), client, monkeypatch, capsys, check_mode=check_mode)
    assert result["changed"] is False
    assert client.calls == []
    # an existing add-on keeps its version when addon_version is left out
    assert client.version_queries == []


@pytest.mark.parametrize("check_mode", [False, True])
def test_update_version_role_config_and_tags(monkeypatch, capsys, check_mode):
    client = FakeEKS([current_addon()], update_status="InProgress")
    result = run(
        args(addon_version="v2.1.10-eksbuild.1", configuration_values='{"controller": {"replicaCount": 2}}', tags={"env": "dev"}),
        client,
        monkeypatch,
        capsys,
        check_mode=check_mode,
    )
    assert result["changed"] is True
    assert result["diff"]["before"]["addon_version"] == "v2.1.4-eksbuild.1"
    assert result["diff"]["after"]["addon_version"] == "v2.1.10-eksbuild.1"
    assert result["diff"]["after"]["configuration_values"] == {"controller": {"replicaCount": 2}}
    assert result["diff"]["after"]["tags"] == {"env": "dev"}
    if check_mode:
        assert client.calls == []
    else:
        assert client.calls == [
            (
                "update_addon",
                {
                    "addonVersion": "v2.1.10-eksbuild.1",
                    "configurationValues": '{"controller":{"replicaCount":2}}',
                    "resolveConflicts": "OVERWRITE",
                },
            ),
            ("untag_resource", ["team"]),
            ("tag_resource", {"env": "dev"}),
        ]
        assert client.describe_updates == [dict(name="c1", updateId="u-1", addonName="aws-efs-csi-driver")]
        assert result["update_ids"] == ["u-1"]


def test_bad_configuration_fails_before_any_call(monkeypatch, capsys):
    client = FakeEKS([current_addon()])
    result = run(args(configuration_values="[1, 2]"), client, monkeypatch, capsys)
    assert result["failed"] is True and "must be a mapping" in result["msg"]
    assert client.calls == []


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent(monkeypatch, capsys, check_mode):
    client = FakeEKS([current_addon()])
    args = {"cluster_name": "c1", "name": "aws-efs-csi-driver", "state": "absent", "preserve": True}
    result = run(args, client, monkeypatch, capsys, check_mode=check_mode)
    assert result["changed"] is True
    assert result["addon"] == {}
    if check_mode:
        assert client.calls == []
    else:
        assert client.calls == [("delete_addon", {"preserve": True})]


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent_missing(monkeypatch, capsys, check_mode):
    client = FakeEKS()
    args = {"cluster_name": "c1", "name": "aws-efs-csi-driver", "state": "absent"}
    result = run(args, client, monkeypatch, capsys, check_mode=check_mode)
    assert result["changed"] is False
    assert client.calls == []


def test_no_compatible_version(monkeypatch, capsys):
    client = FakeEKS()
    client.describe_cluster = lambda name, aws_retry=False: {"cluster": {"version": "1.20"}}
    result = run(args(), client, monkeypatch, capsys)
    assert result["failed"] is True
    assert "no version of add-on aws-efs-csi-driver for Kubernetes 1.20" in result["msg"]
