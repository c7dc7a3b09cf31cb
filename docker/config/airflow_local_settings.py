"""Spotflow cluster policy: a Spot reclaim costs a task nothing.

Airflow imports this module (``airflow_local_settings``) from
``$AIRFLOW_HOME/config``; the Spotflow image bakes it in at
``/opt/airflow/config/airflow_local_settings.py``.  ``task_policy`` runs for
every task whenever a DAG file is parsed (dag-processor, and workers), so the
values it sets are the ones serialized and used by the scheduler.

Rule
----
With KubernetesExecutor every task runs in a pod built from the worker pod
template, which Spotflow points at the Spot node group.  A Spot node can be
reclaimed with two minutes' notice. A try lost that way is retried without
counting against the task's retries (see "A Spot interruption does not use up
retries" below), so every task that will run on Spot gets only:

* ``retries`` >= ``SPOTFLOW_SPOT_MIN_RETRIES`` (env, default 0: the author's
  count stands unless a floor is asked for);
* exponential back-off: ``retry_exponential_backoff`` (in Airflow 3.3 a
  multiplier; ``True`` means 2.0) is set to ``SPOTFLOW_SPOT_BACKOFF_MULTIPLIER``
  (env, default 2.0) when the task has none;
* ``max_retry_delay`` = ``SPOTFLOW_SPOT_MAX_RETRY_DELAY`` seconds (env, default
  1800) when the task has none, so the back-off stays bounded.
  ``retry_delay`` is left as the author set it (Airflow's default is 300 s).

Tasks left alone
----------------
* Explicit opt-out: ``executor_config={"spotflow": {"spot_retries": False}}``
  on the task (or in the DAG's ``default_args`` for a whole DAG).
  KubernetesExecutor ignores keys other than ``pod_override`` and
  ``pod_template_file``, so the marker is harmless.
* Tasks pinned off Spot by their ``executor_config``: a ``pod_override`` (or a
  ``pod_template_file``) whose *required* node affinity or ``nodeSelector``
  only admits non-Spot nodes, e.g. ``lifecycle In [OnDemand]`` or
  ``lifecycle NotIn [Ec2Spot]``.  Pin a task with the **affinity** of its
  ``pod_override``: the KubernetesExecutor merges the override into the worker
  pod template field by field (cncf.kubernetes ``PodGenerator.reconcile_pods``:
  a field the override sets replaces the template's, lists of volumes, env and
  mounts are appended), so the override's ``affinity`` replaces the template's
  required Spot affinity.  A ``nodeSelector: {lifecycle: OnDemand}`` alone
  would be added *next to* that affinity: no node fits both, the pod stays
  Pending and the task never runs (it is still "off Spot" here, so the policy
  leaves it alone).  Capacity labels understood:
  ``lifecycle`` (``Ec2Spot``; Spotflow's node groups), the EKS managed node
  group label ``eks.amazonaws.com/capacityType`` (``SPOT``) and Karpenter's
  ``karpenter.sh/capacity-type`` (``spot``).  Another label can be declared
  with ``SPOTFLOW_SPOT_NODE_LABEL=key=value``.
* Tasks sent to another executor with ``executor="..."`` that is not a
  KubernetesExecutor.

A SIGTERM fails the running try at once
---------------------------------------
A Spot interruption drains the node: the worker pod is evicted and its task
gets SIGTERM.  Airflow 3.3's task runner only calls the operator's
``on_kill()`` then and lets the task run on until the kubelet kills it at the
end of the grace period, so the try ends as "killed externally" with nothing in
its log, and its retry waits for that.  Every KubernetesExecutor task
therefore gets an ``on_execute_callback`` that chains a SIGTERM handler to the
task runner's: after ``on_kill()`` the try fails with ``WorkerPodTerminated``
("Received SIGTERM ..."), which the task log shows, and the scheduler retries
it at once on another node (Airflow 2 behaved so).  This applies whatever the
node (a drained On-Demand node stops its pods the same way) and is not switched
off by the retries opt-out; ``SPOTFLOW_SPOT_POLICY=off`` disables it too.

A Spot interruption does not use up retries
-------------------------------------------
On that SIGTERM the task reads its own pod and node from the Kubernetes API
(``interruption_cause``): a Spot node cordoned or tainted for a reclaim, an
eviction/shutdown ``DisruptionTarget``, or a node gone, is a Spot
interruption; the try fails with ``SpotInterruption`` and the task's retry
policy (``SpotInterruptionRetryPolicy``) retries it even with no retries left.
In the API server a SQLAlchemy hook (``count_interruption``) gives the try back
(``max_tries`` + 1) up to ``SPOTFLOW_SPOT_INTERRUPTION_LIMIT`` per task
instance (or the task's ``executor_config={"spotflow":
{"spot_interruption_limit": n}}``), and past it fails the task instance. A
retry first waits until the pods of earlier tries are gone. docker/README.md
and docs/design.md say which paths are covered.

Set ``SPOTFLOW_SPOT_POLICY=off`` to disable the policy entirely (e.g. a
deployment without Spot workers).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import time
from datetime import timedelta
from typing import Any

log = logging.getLogger(__name__)

OPT_OUT_KEY = "spotflow"
OPT_OUT_FLAG = "spot_retries"

DEFAULT_MIN_RETRIES = 0
DEFAULT_BACKOFF_MULTIPLIER = 2.0
DEFAULT_MAX_RETRY_DELAY_S = 1800

# Node label key -> values that mean "this node is Spot capacity".
BUILTIN_SPOT_LABELS: dict[str, frozenset[str]] = {
    "lifecycle": frozenset({"Ec2Spot"}),
    "eks.amazonaws.com/capacityType": frozenset({"SPOT"}),
    "karpenter.sh/capacity-type": frozenset({"spot"}),
}


# --------------------------------------------------------------------------
# configuration from the environment (read on every call: cheap, testable)
# --------------------------------------------------------------------------
def _env_number(name: str, default: float, cast: type, minimum: float = 0) -> Any:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return cast(default)
    try:
        value = cast(raw)
    except ValueError:
        log.warning("spotflow policy: %s=%r is not a number; using %s", name, raw, default)
        return cast(default)
    if value < minimum:
        log.warning("spotflow policy: %s=%r is below %s; using %s", name, raw, minimum, default)
        return cast(default)
    return value


def min_retries() -> int:
    return _env_number("SPOTFLOW_SPOT_MIN_RETRIES", DEFAULT_MIN_RETRIES, int)


def backoff_multiplier() -> float:
    return _env_number("SPOTFLOW_SPOT_BACKOFF_MULTIPLIER", DEFAULT_BACKOFF_MULTIPLIER, float, minimum=1.0)


def max_retry_delay() -> timedelta:
    return timedelta(seconds=_env_number("SPOTFLOW_SPOT_MAX_RETRY_DELAY", DEFAULT_MAX_RETRY_DELAY_S, int, 1))


def spot_labels() -> dict[str, frozenset[str]]:
    labels = dict(BUILTIN_SPOT_LABELS)
    extra = os.environ.get("SPOTFLOW_SPOT_NODE_LABEL", "").strip()
    if extra:
        key, sep, value = extra.partition("=")
        if sep and key.strip() and value.strip():
            labels[key.strip()] = labels.get(key.strip(), frozenset()) | {value.strip()}
        else:
            log.warning("spotflow policy: SPOTFLOW_SPOT_NODE_LABEL=%r is not key=value; ignored", extra)
    return labels


def policy_enabled() -> bool:
    return os.environ.get("SPOTFLOW_SPOT_POLICY", "on").strip().lower() not in {"off", "false", "0", "no"}


# --------------------------------------------------------------------------
# reading pod specs: kubernetes.client models (snake_case attributes) or plain
# dicts from YAML (camelCase keys); the kubernetes package is not imported.
# --------------------------------------------------------------------------
def _get(obj: Any, snake: str, camel: str | None = None) -> Any:
    if obj is None:
        return None
    if isinstance(obj, dict):
        if snake in obj:
            return obj[snake]
        return obj.get(camel) if camel else None
    return getattr(obj, snake, None)


def _term_excludes_spot(term: Any, labels: dict[str, frozenset[str]]) -> bool:
    """True if no Spot node can satisfy this nodeSelectorTerm."""
    for expr in _get(term, "match_expressions", "matchExpressions") or []:
        key = _get(expr, "key")
        if key not in labels:
            continue
        spot_values = labels[key]
        operator = _get(expr, "operator")
        values = set(_get(expr, "values") or [])
        if operator == "In" and not (values & spot_values):
            return True
        if operator == "NotIn" and (values & spot_values):
            return True
        if operator == "DoesNotExist":
            return True
    return False


def pod_spec_avoids_spot(spec: Any, labels: dict[str, frozenset[str]] | None = None) -> bool:
    """True if a pod spec can only be scheduled on non-Spot nodes."""
    if spec is None:
        return False
    labels = labels or spot_labels()
    node_selector = _get(spec, "node_selector", "nodeSelector") or {}
    for key, spot_values in labels.items():
        if key in node_selector:
            return node_selector[key] not in spot_values
    affinity = _get(spec, "affinity")
    node_affinity = _get(affinity, "node_affinity", "nodeAffinity")
    required = _get(
        node_affinity,
        "required_during_scheduling_ignored_during_execution",
        "requiredDuringSchedulingIgnoredDuringExecution",
    )
    terms = _get(required, "node_selector_terms", "nodeSelectorTerms") or []
    # Terms are ORed: the pod avoids Spot only if every term excludes Spot.
    return bool(terms) and all(_term_excludes_spot(t, labels) for t in terms)


def _pod_template_spec(path: str) -> Any:
    try:
        import yaml

        with open(path) as f:
            doc = yaml.safe_load(f)
    except Exception as err:  # unreadable template: assume the default (Spot)
        log.warning("spotflow policy: cannot read pod_template_file %s (%s); assuming Spot", path, err)
        return None
    return doc.get("spec") if isinstance(doc, dict) else None


def _executor_config(task: Any) -> dict:
    cfg = getattr(task, "executor_config", None)
    return cfg if isinstance(cfg, dict) else {}


def opted_out(task: Any) -> bool:
    marker = _executor_config(task).get(OPT_OUT_KEY)
    return isinstance(marker, dict) and marker.get(OPT_OUT_FLAG) is False


def runs_on_spot(task: Any) -> bool:
    """Whether the task's worker pod may land on Spot capacity."""
    executor = getattr(task, "executor", None)
    if executor and "KubernetesExecutor" not in str(executor):
        return False
    cfg = _executor_config(task)
    labels = spot_labels()
    pod_override = cfg.get("pod_override")
    if pod_override is not None and pod_spec_avoids_spot(_get(pod_override, "spec"), labels):
        return False
    template = cfg.get("pod_template_file")
    if template and pod_spec_avoids_spot(_pod_template_spec(str(template)), labels):
        return False
    return True


