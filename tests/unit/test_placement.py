"""Label selectors and pod placement of spotflow.eks.pod_placement_info (module_utils/placement.py)."""

from __future__ import annotations

import pytest
from ansible_collections.spotflow.eks.plugins.module_utils.placement import (
    Requirement,
    SelectorError,
    classify,
    expected_pool,
    format_violation,
    matches,
    node_pool,
    parse_selector,
    parse_selectors,
    pending_reason,
)

SPOT_LABELS = {
    "eks.amazonaws.com/capacityType": "SPOT",
    "eks.amazonaws.com/nodegroup": "workers-spot",
    "node.kubernetes.io/instance-type": "m5.large",
    "topology.kubernetes.io/zone": "us-east-1a",
    "lifecycle": "Ec2Spot",
}
OD_LABELS = {
    "eks.amazonaws.com/capacityType": "ON_DEMAND",
    "eks.amazonaws.com/nodegroup": "core",
    "node.kubernetes.io/instance-type": "m5.xlarge",
    "topology.kubernetes.io/zone": "us-east-1b",
    "lifecycle": "OnDemand",
}


# ------------------------------------------------------------------ parsing

@pytest.mark.parametrize(
    "text, expected",
    [
        ("", []),
        ("lifecycle=Ec2Spot", [Requirement("lifecycle", "=", ["Ec2Spot"])]),
        ("lifecycle==Ec2Spot", [Requirement("lifecycle", "=", ["Ec2Spot"])]),
        (" lifecycle = Ec2Spot ", [Requirement("lifecycle", "=", ["Ec2Spot"])]),
        ("lifecycle!=Ec2Spot", [Requirement("lifecycle", "!=", ["Ec2Spot"])]),
        ("eks.amazonaws.com/capacityType in (SPOT)", [Requirement("eks.amazonaws.com/capacityType", "in", ["SPOT"])]),
        ("tier in (b, a,b)", [Requirement("tier", "in", ["a", "b"])]),
        ("tier notin (a)", [Requirement("tier", "notin", ["a"])]),
        ("foo", [Requirement("foo", "exists")]),
        ("!foo", [Requirement("foo", "!exists")]),
        ("! example.com/foo", [Requirement("example.com/foo", "!exists")]),
        ("a=", [Requirement("a", "=", [""])]),
        ("gpu>1", [Requirement("gpu", "gt", ["1"])]),
        ("gpu<4", [Requirement("gpu", "lt", ["4"])]),
        (
            "a=b,c!=d,e in (f),!g,h",
            [
                Requirement("a", "=", ["b"]),
                Requirement("c", "!=", ["d"]),
                Requirement("e", "in", ["f"]),
                Requirement("g", "!exists"),
                Requirement("h", "exists"),
            ],
        ),
    ],
)
def test_parse(text, expected):
    assert parse_selector(text) == expected


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("a=b=c", "expected ','"),
        ("a b", "expected an operator"),
        ("a in b", "expected '('"),
        ("a in (b", "missing ')'"),
        ("a in (b c)", "expected ',' or ')'"),
        ("a,", "trailing ','"),
        ("=b", "expected a label key"),
        ("!", "label key after '!'"),
        ("a>b", "needs an integer"),
        ("-a=b", "invalid label key"),
        ("a/b/c=d", "prefix must be a DNS subdomain"),
        ("Example.com/a=b", "prefix must be a DNS subdomain"),
        ("a=b c", "expected ','"),
        ("a=-b", "invalid label value"),
        ("k=" + "x" * 64, "invalid label value"),
        ("k" * 64, "invalid label key"),
    ],
)
def test_parse_errors(text, fragment):
    with pytest.raises(SelectorError) as err:
        parse_selector(text)
    assert fragment in str(err.value)
    assert isinstance(err.value, ValueError)


def test_parse_rejects_non_strings():
    with pytest.raises(SelectorError):
        parse_selector(["a=b"])


def test_parse_selectors_ands_the_list():
    assert parse_selectors(["a=b", "c"]) == [Requirement("a", "=", ["b"]), Requirement("c", "exists")]
    assert parse_selectors(None) == []


# ------------------------------------------------------------------ matching

