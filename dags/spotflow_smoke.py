"""Spotflow's smoke test: two short tasks, side by side, on the Spot workers.

``playbooks/verify.yml`` triggers this DAG through the Airflow REST API after
every converge and checks, for each task: the run succeeded, the task ran in a
KubernetesExecutor pod on a Spot node (the node name each task returns, from
the worker pod template's ``SPOTFLOW_NODE_NAME``), and its log is readable
through the API once the worker pod is gone (the log is on EFS).  Trigger it
yourself from the UI to see the same.  It is unpaused on creation and has no
schedule: it runs only when triggered.

The Spot interruption drill triggers it with ``{"seconds": 90}``: each task then
keeps running that long, so that the drill can reclaim the node under one of
them.  The tasks have no retries: the Spotflow cluster policy retries a try
lost to a Spot interruption without counting it, so the run still succeeds.
"""

from __future__ import annotations

import datetime
import os
import socket
import time

import pendulum

from airflow.sdk import DAG, task

with DAG(
    dag_id="spotflow_smoke",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    is_paused_upon_creation=False,
    params={"seconds": 0},
    default_args={"retry_delay": datetime.timedelta(seconds=15)},
    dagrun_timeout=datetime.timedelta(minutes=30),
    tags=["spotflow", "smoke"],
    doc_md=__doc__,
) as dag:
    for i in (1, 2):

        @task(task_id=f"where_am_i_{i}", retries=0)
        def where_am_i(params: dict | None = None) -> dict[str, str]:
            where = {"node": os.environ.get("SPOTFLOW_NODE_NAME", ""), "pod": socket.gethostname()}
            # verify.yml looks for this line in the task's log
            print(f"spotflow-smoke: running in pod {where['pod']} on node {where['node']}", flush=True)
            deadline = time.monotonic() + float((params or {}).get("seconds") or 0)
            while time.monotonic() < deadline:
                print(f"spotflow-smoke: still running, {deadline - time.monotonic():.0f} s to go", flush=True)
                time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
            return where

        where_am_i()
