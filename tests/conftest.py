"""Shared pytest fixtures. ``localcloud`` gives tests the running local cloud."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# our collection's plugins import as ansible_collections.spotflow.eks.*
sys.path.insert(0, str(REPO / "collections"))

# make test runs on two pytest-xdist workers (--dist loadgroup --no-loadscope-reorder).
# Tests whose runs are independent (each e2e journey, each molecule scenario: own
# cluster name; each pre-flight case) are scheduled one by one, longest first, so both workers finish
# together; every other module keeps its tests on one worker, because its module
# fixtures (a cluster, an isolated local cloud with fixed ports) exist once.
# Seconds each took in CI on this kind of 2-core machine (pytest --durations):
LONG = {
    "test_e2e.py::test_the_journey": 966,
    "test_molecule.py::test_molecule_default_scenario[airflow_app]": 624,
    "test_e2e.py::test_interrupted_site_converges_without_duplicates": 534,
    "test_molecule.py::test_molecule_default_scenario[eks_cluster]": 392,
    "test_molecule.py::test_molecule_default_scenario[rds_postgres]": 297,
    "test_molecule.py::test_molecule_default_scenario[efs_storage]": 296,
    "test_molecule.py::test_molecule_default_scenario[spot_nodegroup]": 289,
    "test_localcloud_real_nodes.py": 124,
    "test_molecule.py::test_molecule_default_scenario[ecr_image]": 76,
}
ONE_BY_ONE = ("test_e2e.py", "test_molecule.py", "test_preflight.py")


def _seconds(item: pytest.Item) -> int:
    name = item.nodeid.rsplit("/", 1)[-1]
    return max((s for key, s in LONG.items() if name.startswith(key)), default=0)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    grouped = config.pluginmanager.hasplugin("xdist")  # tests/airflow's own venv has no xdist
    for item in items:
        if grouped and item.path.name not in ONE_BY_ONE:
            item.add_marker(pytest.mark.xdist_group(item.path.name))
    items.sort(key=_seconds, reverse=True)  # stable: the rest keep their order


@pytest.fixture(scope="session")
def localcloud():
    """The local cloud, started for the session unless it is already up (then left running)."""
    from localcloud.cloud import LocalCloud
    from localcloud.testing import Handle

    cloud = LocalCloud()
    started = False
    if not cloud.healthy():
        cloud.up()
        started = True
    yield Handle(cloud)
    if started:
        cloud.down()
