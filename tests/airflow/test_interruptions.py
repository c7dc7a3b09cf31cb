"""A Spot interruption does not use up a task's retries (docker/config/airflow_local_settings.py).

The runs go through Airflow's real task runner and execution API (``dag.test()``), so the worker side (the
retry policy ``fail_on_sigterm`` installs) and the API server side (``count_interruption`` on the
metadata DB) are both exercised; the interruption is raised where the SIGTERM handler would raise it."""

from __future__ import annotations

import os
import signal
import textwrap
from types import SimpleNamespace

import airflow  # noqa: F401  (puts $AIRFLOW_HOME/config on sys.path, as Airflow does)
import pytest

SPOT = {"metadata": {"name": "ip-10-42-0-7.ec2.internal", "labels": {"eks.amazonaws.com/capacityType": "SPOT"}},
        "spec": {}}
ON_DEMAND = {"metadata": {"name": "ip-10-42-0-5.ec2.internal", "labels": {"eks.amazonaws.com/capacityType": "ON_DEMAND"}},
             "spec": {"unschedulable": True}}


def _node(base=SPOT, **spec):
    return {"metadata": base["metadata"], "spec": {**base["spec"], **spec}}


def _pod(conditions=(), deleting=True, **spec):
    pod = {"metadata": {"name": "w-1"}, "spec": {"nodeName": "ip-10-42-0-7.ec2.internal", **spec},
           "status": {"phase": "Running", "conditions": list(conditions)}}
    if deleting:
        pod["metadata"]["deletionTimestamp"] = "2026-12-04T10:00:00Z"
    return pod


def _disruption(reason):
    return {"type": "DisruptionTarget", "status": "True", "reason": reason}


ON_DEMAND_ONLY = {"nodeSelector": {"eks.amazonaws.com/capacityType": "ON_DEMAND"}}


