"""Shared pytest fixtures. ``localcloud`` gives tests the running local cloud."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# our collection's plugins import as ansible_collections.spotflow.eks.*
sys.path.insert(0, str(REPO / "collections"))

# make test runs on two pytest-xdist workers (--dist loadscope --no-loadscope-reorder, with
# the scheduler below).
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
    "test_sanity.py": 240,  # measured on a busy machine, first run (venvs made)
    "test_molecule.py::test_molecule_default_scenario[ecr_image]": 76,
}
ONE_BY_ONE = ("test_e2e.py", "test_molecule.py", "test_preflight.py")


def _seconds(item: pytest.Item) -> int:
    name = item.nodeid.rsplit("/", 1)[-1]
    return max((s for key, s in LONG.items() if name.startswith(key)), default=0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_seconds, reverse=True)  # stable: the rest keep their order


@pytest.hookimpl(optionalhook=True)  # tests/airflow's own venv has no xdist
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Whole modules to one worker, except ONE_BY_ONE's tests, each its own unit of work.

    Not xdist_group + --dist loadgroup: xdist 3.8 groups by a suffix it writes into
    ``item._nodeid``, which pytest 9.2 no longer reads (nodeid comes from ``_id``), so every
    test became its own unit, a module's tests ran on both workers, and each worker made
    (and deleted) the module's fixtures: one worker deleted a cluster the other still used."""
    from xdist.scheduler import LoadScopeScheduling

    class ByModule(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return nodeid if module.rsplit("/", 1)[-1] in ONE_BY_ONE else module

    return ByModule(config, log)


@pytest.fixture(scope="session")
def localcloud():
    """The local cloud, started for the session unless it is already up (then left running).

    Under xdist every worker has this fixture but all share one cloud: a worker that starts it
    leaves it running (make test stops it), else the first to finish would stop it under the other."""
    import os

    from localcloud.cloud import LocalCloud
    from localcloud.testing import Handle

    cloud = LocalCloud()
    started = False
    if not cloud.healthy():
        cloud.up()
        started = "PYTEST_XDIST_WORKER" not in os.environ
    yield Handle(cloud)
    if started:
        cloud.down()
