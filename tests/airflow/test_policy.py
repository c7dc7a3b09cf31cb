"""The Spotflow cluster policy (docker/config/airflow_local_settings.py)."""

from __future__ import annotations

import textwrap
from datetime import timedelta

import pytest
from kubernetes.client import models as k8s

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, task

from conftest import DOCKER_DIR

N = 3  # SPOTFLOW_SPOT_MIN_RETRIES in these tests (default 0: Spot interruptions no longer use retries)


@pytest.fixture(autouse=True)
def _min_retries(monkeypatch):
    monkeypatch.setenv("SPOTFLOW_SPOT_MIN_RETRIES", str(N))


def _dag():
    return DAG(dag_id="policy_test", schedule=None)


def _affinity(operator: str, values: list[str], key: str = "lifecycle") -> k8s.V1Affinity:
    return k8s.V1Affinity(
        node_affinity=k8s.V1NodeAffinity(
            required_during_scheduling_ignored_during_execution=k8s.V1NodeSelector(
                node_selector_terms=[
                    k8s.V1NodeSelectorTerm(
                        match_expressions=[k8s.V1NodeSelectorRequirement(key=key, operator=operator, values=values)]
                    )
                ]
            )
        )
    )


def _pod(**spec) -> dict:
    return {"pod_override": k8s.V1Pod(spec=k8s.V1PodSpec(containers=[], **spec))}


def _bash(policy, **kwargs):
    with _dag():
        op = BashOperator(task_id="t", bash_command="true", **kwargs)
    policy.task_policy(op)
    return op


# --- discovery -------------------------------------------------------------
def test_airflow_loads_our_local_settings(policy):
    from airflow import settings

    assert policy.__file__.endswith("config/airflow_local_settings.py")
    assert (DOCKER_DIR / "config" / "airflow_local_settings.py").read_text() == open(policy.__file__).read()
    with _dag():
        op = BashOperator(task_id="t", bash_command="true")
    settings.task_policy(op)  # Airflow's pluggy hook, which DagBag calls
    assert op.retries == N


# --- tasks that run on Spot ------------------------------------------------
def test_task_without_retries_gets_min_retries_and_backoff(policy):
    op = _bash(policy)
    assert op.retries == N
    assert op.retry_exponential_backoff == 2.0
    assert op.max_retry_delay == timedelta(seconds=1800)
    assert op.retry_delay == timedelta(seconds=300)  # untouched


def test_explicit_zero_retries_is_raised(policy):
    assert _bash(policy, retries=0).retries == N


def test_min_retries_from_env(policy, monkeypatch):
    monkeypatch.setenv("SPOTFLOW_SPOT_MIN_RETRIES", "5")
    monkeypatch.setenv("SPOTFLOW_SPOT_BACKOFF_MULTIPLIER", "3")
    monkeypatch.setenv("SPOTFLOW_SPOT_MAX_RETRY_DELAY", "600")
    op = _bash(policy)
    assert (op.retries, op.retry_exponential_backoff, op.max_retry_delay) == (5, 3.0, timedelta(minutes=10))


@pytest.mark.parametrize("bad", ["many", "-1", ""])
def test_bad_env_falls_back_to_default(policy, monkeypatch, bad):
    monkeypatch.setenv("SPOTFLOW_SPOT_MIN_RETRIES", bad)
    assert _bash(policy).retries == 0


def test_by_default_retries_are_the_authors(policy, monkeypatch):
    """A Spot interruption is retried without using a retry (test_interruptions.py), so the policy no
    longer raises retries unless SPOTFLOW_SPOT_MIN_RETRIES asks it to; back-off and its cap still apply."""
    monkeypatch.delenv("SPOTFLOW_SPOT_MIN_RETRIES")
    op = _bash(policy, retries=0)
    assert (op.retries, op.retry_exponential_backoff, op.max_retry_delay) == (0, 2.0, timedelta(seconds=1800))
    assert _bash(policy, retries=2).retries == 2


def test_more_retries_are_kept(policy):
    assert _bash(policy, retries=7).retries == 7