@pytest.mark.parametrize(
    "selector, labels, expected",
    [
        ("lifecycle=Ec2Spot", SPOT_LABELS, True),
        ("lifecycle=Ec2Spot", OD_LABELS, False),
        ("lifecycle=Ec2Spot", {}, False),
        ("lifecycle!=Ec2Spot", OD_LABELS, True),
        ("lifecycle!=Ec2Spot", SPOT_LABELS, False),
        ("lifecycle!=Ec2Spot", {}, True),  # != matches a missing label, as in Kubernetes
        ("eks.amazonaws.com/capacityType in (SPOT)", SPOT_LABELS, True),
        ("eks.amazonaws.com/capacityType in (SPOT, ON_DEMAND)", OD_LABELS, True),
        ("eks.amazonaws.com/capacityType in (SPOT)", {}, False),
        ("eks.amazonaws.com/capacityType notin (SPOT)", OD_LABELS, True),
        ("eks.amazonaws.com/capacityType notin (SPOT)", SPOT_LABELS, False),
        ("eks.amazonaws.com/capacityType notin (SPOT)", {}, True),
        ("lifecycle", SPOT_LABELS, True),
        ("lifecycle", {}, False),
        ("!lifecycle", {}, True),
        ("!lifecycle", SPOT_LABELS, False),
        ("a=", {"a": ""}, True),
        ("a=", {"a": "x"}, False),
        ("gpu>1", {"gpu": "2"}, True),
        ("gpu>1", {"gpu": "1"}, False),
        ("gpu>1", {"gpu": "many"}, False),
        ("gpu<2", {}, False),
        ("gpu<2", {"gpu": "1"}, True),
        ("lifecycle=Ec2Spot,eks.amazonaws.com/capacityType=SPOT", SPOT_LABELS, True),
        ("lifecycle=Ec2Spot,eks.amazonaws.com/capacityType=ON_DEMAND", SPOT_LABELS, False),
        ("", {}, True),
    ],
)
def test_matches(selector, labels, expected):
    assert matches(parse_selector(selector), labels) is expected


def test_matches_none_labels():
    assert matches(parse_selector("!a"), None)
    assert not matches(parse_selector("a"), None)


POOLS = [
    ("spot", parse_selectors(["eks.amazonaws.com/capacityType=SPOT"])),
    ("on_demand", parse_selectors(["eks.amazonaws.com/capacityType=ON_DEMAND"])),
]


def test_node_pool_first_match_wins():
    assert node_pool(SPOT_LABELS, POOLS) == "spot"
    assert node_pool(OD_LABELS, POOLS) == "on_demand"
    assert node_pool({}, POOLS) is None
    overlapping = [("any", parse_selectors(["lifecycle"]))] + POOLS
    assert node_pool(SPOT_LABELS, overlapping) == "any"


def test_expected_pool_first_rule_wins():
    rules = [(parse_selectors(["component in (scheduler, webserver)"]), "on_demand"), (parse_selectors(["app=airflow"]), "spot")]
    assert expected_pool({"app": "airflow", "component": "scheduler"}, rules) == "on_demand"
    assert expected_pool({"app": "airflow", "component": "worker"}, rules) == "spot"
    assert expected_pool({"app": "other"}, rules) is None


# ------------------------------------------------------------------ classification

def node(name, labels):
    return {"metadata": {"name": name, "labels": labels}}


def pod(name, labels, node_name=None, namespace="airflow", phase=None, conditions=None):
    status = {"phase": phase or ("Running" if node_name else "Pending")}
    if conditions is not None:
        status["conditions"] = conditions
    spec = {"nodeName": node_name} if node_name else {}
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": spec, "status": status}


NODES = [node("spot-1", SPOT_LABELS), node("spot-2", SPOT_LABELS), node("od-1", OD_LABELS), node("plain", {"x": "y"})]
RULES = [(parse_selectors(["tier=core"]), "on_demand"), (parse_selectors(["tier=worker"]), "spot")]
UNSCHEDULABLE = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                  "message": "0/4 nodes are available: 4 node(s) didn't match node selector."}]