# --------------------------------------------------------------------------
# a SIGTERM fails the running try
# --------------------------------------------------------------------------
SIGTERM_MESSAGE = (
    "Received SIGTERM: the worker pod is being stopped, and not for a Spot interruption (the pod was deleted, "
    "or a node that is not Spot capacity was drained). This try fails now and counts against the task's retries."
)


_EXCEPTIONS: dict[str, type] = {}  # made on first use: this module loads before Airflow's


def _exception_class(name: str) -> type:
    """``WorkerPodTerminated`` (an AirflowException, so the task runner logs it and retries the try) or its
    subclass ``SpotInterruption``."""
    if name not in _EXCEPTIONS:
        from airflow.sdk.exceptions import AirflowException

        base = AirflowException if name == "WorkerPodTerminated" else _exception_class("WorkerPodTerminated")
        _EXCEPTIONS[name] = type(name, (base,), {"__module__": __name__})
    return _EXCEPTIONS[name]


def _worker_pod_terminated(message: str) -> BaseException:
    return _exception_class("WorkerPodTerminated")(message)


def _spot_interruption(message: str) -> BaseException:
    return _exception_class("SpotInterruption")(message)


def is_spot_interruption(exception: BaseException) -> bool:
    return "SpotInterruption" in _EXCEPTIONS and isinstance(exception, _EXCEPTIONS["SpotInterruption"])