def test_author_backoff_and_cap_are_kept(policy):
    op = _bash(policy, retry_exponential_backoff=4.0, max_retry_delay=timedelta(minutes=3), retry_delay=10)
    assert (op.retries, op.retry_exponential_backoff, op.max_retry_delay) == (N, 4.0, timedelta(minutes=3))
    assert op.retry_delay == timedelta(seconds=10)


def test_task_pinned_to_spot_explicitly(policy):
    assert _bash(policy, executor_config=_pod(node_selector={"lifecycle": "Ec2Spot"})).retries == N


def test_preferred_affinity_does_not_pin(policy):
    affinity = k8s.V1Affinity(
        node_affinity=k8s.V1NodeAffinity(
            preferred_during_scheduling_ignored_during_execution=[
                k8s.V1PreferredSchedulingTerm(
                    weight=1,
                    preference=k8s.V1NodeSelectorTerm(
                        match_expressions=[
                            k8s.V1NodeSelectorRequirement(key="lifecycle", operator="In", values=["OnDemand"])
                        ]
                    ),
                )
            ]
        )
    )
    assert _bash(policy, executor_config=_pod(affinity=affinity)).retries == N


def test_unrelated_pod_override_still_spot(policy):
    cfg = _pod(node_selector={"kubernetes.io/arch": "amd64"}, affinity=_affinity("In", ["x"], key="team"))
    assert _bash(policy, executor_config=cfg).retries == N


def test_mapped_task(policy):
    with _dag():

        @task
        def work(x):
            return x

        mapped = work.expand(x=[1, 2])
    op = mapped.operator
    policy.task_policy(op)
    assert (op.retries, op.retry_exponential_backoff) == (N, 2.0)


# --- tasks left alone ------------------------------------------------------
def test_opt_out_keeps_zero(policy):
    op = _bash(policy, executor_config={"spotflow": {"spot_retries": False}})
    assert (op.retries, op.retry_exponential_backoff, op.max_retry_delay) == (0, 0, None)


def test_opt_out_via_default_args(policy):
    with DAG(
        dag_id="policy_test_optout",
        schedule=None,
        default_args={"executor_config": {"spotflow": {"spot_retries": False}}},
    ):
        op = BashOperator(task_id="t", bash_command="true")
    policy.task_policy(op)
    assert op.retries == 0


def test_truthy_marker_is_not_an_opt_out(policy):
    assert _bash(policy, executor_config={"spotflow": {"spot_retries": True}}).retries == N


@pytest.mark.parametrize(
    "executor_config",
    [
        _pod(node_selector={"lifecycle": "OnDemand"}),
        _pod(node_selector={"eks.amazonaws.com/capacityType": "ON_DEMAND"}),
        _pod(node_selector={"karpenter.sh/capacity-type": "on-demand"}),
        _pod(affinity=_affinity("In", ["OnDemand"])),
        _pod(affinity=_affinity("NotIn", ["Ec2Spot"])),
        _pod(affinity=_affinity("DoesNotExist", [])),
    ],
    ids=["selector", "eks-label", "karpenter-label", "affinity-in", "affinity-notin", "affinity-doesnotexist"],
)
def test_task_pinned_to_on_demand_is_left_alone(policy, executor_config):
    op = _bash(policy, executor_config=executor_config)
    assert (op.retries, op.retry_exponential_backoff, op.max_retry_delay) == (0, 0, None)


def test_pinned_task_with_plain_dict_spec(policy):
    cfg = {"pod_override": {"spec": {"nodeSelector": {"lifecycle": "OnDemand"}}}}
    assert _bash(policy, executor_config=cfg).retries == 0


def test_custom_spot_label(policy, monkeypatch):
    monkeypatch.setenv("SPOTFLOW_SPOT_NODE_LABEL", "node-pool=cheap")
    assert _bash(policy, executor_config=_pod(node_selector={"node-pool": "steady"})).retries == 0
    assert _bash(policy, executor_config=_pod(node_selector={"node-pool": "cheap"})).retries == N


