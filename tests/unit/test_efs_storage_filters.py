"""The efs_storage role's filters: the NFS rules of the mount targets' security group and the mount targets."""

from __future__ import annotations

import importlib.util

import pytest

from tests.unit.test_module_docs import REPO

_spec = importlib.util.spec_from_file_location(
    "efs_storage_filters", REPO / "roles" / "efs_storage" / "filter_plugins" / "efs_storage.py")
f = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(f)


def test_ingress_rules_one_per_node_security_group():
    assert f.efs_storage_ingress_rules(["sg-1", "sg-2"], 2049, "NFS from the nodes of spotflow") == [
        {"proto": "tcp", "ports": [2049], "group_id": "sg-1", "rule_desc": "NFS from the nodes of spotflow"},
        {"proto": "tcp", "ports": [2049], "group_id": "sg-2", "rule_desc": "NFS from the nodes of spotflow"},
    ]
    assert f.efs_storage_ingress_rules([], 2049, "x") == []


def test_mount_targets_one_per_subnet_behind_the_security_group():
    assert f.efs_storage_mount_targets(["subnet-a", "subnet-b"], "sg-efs") == [
        {"subnet_id": "subnet-a", "security_groups": ["sg-efs"]},
        {"subnet_id": "subnet-b", "security_groups": ["sg-efs"]},
    ]
    assert f.efs_storage_mount_targets([], "sg-efs") == []


def test_a_single_string_is_not_taken_for_a_list_of_its_characters():
    with pytest.raises(TypeError, match="expected a list of security group ids, got the string 'sg-1'"):
        f.efs_storage_ingress_rules("sg-1", 2049, "x")
    with pytest.raises(TypeError, match="expected a list of subnet ids, got the string 'subnet-a'"):
        f.efs_storage_mount_targets("subnet-a", "sg-efs")


def test_the_filters_are_registered_under_the_role_name():
    assert set(f.FilterModule().filters()) == {"efs_storage_ingress_rules", "efs_storage_mount_targets",
                                               "efs_storage_mount_targets_ready"}


def test_mount_targets_ready_only_with_one_available_target_per_subnet_and_none_elsewhere():
    def fs(*targets):
        return [{"mount_targets": [{"subnet_id": s, "life_cycle_state": state} for s, state in targets]}]
    subnets = ["subnet-b", "subnet-a"]
    ready = f.efs_storage_mount_targets_ready
    assert ready(fs(("subnet-a", "available"), ("subnet-b", "available")), subnets)
    assert not ready(fs(("subnet-a", "available"), ("subnet-b", "creating")), subnets)
    assert not ready(fs(("subnet-a", "available")), subnets)
    assert not ready(fs(("subnet-a", "available"), ("subnet-b", "available"), ("subnet-c", "available")), subnets)
    assert not ready([], subnets)  # no file system (check mode, or not created yet)
    assert not ready(fs(("subnet-a", "available"), ("subnet-b", "available")) * 2, subnets)  # two of that name