# --------------------------------------------------------------------------
# a Spot interruption does not use up the task's retries
# --------------------------------------------------------------------------
INTERRUPTION_REASON = "Spot interruption"  # how the retry reason of an interrupted try begins
LIMIT_FLAG = "spot_interruption_limit"  # executor_config={"spotflow": {LIMIT_FLAG: n}} overrides the env
DEFAULT_INTERRUPTION_LIMIT = 5
DEFAULT_INTERRUPTION_RETRY_DELAY_S = 15
DEFAULT_EARLIER_TRY_WAIT_S = 150  # > the longest grace period a worker pod gets (120 s)

# Node taints that mean "this node is going away": a cordon, the AWS Node Termination Handler's, Karpenter's
# and cluster-autoscaler's disruption taints, and a node that stopped answering or shuts down.
RECLAIM_TAINTS = frozenset({
    "node.kubernetes.io/unschedulable",
    "aws-node-termination-handler/spot-itn",
    "aws-node-termination-handler/rebalance-recommendation",
    "aws-node-termination-handler/asg-lifecycle-termination",
    "karpenter.sh/disrupted",
    "karpenter.sh/disruption",
    "ToBeDeletedByClusterAutoscaler",
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "node.kubernetes.io/out-of-service",
    "node.cloudprovider.kubernetes.io/shutdown",
})
# DisruptionTarget condition reasons (Kubernetes 1.26+) that mean the node, not the task, ended the pod;
# PreemptionByScheduler (a higher-priority pod) is not one.
DISRUPTION_REASONS = frozenset({
    "EvictionByEvictionAPI", "DeletionByTaintManager", "TerminationByKubelet", "DeletionByPodGC",
})


