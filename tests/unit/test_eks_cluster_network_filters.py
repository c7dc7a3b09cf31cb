"""The eks_cluster role's network filters that tasks/network_vpc.yml and network_routes.yml use to list, compare
and read back subnets and route tables.

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
            "eks_cluster_subnet_plan", "eks_cluster_cidr_errors", "eks_cluster_zone_plan",
            "eks_cluster_subnet_state", "eks_cluster_route_table_in_sync",
            "eks_cluster_one_in_sync"} == set(f.FilterModule().filters())


TAGS = {"project": "spotflow", "spotflow:cluster": "spotflow"}


def _found_subnet(cidr, az, public, **extra):
    tier = "public" if public else "private"
    tags = dict(TAGS, **{"Name": "spotflow-{0}-{1}".format(tier, az), "spotflow:subnet-tier": tier,
                         "kubernetes.io/cluster/spotflow": "shared",
                         "kubernetes.io/role/elb" if public else "kubernetes.io/role/internal-elb": "1"})
    subnet = {"id": "subnet-" + cidr.split("/")[0], "cidr_block": cidr, "availability_zone": az, "state": "available",
              "map_public_ip_on_launch": public, "tags": tags}
    subnet.update(extra)
    return subnet


def test_subnet_state_in_sync_for_a_converged_vpc_with_ids_and_tags():
    items = f.eks_cluster_subnet_items(AZS, PLAN)
    found = [_found_subnet(i["cidr"], i["az"], i["tier"] == "public") for i in items]
    state = f.eks_cluster_subnet_state(items, found, TAGS, "spotflow")
    assert [s["in_sync"] for s in state] == [True] * 4
    assert state[1]["item"] == {"tier": "public", "az": "us-east-1b", "cidr": "10.42.192.0/20", "map_public": True,
                                "tags": found[1]["tags"]}
    assert state[0]["item"]["tags"]["kubernetes.io/role/internal-elb"] == "1"
    assert f.eks_cluster_subnet_ids(state, AZS)["private"] == ["subnet-10.42.0.0", "subnet-10.42.64.0"]


@pytest.mark.parametrize("drift", [
    {"tags": dict(TAGS, Name="spotflow-private-us-east-1b")},            # a tag lost: purge_tags would add it back
    {"map_public_ip_on_launch": True},                                   # a private subnet handing out public IPs
    {"availability_zone": "us-east-1c"},                                 # same CIDR, another zone
    {"state": "pending"},                                                # not available yet: the task waits
])
def test_subnet_state_converges_a_drifted_subnet(drift):
    items = f.eks_cluster_subnet_items(AZS, PLAN)
    found = [_found_subnet(i["cidr"], i["az"], i["tier"] == "public") for i in items]
    found[0].update(drift)
    assert [s["in_sync"] for s in f.eks_cluster_subnet_state(items, found, TAGS, "spotflow")] == [False, True, True, True]


def test_subnet_state_converges_missing_subnets_without_ids():
    items = f.eks_cluster_subnet_items(AZS, PLAN)
    state = f.eks_cluster_subnet_state(items, [], TAGS, "spotflow")
    assert [s["in_sync"] for s in state] == [False] * 4
    assert [s["subnet"]["id"] for s in state] == [""] * 4


def _table(name, tags, subnets, routes, main=False):
    return {"id": "rtb-" + name, "tags": dict(tags, Name=name),
            "associations": [{"subnet_id": s, "main": False, "association_state": {"state": "associated"}} for s in subnets]
            + ([{"main": True, "subnet_id": None}] if main else []),
            "routes": [{"destination_cidr_block": "10.42.0.0/16", "gateway_id": "local", "state": "active",
                        "origin": "CreateRouteTable"}] + routes}


ROUTE = {"destination_cidr_block": "0.0.0.0/0", "gateway_id": None, "nat_gateway_id": "nat-1", "state": "active",
         "origin": "CreateRoute"}
WANT = [{"dest": "0.0.0.0/0", "nat_gateway_id": "nat-1"}]


def test_route_table_in_sync_ignores_the_local_route_and_the_main_association():
    tags = dict(TAGS, Name="p")
    tables = [_table("p", TAGS, ["subnet-1"], [ROUTE], main=True)]
    assert f.eks_cluster_route_table_in_sync(tables, "p", tags, ["subnet-1"], WANT)
    public = [_table("pub", TAGS, ["s1", "s2"], [{"destination_cidr_block": "0.0.0.0/0", "gateway_id": "igw-1",
                                                   "state": "active"}])]
    assert f.eks_cluster_route_table_in_sync(public, "pub", dict(TAGS, Name="pub"), ["s2", "s1"],
                                             [{"dest": "0.0.0.0/0", "gateway_id": "igw-1"}])


@pytest.mark.parametrize("tables, subnets, routes", [
    ([], ["subnet-1"], WANT),                                                              # no table of that name
    ([_table("p", dict(TAGS, extra="x"), ["subnet-1"], [ROUTE])], ["subnet-1"], WANT),      # a tag to purge
    ([_table("p", TAGS, ["subnet-1", "subnet-9"], [ROUTE])], ["subnet-1"], WANT),            # an association to purge
    ([_table("p", TAGS, [], [ROUTE])], ["subnet-1"], WANT),                                  # an association missing
    ([_table("p", TAGS, ["subnet-1"], [])], ["subnet-1"], WANT),                              # the route missing
    ([_table("p", TAGS, ["subnet-1"], [dict(ROUTE, nat_gateway_id="nat-old")])], ["subnet-1"], WANT),  # another NAT
    ([_table("p", TAGS, ["subnet-1"], [dict(ROUTE, state="blackhole")])], ["subnet-1"], WANT),          # NAT gone
    ([_table("p", TAGS, ["subnet-1"], [ROUTE, dict(ROUTE, destination_cidr_block="10.9.0.0/16")])],
     ["subnet-1"], WANT),                                                                  # a route to purge
])
def test_route_table_out_of_sync(tables, subnets, routes):
    assert not f.eks_cluster_route_table_in_sync(tables, "p", dict(TAGS, Name="p"), subnets, routes)


NAMED = dict(TAGS, Name="spotflow")
VPC = {"id": "vpc-1", "cidr_block": "10.42.0.0/16", "tags": NAMED, "enable_dns_support": True, "enable_dns_hostnames": True}
IGW = {"id": "igw-1", "tags": NAMED, "attachments": [{"state": "available", "vpc_id": "vpc-1"}]}
DNS = dict(enable_dns_support=True, enable_dns_hostnames=True)


def test_one_in_sync_for_the_planned_vpc_and_an_attached_gateway():
    assert f.eks_cluster_one_in_sync([VPC], NAMED, **DNS)
    assert f.eks_cluster_one_in_sync([IGW], NAMED)
    assert f.eks_cluster_one_in_sync([dict(IGW, attachments=[{"state": "attached", "vpc_id": "vpc-1"}])], NAMED)


@pytest.mark.parametrize("found", [
    [],                                                     # none yet: ec2_vpc_net creates it
    [VPC, dict(VPC, id="vpc-2")],                           # two of that name and CIDR: ec2_vpc_net refuses them
    [dict(VPC, tags=TAGS)],                                 # the Name tag lost
    [dict(VPC, tags=dict(NAMED, extra="x"))],               # a tag to purge
    [dict(VPC, enable_dns_hostnames=False)],                # DNS host names off
    [dict(VPC, enable_dns_support=None)],                   # an attribute not read
])
def test_one_in_sync_converges_a_vpc_unlike_the_plan(found):
    assert not f.eks_cluster_one_in_sync(found, NAMED, **DNS)


@pytest.mark.parametrize("igw", [
    dict(IGW, attachments=[]),                                          # detached
    dict(IGW, attachments=[{"state": "detaching", "vpc_id": "vpc-1"}]),  # on its way out
    dict(IGW, tags=dict(NAMED, Name="other")),                          # renamed
])
def test_one_in_sync_converges_a_gateway_unlike_the_plan(igw):
    assert not f.eks_cluster_one_in_sync([igw], NAMED)
