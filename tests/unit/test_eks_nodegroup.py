"""Unit tests of spotflow.eks.eks_nodegroup: the pure diff logic
(module_utils/nodegroup.py), the shared waiter/tag helpers (module_utils/aws.py)
and the module's behaviour against an in-memory EKS double."""

from __future__ import annotations

import copy
import json

import botocore.waiter
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.spotflow.eks.plugins.module_utils import aws
from ansible_collections.spotflow.eks.plugins.module_utils import nodegroup as ng
from ansible_collections.spotflow.eks.plugins.modules import eks_nodegroup
from botocore.exceptions import ClientError

# ---------------------------------------------------------------- taint effects and labels


@pytest.mark.parametrize(
    "given, expected",
    [
        ("NoSchedule", "NO_SCHEDULE"),
        ("NO_SCHEDULE", "NO_SCHEDULE"),
        ("no_schedule", "NO_SCHEDULE"),
        ("NoExecute", "NO_EXECUTE"),
        ("PreferNoSchedule", "PREFER_NO_SCHEDULE"),
        ("PREFER_NO_SCHEDULE", "PREFER_NO_SCHEDULE"),
    ],
)
def test_normalize_effect_accepts_both_spellings(given, expected):
    assert ng.normalize_effect(given) == expected


@pytest.mark.parametrize("bad", ["", None, "NoScheduleX", "Evict"])
def test_normalize_effect_rejects_unknown(bad):
    with pytest.raises(ng.NodegroupSpecError, match="Invalid taint effect"):
        ng.normalize_effect(bad)


def test_normalize_taints_sorts_drops_empty_value_and_refuses_duplicates():
    taints = [
        {"key": "b", "value": "", "effect": "NoExecute"},
        {"key": "a", "value": "x", "effect": "NoSchedule"},
    ]
    assert ng.normalize_taints(taints) == [
        {"key": "a", "value": "x", "effect": "NO_SCHEDULE"},
        {"key": "b", "effect": "NO_EXECUTE"},
    ]
    with pytest.raises(ng.NodegroupSpecError, match="listed twice"):
        ng.normalize_taints([{"key": "a", "effect": "NoSchedule"}, {"key": "a", "value": "1", "effect": "NO_SCHEDULE"}])


def test_label_values_are_strings():
    assert ng.normalize_labels({"a": True, "b": False, "c": 1, "d": None}) == {"a": "true", "b": "false", "c": "1", "d": ""}


@pytest.mark.parametrize(
    "current, desired, expected",
    [
        # not managed
        ({"a": "1"}, None, None),
        # identical
        ({"a": "1"}, {"a": "1"}, None),
        # a changed VALUE is an update (community.aws.eks_nodegroup misses this)
        ({"a": "1"}, {"a": "2"}, {"addOrUpdateLabels": {"a": "2"}}),
        # add, update and remove at once
        (
            {"keep": "x", "change": "old", "drop": "y"},
            {"keep": "x", "change": "new", "add": "z"},
            {"addOrUpdateLabels": {"change": "new", "add": "z"}, "removeLabels": ["drop"]},
        ),
        # {} removes everything
        ({"a": "1", "b": "2"}, {}, {"removeLabels": ["a", "b"]}),
        # from nothing
        (None, {"a": True}, {"addOrUpdateLabels": {"a": "true"}}),
    ],
)
def test_labels_update(current, desired, expected):
    assert ng.labels_update(current, desired) == expected