def interruption_limit(executor_config: Any = None) -> int:
    """Interruptions a task instance may have without counting: the task's
    ``executor_config={"spotflow": {"spot_interruption_limit": n}}``, else ``SPOTFLOW_SPOT_INTERRUPTION_LIMIT``."""
    marker = executor_config.get(OPT_OUT_KEY) if isinstance(executor_config, dict) else None
    value = marker.get(LIMIT_FLAG) if isinstance(marker, dict) else None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return _env_number("SPOTFLOW_SPOT_INTERRUPTION_LIMIT", DEFAULT_INTERRUPTION_LIMIT, int)


def interruption_retry_delay() -> timedelta:
    return timedelta(
        seconds=_env_number("SPOTFLOW_SPOT_INTERRUPTION_RETRY_DELAY", DEFAULT_INTERRUPTION_RETRY_DELAY_S, int)
    )


def interruption_cause(pod: dict | None, node: dict | None, labels: dict[str, frozenset[str]] | None = None) -> str | None:
    """Why the SIGTERM a worker pod got is a Spot interruption, or None when it is not (or cannot be told).

    ``pod`` and ``node`` as the Kubernetes API returns them (camelCase dicts); ``node`` None: the Node is
    gone. Interrupted: the pod's node has a Spot capacity label and is cordoned or carries a reclaim taint,
    or the pod has a ``DisruptionTarget`` condition (1.26+) for an eviction, a node shutdown or a lost node;
    or the node is gone and the pod could run on Spot. Not interrupted: a pod deleted on a healthy node, one
    preempted, anything on On-Demand capacity. A task that fails by itself or is killed for memory gets no
    SIGTERM and never comes here."""
    if not pod:
        return None
    labels = labels or spot_labels()
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    node_name = spec.get("nodeName") or "(unknown)"
    disruption = next((c for c in status.get("conditions") or []
                       if c.get("type") == "DisruptionTarget" and c.get("status") == "True"), None)
    if disruption is not None and disruption.get("reason") not in DISRUPTION_REASONS:
        return None
    if node is None:
        if pod_spec_avoids_spot(spec, labels):
            return None
        return f"its node {node_name} is gone (the instance was reclaimed)"
    node_labels = (node.get("metadata") or {}).get("labels") or {}
    capacity = next((f"{key}={node_labels[key]}" for key, values in labels.items()
                     if node_labels.get(key) in values), None)
    if capacity is None:
        return None
    node_spec = node.get("spec") or {}
    taints = [t.get("key") for t in node_spec.get("taints") or [] if t.get("key") in RECLAIM_TAINTS]
    if node_spec.get("unschedulable"):
        return f"its Spot node {node_name} ({capacity}) was cordoned for a reclaim"
    if taints:
        return f"its Spot node {node_name} ({capacity}) is tainted {taints[0]}"
    if disruption is not None:
        return f"the pod was taken off its Spot node {node_name} ({capacity}): {disruption.get('reason')}"
    return None


