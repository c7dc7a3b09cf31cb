"""spotflow.eks.pod_placement_info's main() against a fake CoreV1Api (see conftest.py)."""

from __future__ import annotations

import pytest
from ansible_collections.spotflow.eks.plugins.modules import pod_placement_info

AUTH = {"host": "https://127.0.0.1:6443", "api_key": "k8s-aws-v1.secret-token", "ca_cert": "/nonexistent/ca.crt"}
POOLS = {"spot": ["eks.amazonaws.com/capacityType=SPOT"], "on_demand": ["eks.amazonaws.com/capacityType=ON_DEMAND"]}
EXPECT = [{"label_selectors": ["tier=core"], "pool": "on_demand"}, {"label_selectors": ["tier in (worker)"], "pool": "spot"}]
UNSCHEDULABLE = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                  "message": "0/3 nodes are available: 3 node(s) had taint {spotInstance: true}, that the pod didn't tolerate."}]


def node(name, capacity):
    return {"metadata": {"name": name, "labels": {
        "eks.amazonaws.com/capacityType": capacity,
        "eks.amazonaws.com/nodegroup": capacity.lower(),
        "node.kubernetes.io/instance-type": "m5.large",
        "topology.kubernetes.io/zone": "us-east-1a",
    }}}


def pod(name, tier, node_name=None, namespace="airflow", phase=None):
    status = {"phase": phase or ("Running" if node_name else "Pending")}
    if not node_name:
        status["conditions"] = UNSCHEDULABLE
    return {"metadata": {"name": name, "namespace": namespace, "labels": {"tier": tier}},
            "spec": {"nodeName": node_name} if node_name else {}, "status": status}


GOOD = [pod("core-0", "core", "od-1"), pod("worker-0", "worker", "spot-1"), pod("worker-1", "worker", "spot-2"),
        pod("done", "worker", "od-1", phase="Succeeded"), pod("other", "core", "spot-1", namespace="elsewhere")]


@pytest.fixture
def api(monkeypatch, fake_core_v1):
    fake = fake_core_v1(nodes=[node("spot-1", "SPOT"), node("spot-2", "SPOT"), node("od-1", "ON_DEMAND")], pods=GOOD)
    monkeypatch.setattr(pod_placement_info, "core_v1_api", lambda module: fake)
    return fake


