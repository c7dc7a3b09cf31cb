"""Fixtures for the tests that run under the pinned Airflow (tests/airflow/run.sh)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

REPO = Path(os.environ.get("SPOTFLOW_REPO", Path(__file__).resolve().parents[2]))
DAGS_DIR = REPO / "dags"
DOCKER_DIR = REPO / "docker"

if "AIRFLOW_HOME" not in os.environ or not os.environ.get("AIRFLOW__CORE__DAGS_FOLDER"):
    raise pytest.UsageError("run these tests with tests/airflow/run.sh (it sets up AIRFLOW_HOME, the DB and the venv)")


@pytest.fixture(scope="session")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_DIR))


@pytest.fixture(scope="session")
def policy():
    """The cluster policy module, imported the way Airflow imports it."""
    import airflow_local_settings

    return airflow_local_settings


@pytest.fixture
def load_dag_module():
    """Import a DAG file as a plain module (to reach its helper functions)."""

    def _load(name: str):
        path = DAGS_DIR / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"spotflow_test_{name}", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        return module

    return _load


@pytest.fixture(autouse=True)
def _clean_policy_env(monkeypatch):
    for var in (
        "SPOTFLOW_SPOT_MIN_RETRIES",
        "SPOTFLOW_SPOT_BACKOFF_MULTIPLIER",
        "SPOTFLOW_SPOT_MAX_RETRY_DELAY",
        "SPOTFLOW_SPOT_NODE_LABEL",
        "SPOTFLOW_SPOT_POLICY",
    ):
        monkeypatch.delenv(var, raising=False)