# --- recognition: each pod/node state --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("pod", "node", "expected"),
    [
        (_pod(), _node(unschedulable=True), "Spot node ip-10-42-0-7.ec2.internal (eks.amazonaws.com/capacityType=SPOT) was cordoned"),
        (_pod(), _node(taints=[{"key": "aws-node-termination-handler/spot-itn", "effect": "NoSchedule"}]),
         "is tainted aws-node-termination-handler/spot-itn"),
        (_pod(), _node(taints=[{"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}]), "is tainted node.kubernetes.io/unreachable"),
        (_pod([_disruption("EvictionByEvictionAPI")]), _node(), "taken off its Spot node"),
        (_pod([_disruption("TerminationByKubelet")], deleting=False), _node(), "TerminationByKubelet"),
        (_pod(), None, "node ip-10-42-0-7.ec2.internal is gone"),
        ({**_pod(), "spec": {"nodeName": "n", "nodeSelector": {"karpenter.sh/capacity-type": "spot"}}}, None, "node n is gone"),
        (_pod(), {"metadata": {"labels": {"karpenter.sh/capacity-type": "spot"}}, "spec": {"unschedulable": True}}, "karpenter.sh/capacity-type=spot"),
        (_pod(), {"metadata": {"labels": {"lifecycle": "Ec2Spot"}}, "spec": {"unschedulable": True}}, "lifecycle=Ec2Spot"),
    ],
    ids=["cordoned", "nth-taint", "unreachable", "evicted-1.26", "node-shutdown", "node-gone", "node-gone-karpenter",
         "karpenter-label", "spotflow-label"],
)
def test_an_interruption_is_recognised(policy, pod, node, expected):
    assert expected in (policy.interruption_cause(pod, node) or "")


@pytest.mark.parametrize(
    ("pod", "node"),
    [
        (_pod(), _node()),  # pod deleted (kubectl delete, the UI) on a healthy Spot node
        (_pod(deleting=False), _node()),  # SIGTERM without any sign of a reclaim
        (_pod(), ON_DEMAND),  # a drained On-Demand node: not Spot
        (_pod([_disruption("PreemptionByScheduler")]), _node(unschedulable=True)),  # preempted by a higher priority
        (_pod(**ON_DEMAND_ONLY), None),  # node gone, but the pod could only run On-Demand
        (None, _node(unschedulable=True)),  # own pod unreadable
    ],
    ids=["deleted-on-healthy-spot", "no-sign", "on-demand", "preempted", "gone-on-demand", "pod-unreadable"],
)
def test_other_sigterms_are_not_interruptions(policy, pod, node):
    assert policy.interruption_cause(pod, node) is None


class _Api:
    """CoreV1Api stand-in: read_namespaced_pod / read_node as ``_preload_content=False`` returns them."""

    def __init__(self, pod, node):
        self.pod, self.node = pod, node

    def _answer(self, obj):
        import json

        from kubernetes.client.exceptions import ApiException

        if obj is None:
            raise ApiException(status=404, reason="Not Found")
        return SimpleNamespace(data=json.dumps(obj).encode())

    def read_namespaced_pod(self, name, namespace, **_):
        assert (name, namespace) == ("w-1", "airflow")
        return self._answer(self.pod)

    def read_node(self, name, **_):
        assert name == "ip-10-42-0-7.ec2.internal"
        return self._answer(self.node)


@pytest.fixture
def in_pod(policy, monkeypatch, tmp_path):
    """Pretend to run in worker pod w-1 of namespace airflow, with the API answering ``set(pod, node)``."""
    monkeypatch.setenv("HOSTNAME", "w-1")
    real_open = open
    ns_file = tmp_path / "namespace"
    ns_file.write_text("airflow\n")

    def fake_open(path, *args, **kwargs):
        if path == "/var/run/secrets/kubernetes.io/serviceaccount/namespace":
            path = ns_file
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", fake_open)

    def _set(pod, node):
        monkeypatch.setattr(policy, "_kube", lambda: _Api(pod, node))

    return _set


def test_observed_interruption_reads_the_pod_and_its_node(policy, in_pod):
    in_pod(_pod(), _node(unschedulable=True))
    assert "was cordoned for a reclaim" in policy.observed_interruption()
    in_pod(_pod(), None)  # the Node is gone: 404
    assert "is gone" in policy.observed_interruption()
    in_pod(_pod(), _node())
    assert policy.observed_interruption() is None


def test_outside_a_pod_nothing_is_an_interruption(policy, monkeypatch):
    monkeypatch.setattr(policy, "_kube", lambda: None)
    assert policy.observed_interruption() is None


def test_the_sigterm_of_a_reclaim_fails_the_try_as_a_spot_interruption(policy, in_pod):
    in_pod(_pod(), _node(unschedulable=True))
    ran = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: ran.append("on_kill"))
    try:
        policy.fail_on_sigterm({})
        with pytest.raises(Exception, match="Spot interruption: its Spot node .* cordoned") as caught:
            os.kill(os.getpid(), signal.SIGTERM)
        assert type(caught.value).__name__ == "SpotInterruption" and ran == ["on_kill"]
        assert policy.is_spot_interruption(caught.value)
        assert "up to 5 interruptions per task instance" in str(caught.value)
    finally:
        signal.signal(signal.SIGTERM, before)


# --- the worker's retry policy ------------------------------------------------------------------------------
def test_retry_policy_forces_a_retry_for_an_interruption_only(policy, monkeypatch):
    from airflow.sdk.definitions.retry_policy import RetryAction, RetryDecision

    monkeypatch.setenv("SPOTFLOW_SPOT_INTERRUPTION_RETRY_DELAY", "7")
    server = SimpleNamespace(should_retry=False)
    context = {"ti": SimpleNamespace(_ti_context_from_server=server)}
    retry = policy.SpotInterruptionRetryPolicy()
    decision = retry.evaluate(policy._spot_interruption("Spot interruption: x"), 1, 0, context)
    assert (decision.action, decision.retry_delay.total_seconds(), decision.reason) == (RetryAction.RETRY, 7, "Spot interruption: x")
    assert server.should_retry is True  # retries=0: the API server had said no

    server.should_retry = False
    assert retry.evaluate(ValueError("bug"), 1, 0, context).action == RetryAction.DEFAULT
    assert retry.evaluate(policy._worker_pod_terminated("SIGTERM"), 1, 0, context).action == RetryAction.DEFAULT
    assert server.should_retry is False

    class Theirs:
        def evaluate(self, exception, try_number, max_tries, context=None):
            return RetryDecision.fail(reason="theirs")

    assert policy.SpotInterruptionRetryPolicy(Theirs()).evaluate(ValueError(), 1, 0, context).reason == "theirs"


# --- end to end through the task runner and the execution API ------------------------------------------------
CASES = '''
from datetime import timedelta
from airflow.sdk import DAG, task
import airflow_local_settings as spotflow


def interrupted():
    return spotflow._spot_interruption(spotflow.interruption_message("its Spot node n1 was cordoned for a reclaim"))


with DAG(dag_id="interruption_cases", schedule=None, default_args={"retry_delay": timedelta(0)}):
    @task(retries=0)
    def no_retries(ti=None):
        if ti.try_number == 1:
            raise interrupted()

    @task(retries=1)
    def one_retry(ti=None):
        if ti.try_number in (1, 2):
            raise interrupted()
        if ti.try_number == 3:
            raise ValueError("the task's own failure, after two interruptions")

    @task(retries=0)
    def fails_by_itself():
        raise ValueError("exit 1 on a Spot node")

    @task(retries=0)
    def deleted_pod():
        raise spotflow._worker_pod_terminated(spotflow.SIGTERM_MESSAGE)

    @task(retries=0, executor_config={"spotflow": {"spot_interruption_limit": 1}})
    def over_the_limit():
        raise interrupted()

    no_retries(); one_retry(); fails_by_itself(); deleted_pod(); over_the_limit()
'''


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """Run the interruption_cases DAG once; {task_id: (state, try_number, max_tries, [(try, reason), ...])}.

    ``dag.test()`` writes the state the task runner reported back to the DB after each try (a scheduler
    does not: it reads the DB); for a try past the limit that would undo the API server's ``failed``, so
    here a reported ``up_for_retry`` does not overwrite a ``failed``."""
    from airflow.models.taskinstance import TaskInstance

    set_state = TaskInstance.set_state

    def as_a_scheduler_sees_it(self, state, session=None):
        if state == "up_for_retry":
            from airflow.utils.session import create_session

            with create_session() as s:
                key = {k: getattr(self, k) for k in ("dag_id", "run_id", "task_id", "map_index")}
                if s.scalar(select(TaskInstance.state).filter_by(**key)) == "failed":
                    self.state = "failed"
                    return False
        return set_state(self, state) if session is None else set_state(self, state, session=session)

    from sqlalchemy import select

    mp = pytest.MonkeyPatch()
    mp.setattr(TaskInstance, "set_state", as_a_scheduler_sees_it)
    try:
        return _run_cases(tmp_path_factory)
    finally:
        mp.undo()


def _run_cases(tmp_path_factory):
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.models.taskinstancehistory import TaskInstanceHistory
    from airflow.utils.session import create_session

    folder = tmp_path_factory.mktemp("interruption_dags")
    (folder / "interruption_cases.py").write_text(textwrap.dedent(CASES))
    os.environ["SPOTFLOW_SPOT_INTERRUPTION_RETRY_DELAY"] = "0"
    try:
        bag = DagBag(dag_folder=str(folder))
        assert bag.import_errors == {}
        DagBundlesManager().sync_bundles_to_db()
        sync_bag_to_db(bag, "dags-folder", None)
        run = bag.get_dag("interruption_cases").test()
    finally:
        del os.environ["SPOTFLOW_SPOT_INTERRUPTION_RETRY_DELAY"]
    with create_session() as session:
        history = session.query(TaskInstanceHistory).filter_by(dag_id="interruption_cases", run_id=run.run_id).all()
        return {
            ti.task_id: (ti.state, ti.try_number, ti.max_tries,
                         sorted((h.try_number, h.retry_reason) for h in history if h.task_id == ti.task_id))
            for ti in run.get_task_instances(session=session)
        }


def test_retries_0_interrupted_while_running_succeeds_with_one_uncounted_interruption(cases):
    state, tries, max_tries, history = cases["no_retries"]
    assert (state, tries, max_tries) == ("success", 2, 1)
    assert history == [(1, "Spot interruption 1 of at most 5, not counted against retries: "
                           "its Spot node n1 was cordoned for a reclaim (the pod got SIGTERM)")]


def test_retries_1_interrupted_twice_still_has_its_retry(cases):
    state, tries, max_tries, history = cases["one_retry"]
    assert (state, tries, max_tries) == ("success", 4, 3)
    assert [(n, (reason or "").split(",")[0]) for n, reason in history] == [
        (1, "Spot interruption 1 of at most 5"), (2, "Spot interruption 2 of at most 5"),
        (3, ""),  # its own failure: its one retry, still there
    ]


def test_a_task_that_fails_by_itself_with_retries_0_fails_after_one_try(cases):
    assert cases["fails_by_itself"] == ("failed", 1, 0, [])


def test_a_pod_deleted_on_a_healthy_node_uses_a_try(cases):
    assert cases["deleted_pod"] == ("failed", 1, 0, [])


def test_more_interruptions_than_the_limit_fail_the_task_and_say_why(cases):
    state, tries, max_tries, history = cases["over_the_limit"]
    assert (state, tries, max_tries) == ("failed", 2, 1)
    assert history[0][1].startswith("Spot interruption 1 of at most 1, not counted")
    assert history[1][1].startswith("Spot interruption 2, more than the limit of 1 per task instance: the task fails")