@pytest.fixture
def no_sleep(monkeypatch):
    """Fake clock: sleeping advances it, nothing really waits."""
    now = [1000.0]
    sleeps = []

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(pod_placement_info.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(pod_placement_info.time, "sleep", sleep)
    return sleeps


def args(**kw):
    base = dict(AUTH, namespaces=["airflow"], pools=POOLS, expect=EXPECT)
    base.update(kw)
    return dict((k, v) for k, v in base.items() if v is not None)


@pytest.mark.parametrize("check_mode", [False, True])
def test_all_in_place(api, run, check_mode):
    result = run(pod_placement_info, args(), check_mode=check_mode)
    assert result.rc == 0, result
    assert result["changed"] is False
    assert result["violations"] == []
    assert [(p["name"], p["pool"], p["expected_pool"]) for p in result["pods"]] == [
        ("core-0", "on_demand", "on_demand"), ("worker-0", "spot", "spot"), ("worker-1", "spot", "spot")]
    worker = result["pods"][1]
    assert worker == dict(name="worker-0", namespace="airflow", phase="Running", node="spot-1", pool="spot",
                          expected_pool="spot", capacity_type="SPOT", instance_type="m5.large", zone="us-east-1a",
                          nodegroup="spot", labels={"tier": "worker"})
    assert result["pools"] == {
        "spot": {"nodes": ["spot-1", "spot-2"], "pods": 2, "pod_names": ["airflow/worker-0", "airflow/worker-1"]},
        "on_demand": {"nodes": ["od-1"], "pods": 1, "pod_names": ["airflow/core-0"]},
    }
    assert result["summary"]["pods"] == 3 and result["summary"]["violations"] == 0
    assert ("list_namespaced_pod", ("airflow",), {}) in api.calls


@pytest.mark.parametrize("check_mode", [False, True])
def test_wrong_pool_and_pending(api, run, check_mode):
    api.pods = [pod("core-0", "core", "spot-1"), pod("worker-0", "worker")]
    result = run(pod_placement_info, args(), check_mode=check_mode)
    assert result.rc == 0
    assert [(v["pod"], v["kind"]) for v in result["violations"]] == [("core-0", "wrong_pool"), ("worker-0", "pending")]
    pending = result["violations"][1]
    assert pending["reason"].startswith("Unschedulable: 0/3 nodes are available: 3 node(s) had taint")
    assert pending["expected_pool"] == "spot" and pending["node"] is None
    assert result["summary"]["violations_by_kind"] == {"pending": 1, "wrong_pool": 1, "unmatched_node": 0}


def test_fail_on_violations(api, run):
    api.pods = [pod("core-0", "core", "spot-1")]
    result = run(pod_placement_info, args(fail_on_violations=True))
    assert result.rc == 1
    assert result["msg"] == ("1 placement violation(s): airflow/core-0: wrong_pool (runs on node 'spot-1' in pool 'spot', "
                             "expected pool 'on_demand')")
    assert result["violations"][0]["kind"] == "wrong_pool"  # the data comes back with the failure


def test_fail_on_violations_without_violations(api, run):
    assert run(pod_placement_info, args(fail_on_violations=True)).rc == 0


def test_selectors_and_phases_are_passed(api, run):
    result = run(pod_placement_info, args(all_namespaces=True, namespaces=None, label_selectors=["tier"],
                                          field_selectors=["spec.nodeName=od-1"], phases=["Running", "Succeeded"]))
    assert result.rc == 0, result
    assert ("list_pod_for_all_namespaces", (), {"label_selector": "tier", "field_selector": "spec.nodeName=od-1"}) in api.calls
    assert [p["name"] for p in result["pods"]] == ["core-0", "done"]


def test_default_phases_leave_finished_pods_out(api, run):
    result = run(pod_placement_info, args(namespaces=["airflow", "elsewhere"]))
    names = [p["name"] for p in result["pods"]]
    assert "done" not in names and "other" in names
    assert [(v["pod"], v["kind"]) for v in result["violations"]] == [("other", "wrong_pool")]


def test_wait_until_scheduled(api, run, no_sleep):
    api.pods = [pod("worker-0", "worker")]
    api.pod_updates = [[pod("worker-0", "worker")], [pod("worker-0", "worker")], [pod("worker-0", "worker", "spot-1")]]
    result = run(pod_placement_info, args(wait=True, wait_sleep=3))
    assert result.rc == 0, result
    assert result["violations"] == []
    assert result["pods"][0]["node"] == "spot-1"
    assert no_sleep == [3, 3]


def test_wait_timeout_reports_reasons(api, run, no_sleep):
    api.pods = [pod("worker-0", "worker"), pod("core-0", "core", "od-1")]
    result = run(pod_placement_info, args(wait=True, wait_timeout=10, wait_sleep=2))
    assert result.rc == 1
    assert result["msg"].startswith("Timed out after 10s waiting for 1 pod(s) to be scheduled: airflow/worker-0 "
                                    "(Unschedulable: 0/3 nodes are available")
    assert result["violations"][0]["kind"] == "pending"
    assert sum(no_sleep) == 10


def test_no_wait_does_not_sleep(api, run, no_sleep):
    api.pods = [pod("worker-0", "worker")]
    result = run(pod_placement_info, args())
    assert result.rc == 0
    assert no_sleep == []
    assert result["violations"][0]["kind"] == "pending"


def test_single_selector_string_pool(api, run):
    result = run(pod_placement_info, args(pools={"spot": "eks.amazonaws.com/capacityType in (SPOT)"}, expect=[]))
    assert result.rc == 0, result
    assert result["pools"]["spot"]["nodes"] == ["spot-1", "spot-2"]


def test_api_error(api, run, api_exception):
    api.errors["list_namespaced_pod"] = api_exception(403, "Forbidden", 'pods is forbidden: User "x" cannot list resource "pods"')
    result = run(pod_placement_info, args())
    assert result.rc == 1
    assert result["msg"] == 'Failed to list pods: 403 Forbidden: pods is forbidden: User "x" cannot list resource "pods"'
    api.errors.clear()
    api.errors["list_node"] = api_exception(403, "Forbidden", "nodes is forbidden")
    result = run(pod_placement_info, args())
    assert result["msg"] == "Failed to list nodes: 403 Forbidden: nodes is forbidden"


@pytest.mark.parametrize(
    "bad, fragment",
    [
        (dict(namespaces=None), "one of namespaces or all_namespaces=true is required"),
        (dict(all_namespaces=True), "namespaces and all_namespaces=true are mutually exclusive"),
        (dict(pools={"spot": ["a b"]}), "pools.spot: invalid label selector 'a b'"),
        (dict(pools={"spot": []}), "pools.spot needs at least one label selector"),
        (dict(pools={"spot": [1]}), "pools.spot must be a list of label selector strings"),
        (dict(expect=[{"label_selectors": ["a"], "pool": "gpu"}]),
         "expect[0].pool 'gpu' is not a pool; pools are: spot, on_demand"),
        (dict(pools=None, expect=[{"label_selectors": ["a"], "pool": "gpu"}]), "pools are: (none, set pools)"),
        (dict(expect=[{"label_selectors": ["a in"], "pool": "spot"}]), "expect[0].label_selectors: invalid label selector"),
        (dict(expect=[{"pool": "spot"}]), "missing required arguments: label_selectors"),
        (dict(phases=["Done"]), "value of phases must be one or more of"),
        (dict(wait_sleep=0), "wait_sleep >= 1"),
    ],
)
def test_invalid_input(api, run, bad, fragment):
    result = run(pod_placement_info, args(**bad))
    assert result.rc == 1
    assert fragment in result["msg"]
    assert not any(c[0].startswith("list_") for c in api.calls)
