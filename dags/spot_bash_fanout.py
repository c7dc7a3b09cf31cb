"""The blog's demo, for Airflow 3: a BashOperator fan-out like ``example_bash_operator``.

runme_0..2 -> run_after_loop -> run_this_last; also_run_this -> run_this_last;
this_will_skip (exit 99 = skipped) -> run_this_last, so run_this_last is
skipped and the run still succeeds.  Trigger it and watch the worker pods land
on the Spot nodes (``kubectl -n airflow get pods -o wide``).  Every task here
runs on Spot and has no retries: a try lost to a Spot reclaim is retried by
the Spotflow cluster policy without counting against them (docker/README.md).
"""

from __future__ import annotations

import datetime

import pendulum

from airflow.providers.standard.operators.bash import BashOperator
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG

with DAG(
    dag_id="spot_bash_fanout",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    dagrun_timeout=datetime.timedelta(minutes=60),
    tags=["spotflow", "example"],
    params={"example_key": "example_value"},
    doc_md=__doc__,
) as dag:
    run_this_last = EmptyOperator(task_id="run_this_last")

    run_this = BashOperator(
        task_id="run_after_loop",
        bash_command='echo "all runme tasks finished on $(hostname)"',
    )
    run_this >> run_this_last

    for i in range(3):
        task = BashOperator(
            task_id=f"runme_{i}",
            bash_command='echo "{{ task_instance_key_str }} on $(hostname)" && sleep 1',
        )
        task >> run_this

    also_run_this = BashOperator(
        task_id="also_run_this",
        bash_command='echo "ti_key={{ task_instance_key_str }}"',
    )
    also_run_this >> run_this_last

    # BashOperator's skip_on_exit_code defaults to 99: this task ends "skipped".
    this_will_skip = BashOperator(
        task_id="this_will_skip",
        bash_command='echo "hello world"; exit 99;',
    )
    this_will_skip >> run_this_last