def test_classify_all_good():
    pods = [pod("worker-b", {"tier": "worker"}, "spot-2"), pod("core", {"tier": "core"}, "od-1"),
            pod("worker-a", {"tier": "worker"}, "spot-1"), pod("free", {}, "plain")]
    out = classify(pods, NODES, POOLS, RULES)
    assert out["violations"] == []
    assert [p["name"] for p in out["pods"]] == ["core", "free", "worker-a", "worker-b"]
    core = out["pods"][0]
    assert core == dict(name="core", namespace="airflow", phase="Running", node="od-1", pool="on_demand",
                        expected_pool="on_demand", capacity_type="ON_DEMAND", instance_type="m5.xlarge",
                        zone="us-east-1b", nodegroup="core", labels={"tier": "core"})
    free = out["pods"][1]
    assert free["pool"] is None and free["expected_pool"] is None and free["capacity_type"] is None
    assert out["pools"] == {
        "spot": {"nodes": ["spot-1", "spot-2"], "pods": 2, "pod_names": ["airflow/worker-a", "airflow/worker-b"]},
        "on_demand": {"nodes": ["od-1"], "pods": 1, "pod_names": ["airflow/core"]},
    }
    assert out["summary"] == dict(pods=4, scheduled=4, pending=0, unpooled=1, by_pool={"spot": 2, "on_demand": 1},
                                  violations=0, violations_by_kind={"pending": 0, "wrong_pool": 0, "unmatched_node": 0})


def test_classify_wrong_pool():
    out = classify([pod("core", {"tier": "core"}, "spot-1")], NODES, POOLS, RULES)
    assert out["violations"] == [dict(
        kind="wrong_pool", pod="core", namespace="airflow", expected_pool="on_demand", actual_pool="spot",
        node="spot-1", reason="runs on node 'spot-1' in pool 'spot', expected pool 'on_demand'")]
    assert out["summary"]["violations_by_kind"]["wrong_pool"] == 1
    assert format_violation(out["violations"][0]).startswith("airflow/core: wrong_pool (runs on node 'spot-1'")


def test_classify_pending_with_scheduler_reason():
    out = classify([pod("stuck", {"tier": "worker"}, conditions=UNSCHEDULABLE)], NODES, POOLS, RULES)
    (violation,) = out["violations"]
    assert violation["kind"] == "pending"
    assert violation["node"] is None and violation["actual_pool"] is None
    assert violation["expected_pool"] == "spot"
    assert violation["reason"] == "Unschedulable: 0/4 nodes are available: 4 node(s) didn't match node selector."
    assert out["summary"]["pending"] == 1 and out["summary"]["scheduled"] == 0
    assert out["pods"][0]["node"] is None and out["pods"][0]["pool"] is None


def test_pending_without_rule_is_a_violation_too():
    out = classify([pod("stuck", {}, conditions=[])], NODES, POOLS, RULES)
    assert out["violations"][0]["kind"] == "pending"
    assert out["violations"][0]["expected_pool"] is None
    assert "not scheduled yet" in out["violations"][0]["reason"]


def test_classify_unmatched_node_only_for_expected_pods():
    pods = [pod("w", {"tier": "worker"}, "plain"), pod("free", {}, "plain"), pod("ghost", {"tier": "core"}, "gone")]
    out = classify(pods, NODES, POOLS, RULES)
    kinds = dict((v["pod"], v) for v in out["violations"])
    assert set(kinds) == {"w", "ghost"}
    assert kinds["w"]["kind"] == "unmatched_node" and "in no pool" in kinds["w"]["reason"]
    assert kinds["ghost"]["kind"] == "unmatched_node" and "does not exist" in kinds["ghost"]["reason"]
    assert out["summary"]["unpooled"] == 3


def test_classify_no_pools_no_rules():
    out = classify([pod("a", {}, "spot-1")], NODES, [], [])
    assert out["pools"] == {}
    assert out["violations"] == []
    assert out["pods"][0]["capacity_type"] == "SPOT"


def test_violations_sorted_by_namespace_and_name():
    pods = [pod("b", {}, namespace="z"), pod("a", {}, namespace="z"), pod("c", {}, namespace="a")]
    out = classify(pods, NODES, POOLS, RULES)
    assert [(v["namespace"], v["pod"]) for v in out["violations"]] == [("a", "c"), ("z", "a"), ("z", "b")]


def test_pending_reason_variants():
    def with_condition(**condition):
        return {"status": {"conditions": [dict(type="PodScheduled", **condition)]}}

    assert pending_reason(with_condition(status="False", reason="Unschedulable")) == "Unschedulable"
    assert pending_reason(with_condition(status="True")).startswith("not scheduled yet")
    assert pending_reason({}).startswith("not scheduled yet")