@pytest.mark.parametrize(
    "current, desired, expected",
    [
        ([{"key": "k", "effect": "NO_SCHEDULE"}], None, None),
        # same taint in the Kubernetes spelling: no change
        ([{"key": "k", "value": "v", "effect": "NO_SCHEDULE"}], [{"key": "k", "value": "v", "effect": "NoSchedule"}], None),
        # changed value: one addOrUpdate, no removal
        (
            [{"key": "k", "value": "v1", "effect": "NO_SCHEDULE"}],
            [{"key": "k", "value": "v2", "effect": "NoSchedule"}],
            {"addOrUpdateTaints": [{"key": "k", "value": "v2", "effect": "NO_SCHEDULE"}]},
        ),
        # changed effect: taints are identified by key AND effect -> remove + add
        (
            [{"key": "k", "value": "v", "effect": "NO_SCHEDULE"}],
            [{"key": "k", "value": "v", "effect": "NoExecute"}],
            {
                "addOrUpdateTaints": [{"key": "k", "value": "v", "effect": "NO_EXECUTE"}],
                "removeTaints": [{"key": "k", "value": "v", "effect": "NO_SCHEDULE"}],
            },
        ),
        # same key, two effects side by side; one removed
        (
            [{"key": "k", "effect": "NO_SCHEDULE"}, {"key": "k", "effect": "NO_EXECUTE"}],
            [{"key": "k", "effect": "NO_EXECUTE"}],
            {"removeTaints": [{"key": "k", "effect": "NO_SCHEDULE"}]},
        ),
        # [] removes everything
        (
            [{"key": "a", "effect": "NO_SCHEDULE"}, {"key": "b", "value": "1", "effect": "PREFER_NO_SCHEDULE"}],
            [],
            {"removeTaints": [{"key": "a", "effect": "NO_SCHEDULE"}, {"key": "b", "value": "1", "effect": "PREFER_NO_SCHEDULE"}]},
        ),
        # value removed
        (
            [{"key": "k", "value": "v", "effect": "NO_SCHEDULE"}],
            [{"key": "k", "effect": "NO_SCHEDULE"}],
            {"addOrUpdateTaints": [{"key": "k", "effect": "NO_SCHEDULE"}]},
        ),
    ],
)
def test_taints_update(current, desired, expected):
    assert ng.taints_update(current, desired) == expected


# ---------------------------------------------------------------- scaling


CUR = {"minSize": 1, "maxSize": 5, "desiredSize": 3}


@pytest.mark.parametrize(
    "desired, ignore, expected",
    [
        (None, True, None),
        # the autoscaler moved desired to 3; same min/max and a different desired_size: left alone
        ({"min_size": 1, "max_size": 5, "desired_size": 1}, True, None),
        # ...unless desired size is enforced
        ({"min_size": 1, "max_size": 5, "desired_size": 1}, False, {"minSize": 1, "maxSize": 5, "desiredSize": 1}),
        # new max; desired 3 still fits: desiredSize not sent (no fight with the autoscaler)
        ({"min_size": 1, "max_size": 10}, True, {"minSize": 1, "maxSize": 10}),
        # new max below current desired: clamp to the new bound
        ({"min_size": 1, "max_size": 2}, True, {"minSize": 1, "maxSize": 2, "desiredSize": 2}),
        # new min above current desired, desired_size given and in range: use it
        ({"min_size": 4, "max_size": 6, "desired_size": 5}, True, {"minSize": 4, "maxSize": 6, "desiredSize": 5}),
        # only min_size given: max kept
        ({"min_size": 0}, True, {"minSize": 0, "maxSize": 5}),
        # enforced but equal: nothing
        ({"desired_size": 3}, False, None),
    ],
)
def test_scaling_update(desired, ignore, expected):
    assert ng.scaling_update(CUR, desired, ignore) == expected


@pytest.mark.parametrize(
    "desired, message",
    [
        ({"min_size": 3, "max_size": 2}, "greater than"),
        ({"min_size": 1, "max_size": 2, "desired_size": 5}, "outside"),
        ({"min_size": 0, "max_size": 0}, "max_size must be 1 or more"),
        ({"min_size": -1, "max_size": 2}, "min_size must be 0 or more"),
    ],
)
def test_scaling_update_refuses_bad_ranges(desired, message):
    with pytest.raises(ng.NodegroupSpecError, match=message):
        ng.scaling_update(CUR, desired)


def test_create_scaling_defaults_desired_to_min_but_at_least_one():
    assert ng.create_scaling({"min_size": 0, "max_size": 3}) == {"minSize": 0, "maxSize": 3, "desiredSize": 1}
    assert ng.create_scaling({"min_size": 2, "max_size": 3}) == {"minSize": 2, "maxSize": 3, "desiredSize": 2}
    with pytest.raises(ng.NodegroupSpecError, match="required to create"):
        ng.create_scaling({"max_size": 3})


