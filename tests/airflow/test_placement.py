"""Where KubernetesExecutor worker pods can run: the airflow_app role's rendered
worker pod template merged with a task's ``pod_override`` by the provider's own
code (cncf.kubernetes ``PodGenerator.construct_pod``, which folds the template,
the executor's dynamic pod and the override with ``reconcile_pods``), then
matched against the nodes Spotflow's node groups make, with Kubernetes'
scheduling rules for nodeSelector, required node affinity and taints.

The template is rendered by Ansible from the role (conftest.render_role_template).
"""

from __future__ import annotations

import pytest
from kubernetes.client import ApiClient
from kubernetes.client import models as k8s

from airflow.providers.cncf.kubernetes.pod_generator import PodGenerator


# The nodes of eks_cluster's on-demand group and of spot_nodegroup's Spot groups
# (labels from EKS and the roles, taints from spot_nodegroup's defaults).
ON_DEMAND_NODE = {
    "labels": {"lifecycle": "OnDemand", "eks.amazonaws.com/capacityType": "ON_DEMAND",
               "eks.amazonaws.com/nodegroup": "ng-on-demand", "kubernetes.io/os": "linux"},
    "taints": [],
}
SPOT_NODE = {
    "labels": {"lifecycle": "Ec2Spot", "eks.amazonaws.com/capacityType": "SPOT",
               "eks.amazonaws.com/nodegroup": "ng-spot-4vcpu-16gb", "kubernetes.io/os": "linux"},
    "taints": [{"key": "spotInstance", "value": "true", "effect": "PreferNoSchedule"}],
}
# The same Spot node tainted so that only tolerating pods may land there.
SPOT_NODE_NO_SCHEDULE = dict(SPOT_NODE, taints=[{"key": "spotInstance", "value": "true", "effect": "NoSchedule"}])
NODES = {"on-demand": ON_DEMAND_NODE, "spot": SPOT_NODE}


@pytest.fixture(scope="session")
def rendered_template(render_role_template):
    """Path of the role's worker pod template rendered with the given extra vars."""
    return lambda **extra_vars: render_role_template("pod_template.yaml.j2", **extra_vars)


def worker_pod(template: Path, pod_override: k8s.V1Pod | None) -> dict:
    """The pod the KubernetesExecutor would create for a task, as the API would receive it (camelCase)."""
    pod = PodGenerator.construct_pod(
        dag_id="d", task_id="t", pod_id="d-t-abc", try_number=1, kube_image="example.com/airflow:test",
        date=None, args=["airflow", "tasks", "run"], pod_override_object=pod_override,
        base_worker_pod=PodGenerator.deserialize_model_file(str(template)), namespace="airflow",
        scheduler_job_id="1", run_id="r")
    return ApiClient().sanitize_for_serialization(pod)


# --- Kubernetes' feasibility rules (kube-scheduler NodeAffinity and TaintToleration filters)
def _expression_matches(expr: dict, labels: dict) -> bool:
    key, op, values = expr["key"], expr["operator"], expr.get("values") or []
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt"):
        return key in labels and (int(labels[key]) > int(values[0]) if op == "Gt" else int(labels[key]) < int(values[0]))
    raise AssertionError(f"unknown operator {op}")


def _tolerated(taint: dict, tolerations: list[dict]) -> bool:
    for t in tolerations:
        if t.get("effect") and t["effect"] != taint["effect"]:
            continue
        if t.get("operator", "Equal") == "Exists":
            if not t.get("key") or t["key"] == taint["key"]:
                return True
        elif t.get("key") == taint["key"] and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def fits(pod: dict, node: dict) -> bool:
    spec = pod["spec"]
    labels = node["labels"]
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return False
    required = (((spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is not None:
        terms = required.get("nodeSelectorTerms") or []
        if not any(all(_expression_matches(e, labels) for e in term.get("matchExpressions") or [])
                   and term.get("matchExpressions") for term in terms):
            return False
    hard = [t for t in node["taints"] if t["effect"] in ("NoSchedule", "NoExecute")]
    return all(_tolerated(t, spec.get("tolerations") or []) for t in hard)


def where(pod: dict) -> set[str]:
    return {name for name, node in NODES.items() if fits(pod, node)}


# --- the tests
def test_the_feasibility_rules():
    assert fits({"spec": {}}, SPOT_NODE) and not fits({"spec": {}}, SPOT_NODE_NO_SCHEDULE)
    tol = [{"key": "spotInstance", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]
    assert fits({"spec": {"tolerations": tol}}, SPOT_NODE_NO_SCHEDULE)
    assert fits({"spec": {"tolerations": [{"operator": "Exists"}]}}, SPOT_NODE_NO_SCHEDULE)
    assert not fits({"spec": {"nodeSelector": {"lifecycle": "OnDemand"}}}, SPOT_NODE)
    not_spot = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "lifecycle", "operator": "NotIn", "values": ["Ec2Spot"]}]}]}}}
    assert where({"spec": {"affinity": not_spot}}) == {"on-demand"}


