"""The eks_cluster role's network filters that tasks/network_vpc.yml uses to list and read back subnets and route tables.

(The CIDR, zone and subnet plan filters are tested in tests/integration/test_eks_cluster_validation.py.)"""

from __future__ import annotations

import importlib.util

import pytest

from tests.unit.test_module_docs import REPO

_spec = importlib.util.spec_from_file_location(
    "eks_cluster_network_filters", REPO / "roles" / "eks_cluster" / "filter_plugins" / "eks_cluster_network.py")
f = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(f)

AZS = ["us-east-1b", "us-east-1c"]
PLAN = {"private": ["10.42.0.0/18", "10.42.64.0/18"], "public": ["10.42.192.0/20", "10.42.208.0/20"], "errors": []}


def test_subnet_items_are_per_az_private_then_public():
    assert f.eks_cluster_subnet_items(AZS, PLAN) == [
        {"tier": "private", "az": "us-east-1b", "cidr": "10.42.0.0/18"},
        {"tier": "public", "az": "us-east-1b", "cidr": "10.42.192.0/20"},
        {"tier": "private", "az": "us-east-1c", "cidr": "10.42.64.0/18"},
        {"tier": "public", "az": "us-east-1c", "cidr": "10.42.208.0/20"},
    ]


def test_subnet_items_follow_the_real_plan():
    plan = f.eks_cluster_subnet_plan("10.42.0.0/16", 3)
    items = f.eks_cluster_subnet_items(["a", "b", "c"], plan)
    assert [i["cidr"] for i in items if i["tier"] == "private"] == plan["private"]
    assert [i["cidr"] for i in items if i["tier"] == "public"] == plan["public"]


def test_subnet_items_refuse_a_plan_that_does_not_match_the_zones():
    with pytest.raises(ValueError, match=r"1 public CIDR\(s\) for 2 Availability Zone\(s\) \(us-east-1b, us-east-1c\)"):
        f.eks_cluster_subnet_items(AZS, {"private": PLAN["private"], "public": PLAN["public"][:1]})
    with pytest.raises(ValueError, match=r"0 private CIDR\(s\) for 2"):
        f.eks_cluster_subnet_items(AZS, {"private": [], "public": PLAN["public"]})


def _result(tier, az, subnet):
    return {"item": {"tier": tier, "az": az, "cidr": "x"}, "subnet": subnet, "changed": False}


def test_subnet_ids_by_tier_and_az_in_az_order():
    results = [_result("private", "us-east-1c", {"id": "subnet-p2"}), _result("public", "us-east-1c", {"id": "subnet-u2"}),
               _result("private", "us-east-1b", {"id": "subnet-p1"}), _result("public", "us-east-1b", {"id": "subnet-u1"})]
    assert f.eks_cluster_subnet_ids(results, AZS) == {
        "ids": {"private/us-east-1c": "subnet-p2", "public/us-east-1c": "subnet-u2",
                "private/us-east-1b": "subnet-p1", "public/us-east-1b": "subnet-u1"},
        "private": ["subnet-p1", "subnet-p2"],
        "public": ["subnet-u1", "subnet-u2"],
    }


def test_subnet_ids_leave_out_subnets_without_an_id():
    """check mode: a new subnet has no id (no subnet, an empty one, or an empty id)"""
    results = [_result("private", "us-east-1b", {"id": "subnet-p1"}), _result("public", "us-east-1b", {"id": ""}),
               _result("private", "us-east-1c", {}), {"item": {"tier": "public", "az": "us-east-1c"}, "changed": True},
               _result("public", "us-east-1c", None)]
    assert f.eks_cluster_subnet_ids(results, AZS) == {"ids": {"private/us-east-1b": "subnet-p1"}, "private": ["subnet-p1"],
                                                      "public": []}
    assert f.eks_cluster_subnet_ids([], AZS) == {"ids": {}, "private": [], "public": []}


def test_route_table_ids_by_name():
    tables = [{"id": "rtb-1", "tags": {"Name": "spotflow-public", "spotflow:component": "eks_cluster"}},
              {"id": "rtb-2", "tags": {"spotflow:component": "eks_cluster"}},
              {"id": "rtb-3", "tags": None},
              {"id": "rtb-4"},
              {"id": "rtb-5", "tags": {"Name": "spotflow-private-us-east-1b"}}]
    assert f.eks_cluster_route_table_ids(tables) == {"spotflow-public": "rtb-1", "spotflow-private-us-east-1b": "rtb-5"}
    assert f.eks_cluster_route_table_ids([]) == {}


def test_route_table_ids_keep_the_last_of_a_name():
    """as items2dict did"""
    tables = [{"id": "rtb-1", "tags": {"Name": "n"}}, {"id": "rtb-2", "tags": {"Name": "n"}}]
    assert f.eks_cluster_route_table_ids(tables) == {"n": "rtb-2"}


def test_the_filters_are_registered():
    assert {"eks_cluster_subnet_items", "eks_cluster_subnet_ids", "eks_cluster_route_table_ids",
            "eks_cluster_subnet_plan", "eks_cluster_cidr_errors", "eks_cluster_zone_plan"} == set(f.FilterModule().filters())