def test_pod_template_file_pinned_to_on_demand(policy, tmp_path):
    template = tmp_path / "on-demand.yaml"
    template.write_text(
        textwrap.dedent(
            """\
            apiVersion: v1
            kind: Pod
            metadata: {name: worker}
            spec:
              nodeSelector: {lifecycle: OnDemand}
              containers: [{name: base, image: x}]
            """
        )
    )
    assert _bash(policy, executor_config={"pod_template_file": str(template)}).retries == 0
    assert _bash(policy, executor_config={"pod_template_file": str(tmp_path / "missing.yaml")}).retries == N


def test_other_executor_is_left_alone(policy):
    assert _bash(policy, executor="LocalExecutor").retries == 0
    assert _bash(policy, executor="KubernetesExecutor").retries == N


def test_policy_switch_off(policy, monkeypatch):
    monkeypatch.setenv("SPOTFLOW_SPOT_POLICY", "off")
    assert _bash(policy).retries == 0


# --- end to end: DagBag applies it and the scheduler sees it --------------
def test_dagbag_applies_policy_and_serialization_keeps_it(tmp_path):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    (tmp_path / "policy_probe.py").write_text(
        textwrap.dedent(
            """\
            from kubernetes.client import models as k8s
            from airflow.sdk import DAG
            from airflow.providers.standard.operators.bash import BashOperator

            with DAG(dag_id="policy_probe", schedule=None):
                BashOperator(task_id="plain", bash_command="true")
                BashOperator(task_id="generous", bash_command="true", retries=9)
                BashOperator(task_id="opted_out", bash_command="true",
                             executor_config={"spotflow": {"spot_retries": False}})
                BashOperator(task_id="on_demand", bash_command="true", executor_config={
                    "pod_override": k8s.V1Pod(spec=k8s.V1PodSpec(
                        containers=[], node_selector={"lifecycle": "OnDemand"}))})
            """
        )
    )
    bag = DagBag(dag_folder=str(tmp_path))
    assert bag.import_errors == {}
    dag = bag.get_dag("policy_probe")
    got = {t.task_id: (t.retries, float(t.retry_exponential_backoff)) for t in dag.tasks}
    assert got == {"plain": (N, 2.0), "generous": (9, 2.0), "opted_out": (0, 0.0), "on_demand": (0, 0.0)}
    serialized = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    seen = {t.task_id: (t.retries, float(t.retry_exponential_backoff)) for t in serialized.tasks}
    assert seen == got
    assert serialized.get_task("plain").max_retry_delay == timedelta(seconds=1800)


# --- a SIGTERM fails the running try -----------------------------------------
def test_every_kubernetes_task_fails_its_try_on_sigterm(policy):
    spot, pinned = _bash(policy), _bash(policy, executor_config=_pod(affinity=_affinity("In", ["OnDemand"])))
    opted = _bash(policy, executor_config={"spotflow": {"spot_retries": False}})
    for op in (spot, pinned, opted):
        assert op.on_execute_callback == [policy.fail_on_sigterm]
    policy.task_policy(spot)  # parsed again: not added twice
    assert spot.on_execute_callback == [policy.fail_on_sigterm]
    other = _bash(policy, executor="CeleryExecutor")
    assert not other.on_execute_callback


def test_an_authors_execute_callbacks_are_kept(policy):
    def mine(context):
        return None

    assert _bash(policy, on_execute_callback=mine).on_execute_callback == [mine, policy.fail_on_sigterm]
    assert _bash(policy, on_execute_callback=[mine]).on_execute_callback == [mine, policy.fail_on_sigterm]


def test_the_sigterm_handler_runs_the_task_runners_then_fails_the_try(policy):
    import os
    import signal

    from airflow.sdk.exceptions import AirflowException

    ran = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: ran.append("on_kill"))  # the task runner's
    try:
        policy.fail_on_sigterm({})
        with pytest.raises(AirflowException, match="Received SIGTERM") as caught:
            os.kill(os.getpid(), signal.SIGTERM)
        assert type(caught.value).__name__ == "WorkerPodTerminated" and ran == ["on_kill"]
    finally:
        signal.signal(signal.SIGTERM, before)


def test_mapped_task_gets_the_sigterm_callback(policy):
    with _dag():

        @task
        def work(x):
            return x

        mapped = work.expand(x=[1, 2])
    policy.task_policy(mapped.operator)
    assert mapped.operator.on_execute_callback == [policy.fail_on_sigterm]
