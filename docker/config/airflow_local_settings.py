"""Spotflow cluster policy: every task that runs on EC2 Spot retries.

Airflow imports this module (``airflow_local_settings``) from
``$AIRFLOW_HOME/config``; the Spotflow image bakes it in at
``/opt/airflow/config/airflow_local_settings.py``.  ``task_policy`` runs for
every task whenever a DAG file is parsed (dag-processor, and workers), so the
values it sets are the ones serialized and used by the scheduler.

Rule
----
With KubernetesExecutor every task runs in a pod built from the worker pod
template, which Spotflow points at the Spot node group.  A Spot node can be
reclaimed with two minutes' notice; the task then fails ("killed externally").
So every task that will run on Spot gets:

* ``retries`` >= ``SPOTFLOW_SPOT_MIN_RETRIES`` (env, default 3); a task that
  already has more keeps its count;
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

Set ``SPOTFLOW_SPOT_POLICY=off`` to disable the policy entirely (e.g. a
deployment without Spot workers).
"""

from __future__ import annotations

import logging
import os
import signal
from datetime import timedelta
from typing import Any

log = logging.getLogger(__name__)

OPT_OUT_KEY = "spotflow"
OPT_OUT_FLAG = "spot_retries"

DEFAULT_MIN_RETRIES = 3
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
    "Received SIGTERM: the worker pod is being stopped (its node is drained for a Spot interruption, or the "
    "pod was deleted). This try fails now so that it is retried on another node."
)


def _worker_pod_terminated(message: str) -> BaseException:
    """``WorkerPodTerminated(message)``: an AirflowException, so the task runner logs it and retries the try."""
    from airflow.sdk.exceptions import AirflowException

    global WorkerPodTerminated
    if WorkerPodTerminated is None:
        WorkerPodTerminated = type("WorkerPodTerminated", (AirflowException,), {"__module__": __name__})
    return WorkerPodTerminated(message)


WorkerPodTerminated: Any = None  # the exception class, made on first use (this module loads before Airflow's)


def fail_on_sigterm(context: Any = None) -> None:
    """``on_execute_callback``: chain a SIGTERM handler to the task runner's (which calls ``on_kill()``), then
    fail the try with ``WorkerPodTerminated``. Runs in the task process's main thread right before
    ``execute``, after the task runner installed its own handler."""
    previous = signal.getsignal(signal.SIGTERM)
    pid = os.getpid()

    def _on_sigterm(signum: int, frame: Any) -> None:
        if callable(previous):
            previous(signum, frame)
        if os.getpid() == pid:  # not in a process the task forked
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