@pytest.mark.parametrize(
    "current, desired, expected",
    [
        ({"maxUnavailable": 1}, None, None),
        ({"maxUnavailable": 1}, {"max_unavailable": 1}, None),
        ({"maxUnavailable": 1}, {"max_unavailable": 2}, {"maxUnavailable": 2}),
        ({"maxUnavailable": 1}, {"max_unavailable_percentage": 33}, {"maxUnavailablePercentage": 33}),
        (None, {"max_unavailable": 1}, {"maxUnavailable": 1}),
    ],
)
def test_update_config_update(current, desired, expected):
    assert ng.update_config_update(current, desired) == expected


# ---------------------------------------------------------------- whole payload, replacement


def described(**overrides):
    nodegroup = {
        "nodegroupName": "spot",
        "clusterName": "c1",
        "nodegroupArn": "arn:aws:eks:eu-west-1:123456789012:nodegroup/c1/spot/uuid",
        "status": "ACTIVE",
        "nodeRole": "arn:aws:iam::123456789012:role/node",
        "subnets": ["subnet-a", "subnet-b"],
        "instanceTypes": ["m5.large", "m5a.large"],
        "capacityType": "SPOT",
        "amiType": "AL2023_x86_64_STANDARD",
        "diskSize": 20,
        "scalingConfig": {"minSize": 0, "maxSize": 4, "desiredSize": 2},
        "labels": {"lifecycle": "Ec2Spot", "role": "worker"},
        "taints": [{"key": "spot", "value": "true", "effect": "NO_SCHEDULE"}],
        "updateConfig": {"maxUnavailable": 1},
        "resources": {"autoScalingGroups": [{"name": "eks-spot-uuid"}]},
        "tags": {"team": "data"},
    }
    nodegroup.update(overrides)
    return nodegroup


def options(**overrides):
    params = {
        "cluster_name": "c1",
        "name": "spot",
        "node_role": "arn:aws:iam::123456789012:role/node",
        "subnets": ["subnet-b", "subnet-a"],
        "instance_types": ["m5.large", "m5a.large"],
        "capacity_type": "SPOT",
        "ami_type": "AL2023_x86_64_STANDARD",
        "disk_size": 20,
        "scaling": {"min_size": 0, "max_size": 4, "desired_size": 1},
        "ignore_desired_size_changes": True,
        "labels": {"lifecycle": "Ec2Spot", "role": "worker"},
        "taints": [{"key": "spot", "value": "true", "effect": "NoSchedule"}],
        "update_config": {"max_unavailable": 1, "max_unavailable_percentage": None},
        "launch_template": None,
        "tags": {"team": "data"},
        "purge_tags": True,
        "replace_on_change": False,
        "wait": True,
        "wait_timeout": 60,
    }
    params.update(overrides)
    return params


def test_config_update_none_when_matching():
    assert ng.config_update(described(), options()) is None
    assert ng.replacement_changes(described(), options()) == []


def test_config_update_combines_everything_in_one_request():
    params = options(
        labels={"lifecycle": "Ec2Spot", "role": "scheduler"},
        taints=[{"key": "spot", "value": "true", "effect": "NoExecute"}],
        scaling={"min_size": 1, "max_size": 6},
        update_config={"max_unavailable": None, "max_unavailable_percentage": 50},
    )
    assert ng.config_update(described(), params) == {
        "labels": {"addOrUpdateLabels": {"role": "scheduler"}},
        "taints": {
            "addOrUpdateTaints": [{"key": "spot", "value": "true", "effect": "NO_EXECUTE"}],
            "removeTaints": [{"key": "spot", "value": "true", "effect": "NO_SCHEDULE"}],
        },
        "scalingConfig": {"minSize": 1, "maxSize": 6},
        "updateConfig": {"maxUnavailablePercentage": 50},
    }


def test_apply_config_update_predicts_the_result():
    payload = ng.config_update(described(), options(labels={"role": "x"}, taints=[], scaling={"max_size": 1}))
    after = ng.apply_config_update(described(), payload)
    assert after["labels"] == {"role": "x"}
    assert after["taints"] == []
    assert after["scalingConfig"] == {"minSize": 0, "maxSize": 1, "desiredSize": 1}


