"""What a Spot interruption costs a task under Spotflow: nothing, up to a limit.

The end-to-end test triggers this DAG and interrupts chosen tries the way a Spot
reclaim does (the node is cordoned, the pod evicted: SIGTERM), then checks each
task's tries through the Airflow API.  Trigger it yourself, and drain a node
under a holding task, to watch the same.

Each task looks up its try number in the run's conf:

* ``hold``: ``{task_id: [try, ...]}`` - those tries print ``spotflow-cases:
  holding`` and keep running (up to ``seconds``) until they are interrupted;
* ``fail``: ``{task_id: [try, ...]}`` - those tries fail by themselves (exit 1);
* any other try succeeds at once.

Tasks: ``retries_0`` (no retries), ``retries_1`` (one retry), ``exits_1`` (no
retries) and ``limited`` (no retries, at most one uncounted interruption:
``executor_config={"spotflow": {"spot_interruption_limit": 1}}``).
"""

from __future__ import annotations

import datetime
import os
import sys
import time

import pendulum

from airflow.sdk import DAG, get_current_context, task

TASKS = {
    "retries_0": {"retries": 0},
    "retries_1": {"retries": 1},
    "exits_1": {"retries": 0},
    "limited": {"retries": 0, "executor_config": {"spotflow": {"spot_interruption_limit": 1}}},
}


def behave(task_id: str, try_number: int, conf: dict, seconds: float) -> dict:
    """Hold, fail or succeed, as ``conf`` says for this try."""
    where = {"node": os.environ.get("SPOTFLOW_NODE_NAME", ""), "try": try_number}
    if try_number in (conf.get("fail") or {}).get(task_id, []):
        print(f"spotflow-cases: {task_id} try {try_number} fails by itself", flush=True)
        sys.exit(1)
    if try_number in (conf.get("hold") or {}).get(task_id, []):
        print(f"spotflow-cases: {task_id} try {try_number} holding on node {where['node']}", flush=True)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(1)
    return where


with DAG(
    dag_id="spotflow_spot_cases",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
    params={"seconds": 600, "hold": {}, "fail": {}},
    default_args={"retry_delay": datetime.timedelta(seconds=5)},
    dagrun_timeout=datetime.timedelta(minutes=30),
    tags=["spotflow", "test"],
    doc_md=__doc__,
) as dag:
    for name, kwargs in TASKS.items():

        @task(task_id=name, **kwargs)
        def case() -> dict:
            context = get_current_context()
            params = context["params"]
            return behave(context["ti"].task_id, context["ti"].try_number, params, float(params["seconds"]))

        case()