def interruption_message(cause: str, task: Any = None) -> str:
    limit = interruption_limit(getattr(task, "executor_config", None))
    return (f"{INTERRUPTION_REASON}: {cause} (the pod got SIGTERM). This try is retried and does not count against the task's retries "
            f"(up to {limit} interruptions per task instance; past that the task fails).")


def _kube() -> Any:
    """The in-cluster Kubernetes API (the worker's service account), or None outside a pod."""
    try:
        from kubernetes import client, config

        config.load_incluster_config()
        return client.CoreV1Api()
    except Exception:
        return None


def _kube_read(method: Any, *args: Any) -> dict | None:
    """An object as the API returns it (camelCase dict); None when it does not exist."""
    from kubernetes.client.exceptions import ApiException

    try:
        return json.loads(method(*args, _preload_content=False, _request_timeout=5).data)
    except ApiException as err:
        if err.status == 404:
            return None
        raise


def _own_pod(api: Any) -> tuple[str, dict | None]:
    with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace") as f:
        namespace = f.read().strip()
    return namespace, _kube_read(api.read_namespaced_pod, os.environ.get("HOSTNAME", ""), namespace)


def observed_interruption() -> str | None:
    """``interruption_cause`` of this worker pod, read from the Kubernetes API; None if it cannot be read
    (the try then counts, as it would without Spotflow)."""
    api = _kube()
    if api is None:
        return None
    try:
        _, pod = _own_pod(api)
        node_name = ((pod or {}).get("spec") or {}).get("nodeName")
        node = _kube_read(api.read_node, node_name) if node_name else None
    except Exception as err:
        log.warning("spotflow: cannot tell whether this SIGTERM is a Spot interruption (%s); the try counts", err)
        return None
    return interruption_cause(pod, node)