@pytest.mark.parametrize(
    "overrides, fields",
    [
        ({"instance_types": ["m5.xlarge"]}, ["instance_types"]),
        ({"instance_types": ["m5a.large", "m5.large"]}, ["instance_types"]),  # order is priority
        ({"capacity_type": "ON_DEMAND"}, ["capacity_type"]),
        ({"subnets": ["subnet-a"]}, ["subnets"]),
        ({"ami_type": "BOTTLEROCKET_x86_64"}, ["ami_type"]),
        ({"disk_size": 50}, ["disk_size"]),
        ({"node_role": "arn:aws:iam::123456789012:role/other"}, ["node_role"]),
        ({"instance_types": None, "capacity_type": None, "ami_type": None, "disk_size": None}, []),  # not managed
        ({"capacity_type": "ON_DEMAND", "disk_size": 30}, ["capacity_type", "disk_size"]),
    ],
)
def test_replacement_changes(overrides, fields):
    assert [f for f, _old, _new in ng.replacement_changes(described(), options(**overrides))] == fields


def test_disk_size_as_string_from_the_api_is_compared_as_a_number():
    assert ng.replacement_changes(described(diskSize="20"), options()) == []


def test_launch_template_other_template_is_replacement_new_version_is_update():
    current = described(launchTemplate={"id": "lt-1", "name": "workers", "version": "3"}, diskSize=None)
    same = options(disk_size=None, launch_template={"id": None, "name": "workers", "version": "3"})
    assert ng.replacement_changes(current, same) == []
    assert ng.launch_template_version_update(current, same) is None

    newer = options(disk_size=None, launch_template={"id": None, "name": "workers", "version": "4"})
    assert ng.replacement_changes(current, newer) == []
    assert ng.launch_template_version_update(current, newer) == {"name": "workers", "version": "4"}

    other = options(disk_size=None, launch_template={"id": "lt-2", "name": None, "version": None})
    assert [f for f, _o, _n in ng.replacement_changes(current, other)] == ["launch_template"]
    assert ng.launch_template_version_update(current, other) is None


def test_create_request():
    request = ng.create_request(options(tags={"n": 1}))
    assert request == {
        "clusterName": "c1",
        "nodegroupName": "spot",
        "nodeRole": "arn:aws:iam::123456789012:role/node",
        "subnets": ["subnet-b", "subnet-a"],
        "scalingConfig": {"minSize": 0, "maxSize": 4, "desiredSize": 1},
        "instanceTypes": ["m5.large", "m5a.large"],
        "capacityType": "SPOT",
        "amiType": "AL2023_x86_64_STANDARD",
        "diskSize": 20,
        "labels": {"lifecycle": "Ec2Spot", "role": "worker"},
        "taints": [{"key": "spot", "value": "true", "effect": "NO_SCHEDULE"}],
        "updateConfig": {"maxUnavailable": 1},
        "tags": {"n": "1"},
    }
    with pytest.raises(ng.NodegroupSpecError, match="disk_size cannot be combined"):
        ng.create_request(options(launch_template={"name": "lt"}))


# ---------------------------------------------------------------- shared helpers (module_utils/aws.py)


def test_tag_changes_ignores_unmanaged_and_aws_reserved():
    assert aws.tag_changes({"a": "1"}, None, True) == ({}, [])
    assert aws.tag_changes({"a": "1", "aws:x": "y", "b": "2"}, {"a": 1, "c": "3"}, True) == ({"c": "3"}, ["b"])
    assert aws.tag_changes({"a": "1", "b": "2"}, {"a": "1"}, False) == ({}, [])


def test_to_result_keeps_label_and_tag_keys():
    result = aws.to_result({"nodegroupName": "x", "labels": {"myLabel": "v"}, "tags": {"CamelTag": "v"}})
    assert result == {"nodegroup_name": "x", "labels": {"myLabel": "v"}, "tags": {"CamelTag": "v"}}


# ---------------------------------------------------------------- module behaviour with an EKS double


def client_error(code, operation, message="boom"):
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