def test_a_plain_task_runs_on_spot_only(rendered_template):
    assert where(worker_pod(rendered_template(), None)) == {"spot"}
    # also where the Spot taint is NoSchedule: the template tolerates it
    pod = worker_pod(rendered_template(airflow_app_worker_tolerations=[
        {"key": "spotInstance", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]), None)
    assert fits(pod, SPOT_NODE_NO_SCHEDULE)


def test_a_plain_task_prefers_spot_with_preferred_affinity(rendered_template):
    assert where(worker_pod(rendered_template(airflow_app_worker_spot_affinity="preferred"), None)) == {"spot", "on-demand"}


@pytest.mark.parametrize("affinity_mode", ["required", "preferred"])
def test_publish_runs_on_on_demand_only(dagbag, rendered_template, affinity_mode):
    """spot_checkpointed_batch.publish: merged with the template, it fits the on-demand nodes and no Spot node."""
    publish = dagbag.get_dag("spot_checkpointed_batch").get_task("publish")
    template = rendered_template(airflow_app_worker_spot_affinity=affinity_mode)
    pod = worker_pod(template, publish.executor_config["pod_override"])
    assert where(pod) == {"on-demand"}, pod["spec"].get("affinity")
    assert not fits(pod, SPOT_NODE_NO_SCHEDULE)
    # the rest of the template survives the merge: container, tolerations, volumes, security context
    base = pod["spec"]["containers"][0]
    assert base["name"] == "base" and base["args"] == ["airflow", "tasks", "run"]
    assert {m["name"] for m in base["volumeMounts"]} >= {"config", "logs"}
    assert pod["spec"]["tolerations"] == [
        {"key": "spotInstance", "operator": "Equal", "value": "true", "effect": "PreferNoSchedule"}]
    assert pod["spec"]["securityContext"]["runAsUser"] == 50000
    assert pod["metadata"]["annotations"]["cluster-autoscaler.kubernetes.io/safe-to-evict"] == "false"
    assert pod["spec"]["terminationGracePeriodSeconds"] == 100


def test_workers_keep_the_spot_grace_period(rendered_template):
    """A Spot reclaim gives ~120 s: the worker pod gets 100 s (not Kubernetes' 30) between SIGTERM and SIGKILL."""
    assert worker_pod(rendered_template(), None)["spec"]["terminationGracePeriodSeconds"] == 100
    pod = worker_pod(rendered_template(airflow_app_worker_termination_grace_period=110), None)
    assert pod["spec"]["terminationGracePeriodSeconds"] == 110


def test_publish_is_left_alone_by_the_policy(dagbag):
    publish = dagbag.get_dag("spot_checkpointed_batch").get_task("publish")
    assert publish.retries == 2  # the author's count, not the policy's minimum


def test_a_node_selector_override_cannot_be_placed_with_the_required_template(rendered_template):
    """Why publish uses an affinity: the template's required Spot affinity survives a nodeSelector override."""
    override = k8s.V1Pod(spec=k8s.V1PodSpec(containers=[], node_selector={"lifecycle": "OnDemand"}))
    pod = worker_pod(rendered_template(), override)
    assert pod["spec"]["nodeSelector"] == {"lifecycle": "OnDemand"}
    assert pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert where(pod) == set()


# --- the worker image's pre-puller (prepull.yml.j2)
@pytest.mark.parametrize("affinity_mode", ["required", "preferred"])
def test_the_image_pre_puller_runs_on_spot_nodes_only(render_role_template, affinity_mode):
    """A DaemonSet lands on every node its pod fits: only the Spot ones, even when workers may fall back."""
    import yaml

    taint = [{"key": "spotInstance", "operator": "Equal", "value": "true", "effect": "NoSchedule"}]
    docs = list(yaml.safe_load_all(render_role_template(
        "prepull.yml.j2", airflow_app_image="registry.example/airflow:3.3.2-abc", airflow_app_worker_tolerations=taint,
        airflow_app_worker_spot_affinity=affinity_mode).read_text()))
    assert [(d["kind"], d["metadata"]["name"]) for d in docs if d] == [("DaemonSet", "airflow-worker-image")]
    pod = docs[-1]["spec"]["template"]
    assert where(pod) == {"spot"} and fits(pod, SPOT_NODE_NO_SCHEDULE)
    # a Spot node of another kind (Karpenter's label only) is Spot too
    assert fits(pod, {"labels": {"karpenter.sh/capacity-type": "spot"}, "taints": []})
    spec = pod["spec"]
    assert [c["image"] for c in spec["containers"]] == ["registry.example/airflow:3.3.2-abc"]
    assert spec["automountServiceAccountToken"] is False and spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"]


def test_no_image_pre_puller_when_disabled(render_role_template):
    import yaml

    text = render_role_template("prepull.yml.j2", airflow_app_worker_image_prepull=False).read_text()
    assert [d for d in yaml.safe_load_all(text) if d] == []
