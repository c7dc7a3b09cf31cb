"""Shared pytest fixtures. ``localcloud`` gives tests the running local cloud."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# our collection's plugins import as ansible_collections.spotflow.eks.*
sys.path.insert(0, str(REPO / "collections"))


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
