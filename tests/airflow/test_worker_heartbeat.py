"""How soon a worker pod exits after its task, with the [workers] value the airflow_app role renders: the task
supervisor in the pod notices its task process has ended only when its wait times out, at most
min_heartbeat_interval later (Airflow 3.3.2: supervisor.py, MIN_HEARTBEAT_INTERVAL read at import)."""

from __future__ import annotations

import configparser
import os
import subprocess
import sys


def _workers(path) -> configparser.SectionProxy:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(path)
    return cfg["workers"]


def test_the_supervisor_waits_at_most_the_rendered_two_seconds(render_role_template):
    rendered = render_role_template("airflow.cfg.j2")
    assert _workers(rendered)["min_heartbeat_interval"] == "2"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__WORKERS__")}
    env.update(AIRFLOW_CONFIG=str(rendered))
    out = subprocess.run(
        [sys.executable, "-c",
         "from airflow.sdk.execution_time import supervisor; print(supervisor.MIN_HEARTBEAT_INTERVAL)"],
        env=env, capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.strip().splitlines()[-1] == "2"


def test_extra_config_may_set_it_back(render_role_template):
    rendered = render_role_template("airflow.cfg.j2", airflow_app_extra_config={"workers": {"min_heartbeat_interval": 5}})
    assert _workers(rendered)["min_heartbeat_interval"] == "5"