def wait_for_earlier_tries(ti: Any) -> None:
    """Block until no earlier try of this task instance still has a running pod (an interrupted pod can
    outlive its try by its grace period), at most ``SPOTFLOW_EARLIER_TRY_WAIT`` seconds: a task never
    runs twice at once."""
    api = _kube()
    if api is None:
        return
    deadline = time.monotonic() + _env_number("SPOTFLOW_EARLIER_TRY_WAIT", DEFAULT_EARLIER_TRY_WAIT_S, int)
    try:
        namespace, pod = _own_pod(api)
        own = (pod or {}).get("metadata") or {}
        keys = ("dag_id", "task_id", "run_id", "map_index")
        selector = ",".join(f"{k}={own['labels'][k]}" for k in keys if k in (own.get("labels") or {}))
        if not selector:
            return
        while True:
            pods = json.loads(api.list_namespaced_pod(namespace, label_selector=selector, _preload_content=False,
                                                      _request_timeout=5).data)
            running = [p["metadata"]["name"] for p in pods.get("items") or []
                       if p["metadata"]["name"] != own.get("name")
                       and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
            if not running:
                return
            if time.monotonic() > deadline:
                log.warning("spotflow: pod(s) %s of an earlier try still run; starting anyway", ", ".join(running))
                return
            log.info("spotflow: waiting for pod(s) %s of an earlier try to be gone", ", ".join(running))
            time.sleep(2)
    except Exception as err:
        log.warning("spotflow: cannot check for pods of earlier tries (%s)", err)


class SpotInterruptionRetryPolicy:
    """A task's retry policy in the worker (``fail_on_sigterm`` sets it; never serialized): a
    ``SpotInterruption`` is retried even when the task has no retries left (the API server then gives the
    try back, see ``count_interruption``), with ``SPOTFLOW_SPOT_INTERRUPTION_RETRY_DELAY`` seconds' delay;
    anything else is left to the task's own policy, or to Airflow's rules."""

    def __init__(self, wrapped: Any = None) -> None:
        self.wrapped = wrapped

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int, context: Any = None) -> Any:
        from airflow.sdk.definitions.retry_policy import RetryDecision

        if is_spot_interruption(exception):
            server = getattr((context or {}).get("ti"), "_ti_context_from_server", None)
            if server is not None:
                server.should_retry = True  # what the API server said at the start, for retries used up
            return RetryDecision.retry(delay=interruption_retry_delay(), reason=str(exception)[:500])
        if self.wrapped is not None:
            return self.wrapped.evaluate(exception=exception, try_number=try_number, max_tries=max_tries,
                                         context=context)
        return RetryDecision()


def count_interruption(session: Any, flush_context: Any = None, instances: Any = None) -> None:
    """SQLAlchemy ``before_flush`` hook (registered in every Airflow process; acts in the API server's
    execution API when a worker reports a try as up for retry with a ``Spot interruption`` reason):
    the try is archived to ``task_instance_history``; when the task instance has had at most its limit of
    interruptions (``interruption_limit``), ``max_tries`` grows by one, so the try does not count against
    ``retries``; past the limit the task instance fails. The archived try's ``retry_reason`` says which."""
    for tih in list(session.new):
        if type(tih).__name__ != "TaskInstanceHistory" or not (tih.retry_reason or "").startswith(INTERRUPTION_REASON):
            continue
        from sqlalchemy import func, select

        from airflow.models.taskinstance import TaskInstance
        from airflow.models.taskinstancehistory import TaskInstanceHistory

        key = {"dag_id": tih.dag_id, "run_id": tih.run_id, "task_id": tih.task_id, "map_index": tih.map_index}
        ti = next((o for o in session.identity_map.values()
                   if isinstance(o, TaskInstance) and all(getattr(o, k) == v for k, v in key.items())), None)
        if ti is None or ti.state not in ("up_for_retry", "running") or ti.try_number != tih.try_number:
            continue
        with session.no_autoflush:
            earlier = session.scalar(
                select(func.count()).select_from(TaskInstanceHistory).filter_by(**key)
                .where(TaskInstanceHistory.retry_reason.like(INTERRUPTION_REASON + "%"))
            )
        count, limit = (earlier or 0) + 1, interruption_limit(tih.executor_config)
        cause = tih.retry_reason.partition(": ")[2].partition(". This try")[0] or tih.retry_reason
        where = f"{tih.dag_id}.{tih.task_id} run {tih.run_id} map_index {tih.map_index} try {tih.try_number}"
        if count <= limit:
            ti.max_tries = (ti.max_tries or 0) + 1
            tih.retry_reason = (f"{INTERRUPTION_REASON} {count} of at most {limit}, not counted against retries: "
                                f"{cause}")[:500]
            log.warning("spotflow: %s: %s (max_tries now %s)", where, tih.retry_reason, ti.max_tries)
        else:
            # The execution API's own UPDATE sets the state it was sent (up_for_retry), possibly after this
            # flush: the failure is written at commit (fail_over_the_limit).
            session.info.setdefault(_FAIL_AT_COMMIT, []).append(ti)
            tih.retry_reason = (f"{INTERRUPTION_REASON} {count}, more than the limit of {limit} per task "
                                f"instance: the task fails: {cause}")[:500]
            log.warning("spotflow: %s: %s", where, tih.retry_reason)
        ti.retry_reason = tih.retry_reason


