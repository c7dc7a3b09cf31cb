"""Spot-ready pattern: long work as short, idempotent, checkpointed tasks.

A Spot node can be reclaimed with two minutes' notice, killing whatever task
runs on it.  This DAG shows how to write work that survives that cheaply:

* **Split** the long job into many short chunks (dynamic task mapping), so an
  interruption loses at most one chunk's work.
* **Checkpoint** every finished chunk to durable storage: a JSON file under
  ``SPOTFLOW_CHECKPOINT_DIR`` (env), else the Airflow Variable
  ``spotflow_checkpoint_dir``, else ``$AIRFLOW_HOME/logs/spotflow-checkpoints``
  (on Spotflow the logs folder is the shared EFS volume, so every worker pod,
  on any node, sees the same files).  Files are written atomically (temp file
  + ``os.replace``), so a kill mid-write never leaves a torn checkpoint.
* **Idempotent** chunks: a chunk's result is a pure function of its input
  range; a retry finds the checkpoint and returns it, or recomputes the same
  value.  Re-running the whole DAG run gives the same result.
* **Retries with exponential back-off**, a cap on the delay, and an
  ``execution_timeout`` so a hung task is killed and retried rather than held.
  (These retries are for the task's own failures: a try lost to a Spot
  reclaim is retried by the Spotflow cluster policy without using one.)
* The final ``publish`` step is pinned to the on-demand node group with a
  ``pod_override`` whose *required node affinity* is ``lifecycle In
  [OnDemand]``: use that for steps that cannot be split or made idempotent.
  The cluster policy leaves such tasks alone, so their retries are the
  author's choice.  It must be the affinity, not a ``nodeSelector``: the
  KubernetesExecutor merges the override into the worker pod template field
  by field (``PodGenerator.reconcile_pods``), so an ``affinity`` in the
  override replaces the template's Spot affinity, while a ``nodeSelector``
  would be added next to it and no node would match both.

Runs offline: the "work" is arithmetic and hashing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from kubernetes.client import models as k8s

from airflow.sdk import dag, task

log = logging.getLogger(__name__)

DAG_ID = "spot_checkpointed_batch"
CHECKPOINT_VARIABLE = "spotflow_checkpoint_dir"
SCHEMA = 1

SPOT_SAFE_DEFAULTS: dict[str, Any] = {
    "retries": 4,
    "retry_delay": timedelta(seconds=30),
    # Airflow 3.3: a multiplier (30 s, 60 s, 120 s, ...); True also means 2.0.
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(minutes=10),
}

# Replaces the worker pod template's affinity (lifecycle In [Ec2Spot]) as a whole;
# the template's Spot tolerations stay and do no harm on an untainted node.
ON_DEMAND_POD = k8s.V1Pod(
    spec=k8s.V1PodSpec(
        containers=[],
        affinity=k8s.V1Affinity(
            node_affinity=k8s.V1NodeAffinity(
                required_during_scheduling_ignored_during_execution=k8s.V1NodeSelector(
                    node_selector_terms=[
                        k8s.V1NodeSelectorTerm(
                            match_expressions=[
                                k8s.V1NodeSelectorRequirement(key="lifecycle", operator="In", values=["OnDemand"])
                            ]
                        )
                    ]
                )
            )
        ),
    )
)


# ----------------------------------------------------------------------------
# plain helpers (importable and unit-tested without a scheduler)
# ----------------------------------------------------------------------------
def checkpoint_root() -> Path:
    """Durable, shared location for checkpoints (resolved at run time, not parse time)."""
    configured = os.environ.get("SPOTFLOW_CHECKPOINT_DIR")
    if not configured:
        try:
            from airflow.sdk import Variable

            configured = Variable.get(CHECKPOINT_VARIABLE, default=None)
        except Exception:  # no Airflow context (unit tests, scripts)
            configured = None
    if not configured:
        configured = os.path.join(os.environ.get("AIRFLOW_HOME", "/opt/airflow"), "logs", "spotflow-checkpoints")
    return Path(configured)


def run_dir(root: Path, dag_id: str, run_id: str) -> Path:
    """One folder per DAG run; the run_id is made filesystem-safe."""
    return root / dag_id / re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)


def plan_chunks(total_items: int, chunk_size: int) -> list[dict[str, int]]:
    if total_items < 0 or chunk_size <= 0:
        raise ValueError("total_items must be >= 0 and chunk_size > 0")
    return [
        {"index": i, "start": start, "stop": min(start + chunk_size, total_items)}
        for i, start in enumerate(range(0, total_items, chunk_size))
    ]


def compute_chunk(start: int, stop: int) -> dict[str, Any]:
    """The 'work': deterministic in (start, stop), so retries give the same answer."""
    digest = hashlib.sha256()
    total = 0
    for n in range(start, stop):
        total += n * n
        digest.update(n.to_bytes(8, "big"))
    return {"start": start, "stop": stop, "sum_of_squares": total, "sha256": digest.hexdigest()}


def atomic_write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_checkpoint(path: Path, chunk: dict[str, int]) -> dict[str, Any] | None:
    """A checkpoint counts only if it is complete and for the same input range."""
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    if data.get("schema") != SCHEMA or data.get("start") != chunk["start"] or data.get("stop") != chunk["stop"]:
        return None
    return data


def process_chunk_at(directory: Path, chunk: dict[str, int]) -> dict[str, Any]:
    """Return the chunk's result, from its checkpoint if present, else compute and checkpoint it."""
    path = directory / f"chunk-{chunk['index']:05d}.json"
    cached = read_checkpoint(path, chunk)
    if cached is not None:
        log.info("chunk %s: checkpoint %s found, skipping the work", chunk["index"], path)
        return cached
    result = {"schema": SCHEMA, "index": chunk["index"], **compute_chunk(chunk["start"], chunk["stop"])}
    atomic_write_json(path, result)
    log.info("chunk %s: computed and checkpointed to %s", chunk["index"], path)
    return result


