"""Fixtures for the tests that run under the pinned Airflow (tests/airflow/run.sh)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(os.environ.get("SPOTFLOW_REPO", Path(__file__).resolve().parents[2]))
DAGS_DIR = REPO / "dags"
DOCKER_DIR = REPO / "docker"
# what the role computes before it renders the Jobs and Deployments (render_role_template needs them)
HASHES = {"airflow_app__job_hash": "0123456789", "airflow_app__admin_job_hash": "abcdef0123",
          "airflow_app__config_checksum": "c", "airflow_app__secrets_checksum": "s"}

if "AIRFLOW_HOME" not in os.environ or not os.environ.get("AIRFLOW__CORE__DAGS_FOLDER"):
    raise pytest.UsageError("run these tests with tests/airflow/run.sh (it sets up AIRFLOW_HOME, the DB and the venv)")


def load_module(path: Path):
    """Import a script of the repository (not on sys.path) as a module."""
    spec = importlib.util.spec_from_file_location(f"spotflow_test_{path.stem.replace('-', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (dataclasses and pickling look a module up there)
    spec.loader.exec_module(module)
    return module


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

    return lambda name: load_module(DAGS_DIR / f"{name}.py")


@pytest.fixture(autouse=True)
def _clean_policy_env(monkeypatch):
    for var in (
        "SPOTFLOW_SPOT_MIN_RETRIES",
        "SPOTFLOW_SPOT_BACKOFF_MULTIPLIER",
        "SPOTFLOW_SPOT_MAX_RETRY_DELAY",
        "SPOTFLOW_SPOT_NODE_LABEL",
        "SPOTFLOW_SPOT_POLICY",
        "SPOTFLOW_SPOT_INTERRUPTION_LIMIT",
        "SPOTFLOW_SPOT_INTERRUPTION_RETRY_DELAY",
    ):
        monkeypatch.delenv(var, raising=False)


def _ansible_playbook() -> str:
    path = os.environ.get("SPOTFLOW_ANSIBLE_PLAYBOOK") or str(REPO / ".venv" / "bin" / "ansible-playbook")
    if not os.access(path, os.X_OK):
        pytest.fail(f"{path} not found: run `make bootstrap` (or set SPOTFLOW_ANSIBLE_PLAYBOOK)")
    return path


@pytest.fixture(scope="session")
def render_role_template(tmp_path_factory):
    """render(template, **extra_vars) -> Path: one of the airflow_app role's templates rendered by Ansible with
    the role's defaults and vars (render_template.yml, the tooling venv's ansible-playbook); cached per input."""
    cache: dict[str, Path] = {}

    def render(template: str = "pod_template.yaml.j2", **extra_vars) -> Path:
        key = json.dumps([template, extra_vars], sort_keys=True)
        if key not in cache:
            dest = tmp_path_factory.mktemp("rendered") / template.removesuffix(".j2")
            ev = {"template": template, "dest": str(dest), "spotflow_cluster_name": "rendered",
                  "airflow_app_image": "example.com/airflow:test", **extra_vars}
            proc = subprocess.run([_ansible_playbook(), str(Path(__file__).with_name("render_template.yml")),
                                   "-e", json.dumps(ev)], cwd=REPO, capture_output=True, text=True, timeout=300)
            assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
            cache[key] = dest
        return cache[key]

    return render
