"""Build docker/Dockerfile on the apache/airflow:3.3.2 base and check the image.

Needs a running docker daemon; skipped (with the reason) otherwise, or when
SPOTFLOW_IMAGE_TESTS=0.  When apache/airflow:3.3.2 is missing, the local
stand-in is built (or loaded from its cache) with
localcloud/images/build-airflow-base.sh: the first time that takes a
minute or more.  The image is built from a minimal context (dags/ + docker/),
exactly as docker/README.md documents.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap

import pytest

from conftest import DOCKER_DIR, REPO, load_module

BASE = "apache/airflow:3.3.2"
TAG = "spotflow-airflow:pytest"


def _docker_unavailable() -> str | None:
    if os.environ.get("SPOTFLOW_IMAGE_TESTS", "1") == "0":
        return "SPOTFLOW_IMAGE_TESTS=0"
    if not shutil.which("docker"):
        return "docker CLI not installed"
    try:
        probe = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "docker info timed out"
    if probe.returncode != 0:
        return "docker daemon not running (start it: dockerd >/tmp/dockerd.log 2>&1 &)"
    return None


_reason = _docker_unavailable()
pytestmark = pytest.mark.skipif(_reason is not None, reason=f"image tests skipped: {_reason}")


def docker(*args: str, check: bool = True, timeout: int = 300, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, env=env, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def image() -> str:
    if docker("image", "inspect", BASE, check=False).returncode != 0:
        script = REPO / "localcloud/images/build-airflow-base.sh"
        subprocess.run(["bash", str(script)], check=True, timeout=3600)
    tar = subprocess.run(["tar", "-C", str(REPO), "-c", "dags", "docker"], capture_output=True, check=True).stdout
    env = {**os.environ, "DOCKER_BUILDKIT": "0"}
    build = subprocess.run(
        # --network host, as ecr_image builds it (ecr_image_build_network_mode): works with a daemon that has
        # no bridge network (the local cloud's); against the stand-in base pip downloads nothing
        ["docker", "build", "--network", "host", "--build-arg", f"AIRFLOW_BASE_IMAGE={BASE}", "--build-arg", "SPOTFLOW_REVISION=pytest",
         "-f", "docker/Dockerfile", "-t", TAG, "-"],
        input=tar, capture_output=True, timeout=1800, env=env,
    )
    assert build.returncode == 0, build.stdout.decode()[-5000:] + build.stderr.decode()[-3000:]
    # docker/check_image.py runs during the build (DagBag + policy): a bad DAG fails it.
    return TAG


def run(image: str, *args: str) -> str:
    # CONNECTION_CHECK_MAX_COUNT=0: no `airflow db check` first (the entrypoint's; airflow_app's pods set it too)
    return docker("run", "--rm", "-e", "CONNECTION_CHECK_MAX_COUNT=0", image, *args).stdout.strip()


def test_the_entrypoint_checks_the_database_first_unless_told_not_to(image):
    """Like the official image's: `airflow db check` before any command (here `python`), retried
    CONNECTION_CHECK_MAX_COUNT times; with 0 (airflow_app's pods) the command runs at once."""
    unreachable = ["-e", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgresql+psycopg2://airflow:x@127.0.0.1:9/airflow",
                   "-e", "CONNECTION_CHECK_SLEEP_TIME=1"]
    checked = docker("run", "--rm", *unreachable, "-e", "CONNECTION_CHECK_MAX_COUNT=2", image,
                     "python", "-c", "print('the command ran')", check=False)
    assert checked.returncode == 1, checked
    assert "Maximum number of retries (2) reached" in checked.stdout and "$ airflow db check" in checked.stdout, checked
    assert "the command ran" not in checked.stdout + checked.stderr
    unchecked = docker("run", "--rm", *unreachable, "-e", "CONNECTION_CHECK_MAX_COUNT=0", image,
                       "python", "-c", "print('the command ran')")
    assert unchecked.stdout.strip() == "the command ran", unchecked


def test_airflow_version(image):
    assert run(image, "version").splitlines()[-1] == "3.3.2"


def test_runs_as_airflow_uid_50000_gid_0(image):
    assert run(image, "bash", "-c", "id -u; id -g") == "50000\n0"
    config = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] in {"50000", "airflow"}


def test_oci_labels(image):
    labels = json.loads(docker("image", "inspect", image).stdout)[0]["Config"]["Labels"]
    assert labels["org.opencontainers.image.title"] == "spotflow-airflow"
    assert labels["org.opencontainers.image.base.name"] == BASE
    assert labels["org.opencontainers.image.revision"] == "pytest"


def test_dags_and_policy_are_in_the_image(image):
    script = textwrap.dedent(
        """\
        import json
        from airflow.dag_processing.dagbag import DagBag
        import airflow_local_settings
        bag = DagBag(dag_folder="/opt/airflow/dags")
        fanout = bag.dags["spot_bash_fanout"]
        print(json.dumps({
            "errors": bag.import_errors,
            "dags": sorted(bag.dag_ids),
            "policy": airflow_local_settings.__file__,
            "retries": sorted({t.retries for t in fanout.tasks}),
        }))
        """
    )
    out = json.loads(run(image, "python", "-c", script).splitlines()[-1])
    assert out["errors"] == {}
    assert {"spot_bash_fanout", "spot_checkpointed_batch"} <= set(out["dags"])
    assert out["policy"] == "/opt/airflow/config/airflow_local_settings.py"
    assert out["retries"] == [0]  # the author's: Spot interruptions do not use retries (no floor by default)


def test_airflow_not_changed_by_extra_requirements(image):
    assert run(image, "python", "-m", "pip", "show", "apache-airflow").count("Version: 3.3.2") == 1


def test_fab_auth_manager_is_in_the_image(image):
    """airflow_app's default auth manager: the provider pinned in docker/requirements.txt, importable."""
    out = run(image, "python", "-m", "pip", "show", "apache-airflow-providers-fab", "flask-appbuilder")
    assert "Version: 3.10.2" in out and "Version: 5.2.2" in out, out
    assert run(image, "python", "-c", "from airflow.providers.fab.auth_manager.fab_auth_manager import FabAuthManager; "
                                      "print(FabAuthManager.__name__)").splitlines()[-1] == "FabAuthManager"


def test_cli_lists_dags_without_import_errors(image):
    # _AIRFLOW_DB_MIGRATE=true: the entrypoint migrates a throw-away SQLite DB first.
    out = docker(
        "run", "--rm", "-e", "_AIRFLOW_DB_MIGRATE=true", "-e", "CONNECTION_CHECK_MAX_COUNT=0", image,
        "bash", "-c", "airflow dags list-import-errors --local -o json 2>/dev/null | tail -1; "
                      "airflow dags list --local -o plain 2>/dev/null",
    ).stdout
    lines = out.strip().splitlines()
    assert "[]" in lines and not any(line.startswith("[{") for line in lines), out  # migrate logs precede it
    assert any(line.startswith("spot_bash_fanout ") for line in lines), out
    assert any(line.startswith("spot_checkpointed_batch ") for line in lines), out


def test_image_records_its_migration_heads(image):
    """docker/check_image.py records what `airflow db check-migrations` waits for (airflow_app's init container
    reads it): in the image, the same heads as the pinned Airflow and FAB compute here."""
    recorded = json.loads(run(image, "bash", "-c", "cat /opt/airflow/migration-heads.json"))
    assert recorded == load_module(DOCKER_DIR / "check_image.py").migration_heads()
    assert set(recorded) == {"alembic_version", "alembic_version_fab"} and all(recorded.values()), recorded