class FakeEKS:
    """In-memory EKS with the calls the module makes; records mutating calls."""

    def __init__(self, nodegroups=None, update_status="Successful"):
        self.nodegroups = dict((n["nodegroupName"], copy.deepcopy(n)) for n in (nodegroups or []))
        self.calls = []
        self.update_status = update_status
        self.describe_updates = 0

    def _get(self, nodegroupName):
        if nodegroupName not in self.nodegroups:
            raise client_error("ResourceNotFoundException", "DescribeNodegroup", "No node group found")
        return self.nodegroups[nodegroupName]

    def describe_nodegroup(self, clusterName, nodegroupName, aws_retry=False):
        return {"nodegroup": copy.deepcopy(self._get(nodegroupName))}

    def create_nodegroup(self, aws_retry=False, **request):
        self.calls.append(("create_nodegroup", request))
        nodegroup = dict(request, status="ACTIVE", nodegroupArn="arn:aws:eks:::nodegroup/c1/%s/new" % request["nodegroupName"])
        nodegroup.setdefault("updateConfig", {"maxUnavailable": 1})
        self.nodegroups[request["nodegroupName"]] = nodegroup
        return {"nodegroup": copy.deepcopy(nodegroup)}

    def delete_nodegroup(self, clusterName, nodegroupName, aws_retry=False):
        self.calls.append(("delete_nodegroup", nodegroupName))
        self._get(nodegroupName)
        del self.nodegroups[nodegroupName]
        return {}

    def update_nodegroup_config(self, clusterName, nodegroupName, aws_retry=False, **payload):
        self.calls.append(("update_nodegroup_config", payload))
        nodegroup = self._get(nodegroupName)
        self.nodegroups[nodegroupName] = ng.apply_config_update(nodegroup, payload)
        return {"update": {"id": "u-1", "status": self.update_status, "type": "ConfigUpdate"}}

    def update_nodegroup_version(self, clusterName, nodegroupName, launchTemplate, aws_retry=False):
        self.calls.append(("update_nodegroup_version", launchTemplate))
        self._get(nodegroupName)["launchTemplate"].update(launchTemplate)
        return {"update": {"id": "u-2", "status": self.update_status, "type": "VersionUpdate"}}

    def describe_update(self, name, updateId, nodegroupName=None, addonName=None):
        self.describe_updates += 1
        return {"update": {"id": updateId, "status": "Successful"}}

    def tag_resource(self, resourceArn, tags, aws_retry=False):
        self.calls.append(("tag_resource", tags))
        for nodegroup in self.nodegroups.values():
            if nodegroup["nodegroupArn"] == resourceArn:
                nodegroup.setdefault("tags", {}).update(tags)

    def untag_resource(self, resourceArn, tagKeys, aws_retry=False):
        self.calls.append(("untag_resource", tagKeys))
        for nodegroup in self.nodegroups.values():
            if nodegroup["nodegroupArn"] == resourceArn:
                for key in tagKeys:
                    nodegroup.get("tags", {}).pop(key, None)

    def mutations(self):
        return [name for name, _ in self.calls]