_FAIL_AT_COMMIT = "spotflow_fail_at_commit"


def fail_over_the_limit(session: Any) -> None:
    """SQLAlchemy ``before_commit`` hook: the task instances ``count_interruption`` found past their limit
    fail (after everything else the request wrote)."""
    tis = session.info.pop(_FAIL_AT_COMMIT, [])
    if not tis:
        return
    from sqlalchemy import update

    from airflow.models.taskinstance import TaskInstance

    session.flush()
    for ti in tis:
        session.execute(update(TaskInstance).where(TaskInstance.id == ti.id).values(state="failed"))


def _listen_for_interruptions() -> None:
    """Register ``count_interruption`` and ``fail_over_the_limit`` on every SQLAlchemy session (once)."""
    try:
        from sqlalchemy import event
        from sqlalchemy.orm import Session
    except ImportError:  # pragma: no cover - Airflow always has SQLAlchemy
        return
    for name, hook in (("before_flush", count_interruption), ("before_commit", fail_over_the_limit)):
        if not event.contains(Session, name, hook):
            event.listen(Session, name, hook)


def fail_on_sigterm(context: Any = None) -> None:
    """``on_execute_callback``: chain a SIGTERM handler to the task runner's (which calls ``on_kill()``), then
    fail the try with ``SpotInterruption`` when the pod's Spot node is being reclaimed, else with
    ``WorkerPodTerminated``. Runs in the task process's main thread right before ``execute``, after the
    task runner installed its own handler. Also gives the task the retry policy that retries an interrupted
    try without counting it, and waits until the pods of the task instance's earlier tries are gone."""
    ti = (context or {}).get("ti")
    task = getattr(ti, "task", None)
    if task is not None and not isinstance(getattr(task, "retry_policy", None), SpotInterruptionRetryPolicy):
        task.retry_policy = SpotInterruptionRetryPolicy(getattr(task, "retry_policy", None))
    if ti is not None and (getattr(ti, "try_number", 1) or 1) > 1:
        wait_for_earlier_tries(ti)
    previous = signal.getsignal(signal.SIGTERM)
    pid = os.getpid()

    def _on_sigterm(signum: int, frame: Any) -> None:
        if callable(previous):
            previous(signum, frame)
        if os.getpid() == pid:  # not in a process the task forked
            cause = observed_interruption()
            if cause:
                raise _spot_interruption(interruption_message(cause, task))
            raise _worker_pod_terminated(SIGTERM_MESSAGE)

    signal.signal(signal.SIGTERM, _on_sigterm)


def _add_fail_on_sigterm(task: Any) -> None:
    callbacks = task.on_execute_callback
    callbacks = list(callbacks) if isinstance(callbacks, (list, tuple)) else ([callbacks] if callbacks else [])
    if fail_on_sigterm not in callbacks:
        task.on_execute_callback = [*callbacks, fail_on_sigterm]


# --------------------------------------------------------------------------
# the policy
# --------------------------------------------------------------------------
def task_policy(task: Any) -> None:
    """Cluster policy hook: a SIGTERM fails the running try at once (every KubernetesExecutor task); tasks
    that run on Spot get retries with back-off."""
    if not policy_enabled():
        return
    executor = getattr(task, "executor", None)
    if not executor or "KubernetesExecutor" in str(executor):
        _add_fail_on_sigterm(task)
    if opted_out(task) or not runs_on_spot(task):
        return
    wanted = min_retries()
    if (task.retries or 0) < wanted:
        task.retries = wanted
    if not task.retry_exponential_backoff:
        task.retry_exponential_backoff = backoff_multiplier()
    if getattr(task, "max_retry_delay", None) is None:
        task.max_retry_delay = max_retry_delay()


if policy_enabled():
    _listen_for_interruptions()
