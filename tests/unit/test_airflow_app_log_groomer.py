"""The airflow_app role's log groomer (roles/airflow_app/files/log-groomer.sh), run on a folder laid out
as Spotflow's EFS logs volume: task logs, the dag-processor's logs, the example DAG's checkpoints."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.unit.test_module_docs import REPO

SCRIPT = REPO / "roles" / "airflow_app" / "files" / "log-groomer.sh"
DAY = 86400


def _make(root, rel, age_days=0.0, directory=False):
    path = root / rel
    if directory:
        path.mkdir(parents=True, exist_ok=True)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    t = time.time() - age_days * DAY
    os.utime(path, (t, t))
    return path


@pytest.fixture
def logs(tmp_path):
    root = tmp_path / "logs"
    files = {
        "old_task_log": "dag_id=d/run_id=r/task_id=t/attempt=1.log",
        "new_task_log": "dag_id=d/run_id=r/task_id=t/attempt=2.log",
        "old_mapped_log": "dag_id=d/run_id=r/task_id=m/map_index=3/attempt=1.log",
        "old_processor_log": "dag_processor/2026-01-01/dags-folder/spot.py.log",
        "new_processor_log": "dag_processor/2026-12-01/dags-folder/spot.py.log",
        "old_checkpoint": "spotflow-checkpoints/d/r/chunk-00000.json",
        "old_lost_found": "lost+found/#123.log",
    }
    ages = {"new_task_log": 0, "new_processor_log": 2}
    paths = {k: _make(root, v, ages.get(k, 45)) for k, v in files.items()}
    # run a folder emptied long ago, and one made a minute ago (a task is about to write there)
    paths["old_empty"] = _make(root, "dag_id=gone/run_id=old", 45, directory=True)
    paths["fresh_empty"] = _make(root, "dag_id=d/run_id=new", 1 / 1440, directory=True)
    # making files touched their folders: age every folder but the fresh one
    for d in root.rglob("*"):
        if d.is_dir() and d != paths["fresh_empty"]:
            os.utime(d, (time.time() - 45 * DAY,) * 2)
    return root, paths


def run(directory, once=True, **env):
    full = {"PATH": os.environ["PATH"], "SPOTFLOW_LOG_GROOMER_DIR": str(directory),
            "AIRFLOW__LOG_RETENTION_DAYS": "30", **({"SPOTFLOW_LOG_GROOMER_ONCE": "1"} if once else {}), **env}
    return subprocess.run(["bash", str(SCRIPT)], env=full, capture_output=True, text=True, timeout=60)


def test_the_scheduler_groomer_deletes_old_task_logs_only(logs):
    root, p = logs
    proc = run(root, SPOTFLOW_LOG_GROOMER_SKIP="dag_processor")
    assert proc.returncode == 0, proc.stderr
    assert not p["old_task_log"].exists() and not p["old_mapped_log"].exists()
    assert p["new_task_log"].exists()
    assert p["old_processor_log"].exists(), "the dag-processor's folder is its own groomer's"
    assert p["old_checkpoint"].exists(), "only *.log files are groomed"
    assert p["old_lost_found"].exists(), "lost+found is never entered"
    assert not p["old_empty"].exists(), "a folder empty for long goes"
    assert p["fresh_empty"].exists(), "a folder made a minute ago stays"
    assert "deleted 2 log file(s) older than 30 day(s)" in proc.stdout


def test_the_dag_processor_groomer_deletes_its_old_logs(logs):
    root, p = logs
    proc = run(root / "dag_processor")
    assert proc.returncode == 0, proc.stderr
    assert not p["old_processor_log"].exists() and p["new_processor_log"].exists()
    assert p["old_task_log"].exists()


def test_retention_is_configurable(logs):
    root, p = logs
    assert run(root / "dag_processor", AIRFLOW__LOG_RETENTION_DAYS="1").returncode == 0
    assert not p["new_processor_log"].exists(), "2 days old, retention 1 day"


def test_a_missing_folder_is_no_error(tmp_path):
    proc = run(tmp_path / "not-yet")
    assert proc.returncode == 0 and "does not exist (yet)" in proc.stdout


@pytest.mark.parametrize("env, message", [
    ({"AIRFLOW__LOG_RETENTION_DAYS": "thirty"}, "'thirty' is not a whole number"),
    ({"AIRFLOW__LOG_CLEANUP_FREQUENCY_MINUTES": "0"}, "must be > 0 minutes"),
    ({"SPOTFLOW_LOG_GROOMER_SKIP": "a/b"}, "must be a folder name"),
])
def test_bad_settings_stop_it(tmp_path, env, message):
    proc = run(tmp_path, **env)
    assert proc.returncode == 2 and message in proc.stderr


def test_sigterm_ends_the_wait_at_once(logs):
    root, _ = logs
    full = {"PATH": os.environ["PATH"], "SPOTFLOW_LOG_GROOMER_DIR": str(root), "AIRFLOW__LOG_RETENTION_DAYS": "30",
            "AIRFLOW__LOG_CLEANUP_FREQUENCY_MINUTES": "15"}
    proc = subprocess.Popen(["bash", str(SCRIPT)], env=full, stdout=subprocess.PIPE, text=True)
    try:
        line = ""
        while "deleted" not in line:  # the first pass is done, it sleeps for 15 minutes now
            line = proc.stdout.readline()
            assert line, "ended before its first pass"
        time.sleep(0.3)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
    finally:
        proc.kill()
