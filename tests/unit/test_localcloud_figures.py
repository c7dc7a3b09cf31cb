"""scripts/localcloud_figures.py: which processes are a node's (by pid and mount namespace, never by name)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "localcloud_figures", Path(__file__).resolve().parents[2] / "scripts" / "localcloud_figures.py")
figures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(figures)

HOST, NODE, POD = "mnt:[1]", "mnt:[2]", "mnt:[3]"
# pid -> (parent, mount namespace): kubelet 10 and containerd 11 (recorded), a shim 20 reparented to init but
# in the node's namespace, its pause 21 and container 22 (their own namespace), a grandchild 23; someone else's
# shim 30 in the host's namespace, and an unrelated process 40 whose parent is init
TABLE = {1: (0, HOST), 10: (1, NODE), 11: (1, NODE), 20: (1, NODE), 21: (20, POD), 22: (20, POD), 23: (22, POD),
         30: (1, HOST), 31: (30, POD), 40: (1, HOST)}


def test_a_node_is_its_recorded_pids_its_namespace_and_their_descendants():
    assert figures.closure(TABLE, [10, 11], {NODE}) == {10, 11, 20, 21, 22, 23}


def test_without_the_namespace_the_reparented_shim_and_its_pods_are_missed():
    assert figures.closure(TABLE, [10, 11]) == {10, 11}


def test_descendants_of_roots_are_followed_and_gone_pids_ignored():
    assert figures.closure(TABLE, [30, 99]) == {30, 31}
