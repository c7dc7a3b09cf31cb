"""airflow_app's init container `wait-for-migrations` (roles/airflow_app/files/wait-for-migrations.py) makes the
comparison `airflow db check-migrations` makes, against heads docker/check_image.py records at build time, without
importing Airflow. Run as the pod runs it (a Python process with the SQLAlchemy URL in the environment) against
real databases: the migrated metadata DB of these tests, an empty one and one a migration behind."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time

import pytest

from conftest import DOCKER_DIR, REPO, load_module

SCRIPT = REPO / "roles" / "airflow_app" / "files" / "wait-for-migrations.py"


@pytest.fixture(scope="module")
def heads_file(tmp_path_factory):
    heads = load_module(DOCKER_DIR / "check_image.py").migration_heads()
    path = tmp_path_factory.mktemp("image") / "migration-heads.json"
    path.write_text(json.dumps(heads))
    return path


def wait(heads_file, url, timeout=1):
    env = {**os.environ, "SPOTFLOW_MIGRATION_HEADS": str(heads_file), "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url,
           "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}"}  # `airflow` on PATH, as in the image
    start = time.monotonic()
    proc = subprocess.run([sys.executable, str(SCRIPT), str(timeout)], capture_output=True, text=True, env=env, timeout=120)
    return proc, time.monotonic() - start


def test_heads_are_airflows_and_fabs(heads_file):
    heads = json.loads(heads_file.read_text())
    assert set(heads) == {"alembic_version", "alembic_version_fab"} and all(len(h) == 1 for h in heads.values()), heads


def test_migrated_database_passes_at_once(heads_file):
    proc, took = wait(heads_file, os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert proc.returncode == 0, proc.stderr
    assert "the database holds this image's migrations ['alembic_version', 'alembic_version_fab']" in proc.stdout
    assert took < 10, took  # no Airflow import (the CLI takes 10-20 s of CPU)


def test_empty_database_waits_then_fails_naming_the_tables(heads_file, tmp_path):
    proc, took = wait(heads_file, f"sqlite:///{tmp_path / 'empty.db'}", timeout=2)
    assert proc.returncode == 1
    assert took >= 2
    assert "still unapplied migrations after 2 s" in proc.stderr
    for table, heads in json.loads(heads_file.read_text()).items():
        assert f"'{table}': \"wants {heads}, cannot read it" in proc.stderr, proc.stderr


def test_database_a_migration_behind_is_pending(heads_file, tmp_path):
    db = tmp_path / "behind.db"
    heads = json.loads(heads_file.read_text())
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES ('0000older000')")
        conn.execute("CREATE TABLE alembic_version_fab (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version_fab VALUES (?)", heads["alembic_version_fab"])
    proc, _ = wait(heads_file, f"sqlite:///{db}")
    assert proc.returncode == 1
    assert f"'alembic_version': \"wants {heads['alembic_version']}, holds ['0000older000']\"" in proc.stderr, proc.stderr
    assert "alembic_version_fab" not in proc.stderr.split("after 1 s:")[1], proc.stderr  # FAB's is at its head


def test_image_without_the_record_gets_airflows_check(tmp_path):
    proc, _ = wait(tmp_path / "absent.json", os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], timeout=5)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"no {tmp_path / 'absent.json'} in this image: running `airflow db check-migrations`" in proc.stdout