def run(args, client, monkeypatch, capsys, check_mode=False, diff=True):
    monkeypatch.setattr(AnsibleAWSModule, "client", lambda self, service, retry_decorator=None, **kw: client)
    module_args = dict(args, region="eu-west-1", _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(module_args):
        with pytest.raises(SystemExit) as exit_info:
            eks_nodegroup.main()
    result = json.loads(capsys.readouterr().out)
    result["_rc"] = exit_info.value.code
    return result


def module_args(**overrides):
    args = {
        "cluster_name": "c1",
        "name": "spot",
        "node_role": "arn:aws:iam::123456789012:role/node",
        "subnets": ["subnet-a", "subnet-b"],
        "instance_types": ["m5.large", "m5a.large"],
        "capacity_type": "SPOT",
        "ami_type": "AL2023_x86_64_STANDARD",
        "disk_size": 20,
        "scaling": {"min_size": 0, "max_size": 4, "desired_size": 2},
        "labels": {"lifecycle": "Ec2Spot", "role": "worker"},
        "taints": [{"key": "spot", "value": "true", "effect": "NoSchedule"}],
        "update_config": {"max_unavailable": 1},
        "tags": {"team": "data"},
    }
    args.update(overrides)
    return args


@pytest.mark.parametrize("check_mode", [False, True])
def test_create(monkeypatch, capsys, check_mode):
    client = FakeEKS()
    result = run(module_args(), client, monkeypatch, capsys, check_mode=check_mode)
    assert result["_rc"] == 0
    assert result["changed"] is True
    assert result["diff"]["before"] == {}
    assert result["diff"]["after"]["taints"] == [{"key": "spot", "value": "true", "effect": "NO_SCHEDULE"}]
    assert result["nodegroup"]["labels"] == {"lifecycle": "Ec2Spot", "role": "worker"}
    if check_mode:
        assert client.calls == [] and client.nodegroups == {}
        assert result["nodegroup"]["status"] == "CREATING"
    else:
        assert client.mutations() == ["create_nodegroup"]
        request = client.calls[0][1]
        assert request["taints"] == [{"key": "spot", "value": "true", "effect": "NO_SCHEDULE"}]
        assert request["scalingConfig"] == {"minSize": 0, "maxSize": 4, "desiredSize": 2}
        assert result["nodegroup"]["status"] == "ACTIVE"


def test_create_needs_role_subnets_and_scaling(monkeypatch, capsys):
    client = FakeEKS()
    result = run({"cluster_name": "c1", "name": "spot", "scaling": {"min_size": 1, "max_size": 2}}, client, monkeypatch, capsys)
    assert result["failed"] is True
    assert result["msg"] == "node_role and subnets are required to create a node group"
    result = run(module_args(scaling={"max_size": 2}), client, monkeypatch, capsys)
    assert result["msg"] == "scaling.min_size and scaling.max_size are required to create a node group"
    assert client.calls == []


@pytest.mark.parametrize("check_mode", [False, True])
def test_no_change_is_not_changed(monkeypatch, capsys, check_mode):
    client = FakeEKS([described()])
    result = run(module_args(), client, monkeypatch, capsys, check_mode=check_mode)
    assert result["changed"] is False
    assert client.calls == []
    assert result["diff"]["before"] == result["diff"]["after"]
    assert result["nodegroup"]["resources"]["auto_scaling_groups"] == [{"name": "eks-spot-uuid"}]


@pytest.mark.parametrize("check_mode", [False, True])
def test_label_value_and_taint_change_in_one_update(monkeypatch, capsys, check_mode):
    client = FakeEKS([described()])
    args = module_args(
        labels={"lifecycle": "Ec2Spot", "role": "scheduler"},
        taints=[{"key": "spot", "value": "yes", "effect": "NoSchedule"}],
        tags={"team": "data", "env": "dev"},
    )
    result = run(args, client, monkeypatch, capsys, check_mode=check_mode)
    assert result["_rc"] == 0, result
    assert result["changed"] is True
    assert result["diff"]["before"]["labels"]["role"] == "worker"
    assert result["diff"]["after"]["labels"]["role"] == "scheduler"
    assert result["diff"]["after"]["taints"] == [{"key": "spot", "value": "yes", "effect": "NO_SCHEDULE"}]
    assert result["diff"]["after"]["tags"] == {"team": "data", "env": "dev"}
    assert result["nodegroup"]["labels"]["role"] == "scheduler"
    if check_mode:
        assert client.calls == []
    else:
        assert client.mutations() == ["update_nodegroup_config", "tag_resource"]
        assert client.calls[0][1] == {
            "labels": {"addOrUpdateLabels": {"role": "scheduler"}},
            "taints": {"addOrUpdateTaints": [{"key": "spot", "value": "yes", "effect": "NO_SCHEDULE"}]},
        }
        assert result["update_ids"] == ["u-1"]
        # applied for real: a second run is a no-op
        again = run(args, client, monkeypatch, capsys)
        assert again["changed"] is False


def test_update_in_progress_is_waited_for(monkeypatch, capsys):
    client = FakeEKS([described()], update_status="InProgress")
    result = run(module_args(labels={"a": "b"}), client, monkeypatch, capsys)
    assert result["changed"] is True
    assert client.describe_updates == 1


def test_update_without_wait_does_not_poll(monkeypatch, capsys):
    client = FakeEKS([described()], update_status="InProgress")
    result = run(module_args(labels={"a": "b"}, wait=False), client, monkeypatch, capsys)
    assert result["changed"] is True
    assert client.describe_updates == 0


def test_desired_size_drift_is_left_to_the_autoscaler(monkeypatch, capsys):
    client = FakeEKS([described(scalingConfig={"minSize": 0, "maxSize": 4, "desiredSize": 3})])
    assert run(module_args(), client, monkeypatch, capsys)["changed"] is False
    result = run(module_args(ignore_desired_size_changes=False), client, monkeypatch, capsys)
    assert result["changed"] is True
    assert client.calls[-1] == ("update_nodegroup_config", {"scalingConfig": {"minSize": 0, "maxSize": 4, "desiredSize": 2}})


@pytest.mark.parametrize("check_mode", [False, True])
def test_immutable_change_fails_with_the_fields(monkeypatch, capsys, check_mode):
    client = FakeEKS([described()])
    args = module_args(instance_types=["m5.xlarge"], capacity_type="ON_DEMAND")
    result = run(args, client, monkeypatch, capsys, check_mode=check_mode)
    assert result["failed"] is True
    assert "instance_types, capacity_type" in result["msg"]
    assert "replace_on_change=true" in result["msg"]
    assert [r["field"] for r in result["replacements"]] == ["instance_types", "capacity_type"]
    assert client.calls == []


@pytest.mark.parametrize("check_mode", [False, True])
def test_replace_on_change(monkeypatch, capsys, check_mode):
    client = FakeEKS([described()])
    args = module_args(instance_types=["m5.xlarge"], replace_on_change=True)
    result = run(args, client, monkeypatch, capsys, check_mode=check_mode)
    assert result["changed"] is True and result["replaced"] is True
    assert result["diff"]["before"]["instance_types"] == ["m5.large", "m5a.large"]
    assert result["diff"]["after"]["instance_types"] == ["m5.xlarge"]
    if check_mode:
        assert client.calls == []
    else:
        assert client.mutations() == ["delete_nodegroup", "create_nodegroup"]
        assert client.nodegroups["spot"]["instanceTypes"] == ["m5.xlarge"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_launch_template_version_rollout(monkeypatch, capsys, check_mode):
    current = described(launchTemplate={"id": "lt-1", "name": "workers", "version": "3"}, diskSize=None)
    client = FakeEKS([current], update_status="InProgress")
    args = module_args(disk_size=None, launch_template={"name": "workers", "version": "4"}, labels={"a": "b"})
    args.pop("disk_size")
    result = run(args, client, monkeypatch, capsys, check_mode=check_mode)
    assert result["changed"] is True and result["replaced"] is False
    assert result["diff"]["after"]["launch_template"]["version"] == "4"
    if check_mode:
        assert client.calls == []
    else:
        # config first (waited for, even though a second update follows), then the version
        assert client.mutations() == ["update_nodegroup_config", "update_nodegroup_version"]
        assert client.describe_updates == 2
        assert result["update_ids"] == ["u-1", "u-2"]


def test_bad_taint_effect_fails_cleanly(monkeypatch, capsys):
    result = run(module_args(taints=[{"key": "a", "effect": "Sometimes"}]), FakeEKS([described()]), monkeypatch, capsys)
    assert result["failed"] is True
    assert "Invalid taint effect 'Sometimes'" in result["msg"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent(monkeypatch, capsys, check_mode):
    client = FakeEKS([described()])
    result = run({"cluster_name": "c1", "name": "spot", "state": "absent"}, client, monkeypatch, capsys, check_mode=check_mode)
    assert result["changed"] is True
    assert result["diff"]["after"] == {}
    assert result["nodegroup"] == {}
    if check_mode:
        assert client.calls == []
    else:
        assert client.mutations() == ["delete_nodegroup"]
        assert client.nodegroups == {}


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent_when_missing_is_not_changed(monkeypatch, capsys, check_mode):
    client = FakeEKS()
    result = run({"cluster_name": "c1", "name": "spot", "state": "absent"}, client, monkeypatch, capsys, check_mode=check_mode)
    assert result["changed"] is False
    assert client.calls == []


def test_create_failed_nodegroup_is_reported(monkeypatch, capsys):
    issue = {"code": "AsgInstanceLaunchFailures", "message": "no Spot capacity"}
    broken = described(status="CREATE_FAILED", health={"issues": [issue]})
    result = run(module_args(), FakeEKS([broken]), monkeypatch, capsys)
    assert result["failed"] is True
    assert "CREATE_FAILED" in result["msg"] and "no Spot capacity" in result["msg"]


def test_wait_timeout_reports_status_and_health(monkeypatch, capsys):
    stuck = described(status="CREATING", health={"issues": [{"code": "InsufficientFreeAddresses", "message": "subnet full"}]})
    client = FakeEKS([stuck])
    sleeps = []
    monkeypatch.setattr(botocore.waiter.time, "sleep", sleeps.append)
    # state present with a label change: the module first waits for CREATING to settle
    result = run(module_args(labels={"x": "y"}, wait_timeout=30), client, monkeypatch, capsys)
    assert result["failed"] is True
    assert "timed out after 30 seconds" in result["msg"]
    assert "nodegroup status is CREATING" in result["msg"] and "subnet full" in result["msg"]
    assert sleeps == [2, 4, 8, 15, 1]  # growing to the waiter's 15 s, never past the timeout
    assert client.calls == []


def test_short_timeout_is_not_overslept(monkeypatch, capsys):
    client = FakeEKS([described(status="UPDATING")])
    sleeps = []
    monkeypatch.setattr(botocore.waiter.time, "sleep", sleeps.append)
    result = run(module_args(labels={"x": "y"}, wait_timeout=4), client, monkeypatch, capsys)
    assert "timed out after 4 seconds" in result["msg"]
    assert sum(sleeps) == 4


def test_busy_nodegroup_is_settled_before_the_update(monkeypatch, capsys):
    client, polls = FakeEKS([described(status="UPDATING")]), []
    _settles_after_first_look(client, monkeypatch, polls)
    result = run(module_args(labels={"x": "y"}), client, monkeypatch, capsys)
    assert result["changed"] is True
    assert client.mutations() == ["update_nodegroup_config"]
    assert len(polls) >= 3  # get, waiter poll(s), get again


def test_yaml_boolean_taint_value_becomes_lowercase_string(monkeypatch, capsys):
    client = FakeEKS()
    run(module_args(taints=[{"key": "spot", "value": True, "effect": "NoSchedule"}]), client, monkeypatch, capsys)
    assert client.calls[0][1]["taints"] == [{"key": "spot", "value": "true", "effect": "NO_SCHEDULE"}]


def _settles_after_first_look(client, monkeypatch, polls):
    """The group is done (ACTIVE) after the first DescribeNodegroup; every look is recorded in ``polls``."""
    original = client.describe_nodegroup

    def describe(clusterName, nodegroupName, aws_retry=False):
        polls.append(nodegroupName)
        answer = original(clusterName, nodegroupName)
        client.nodegroups[nodegroupName]["status"] = "ACTIVE"
        return answer

    monkeypatch.setattr(client, "describe_nodegroup", describe)
    monkeypatch.setattr(botocore.waiter.time, "sleep", lambda s: None)


def test_wait_waits_for_a_group_an_earlier_run_left_creating(monkeypatch, capsys):
    """site.yml creates every node group with wait=false, then runs again with wait=true."""
    client, polls = FakeEKS([described(status="CREATING")]), []
    _settles_after_first_look(client, monkeypatch, polls)
    result = run(module_args(), client, monkeypatch, capsys)
    assert result["changed"] is False and client.mutations() == []
    assert result["nodegroup"]["status"] == "ACTIVE"
    assert len(polls) >= 3  # get, waiter poll(s), get again


def test_without_wait_a_creating_group_is_left_alone(monkeypatch, capsys):
    client, polls = FakeEKS([described(status="CREATING")]), []
    _settles_after_first_look(client, monkeypatch, polls)
    result = run(module_args(wait=False), client, monkeypatch, capsys)
    assert result["changed"] is False and result["nodegroup"]["status"] == "CREATING"
    assert len(polls) == 1