def combine_results(results: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(results, key=lambda r: r["index"])
    digest = hashlib.sha256("".join(r["sha256"] for r in ordered).encode())
    return {
        "schema": SCHEMA,
        "chunks": len(ordered),
        "items": sum(r["stop"] - r["start"] for r in ordered),
        "sum_of_squares": sum(r["sum_of_squares"] for r in ordered),
        "sha256": digest.hexdigest(),
    }


# ----------------------------------------------------------------------------
# the DAG
# ----------------------------------------------------------------------------
@dag(
    dag_id=DAG_ID,
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=SPOT_SAFE_DEFAULTS,
    params={"total_items": 60_000, "chunk_size": 10_000},
    tags=["spotflow", "example", "spot-ready"],
    doc_md=__doc__,
)
def spot_checkpointed_batch():
    @task
    def plan(**context) -> list[dict[str, int]]:
        params = context["params"]
        return plan_chunks(int(params["total_items"]), int(params["chunk_size"]))

    @task(max_active_tis_per_dagrun=4)
    def process_chunk(chunk: dict[str, int], **context) -> dict[str, Any]:
        directory = run_dir(checkpoint_root(), context["dag"].dag_id, context["run_id"])
        return process_chunk_at(directory, chunk)

    @task
    def combine(results: list[dict[str, Any]], **context) -> dict[str, Any]:
        summary = combine_results(list(results))
        directory = run_dir(checkpoint_root(), context["dag"].dag_id, context["run_id"])
        atomic_write_json(directory / "summary.json", summary)  # same input, same file
        return summary

    @task(executor_config={"pod_override": ON_DEMAND_POD}, retries=2)
    def publish(summary: dict[str, Any], **context) -> str:
        # Runs on on-demand capacity.  Idempotent too: the marker is keyed by
        # the run and rewritten with identical content on a retry.
        directory = run_dir(checkpoint_root(), context["dag"].dag_id, context["run_id"])
        atomic_write_json(directory / "published.json", {"schema": SCHEMA, "sha256": summary["sha256"]})
        log.info("published %s items, sum of squares %s", summary["items"], summary["sum_of_squares"])
        return summary["sha256"]

    publish(combine(process_chunk.expand(chunk=plan())))


spot_checkpointed_batch()
