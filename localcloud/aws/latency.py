"""Injected latency: clusters, node groups, DB instances and file systems stay CREATING/creating for configured seconds."""

from __future__ import annotations

import time


def _delay_status(cls, attr: str, pending: str, ready: str, seconds: float) -> None:
    """Make ``cls.<attr>`` read ``pending`` for ``seconds`` after the object is made.

    An ``attr`` that is already a property (EKS clusters follow their control
    plane) is wrapped: the delay comes on top of what it answers."""
    if seconds <= 0:
        return
    prev = cls.__dict__.get(attr)
    store = f"_spotflow_{attr}"

    def read(self):
        return prev.fget(self) if isinstance(prev, property) else getattr(self, store, None)

    def getter(self):
        value = read(self)
        born = getattr(self, "_spotflow_born", None)
        if value == ready and born is not None and time.monotonic() - born < seconds:
            return pending
        return value

    def setter(self, value):
        if not hasattr(self, "_spotflow_born"):
            self._spotflow_born = time.monotonic()
        if isinstance(prev, property):
            prev.fset(self, value)
        else:
            setattr(self, store, value)

    setattr(cls, attr, property(getter, setter))


def patch_latency(latency: dict[str, float]) -> None:
    from moto.efs.models import FileSystem
    from moto.eks.models import Cluster, Nodegroup
    from moto.rds.models import DBInstance

    _delay_status(Cluster, "status", "CREATING", "ACTIVE", float(latency.get("eks_cluster", 0)))
    _delay_status(Nodegroup, "status", "CREATING", "ACTIVE", float(latency.get("eks_nodegroup", 0)))
    _delay_status(DBInstance, "status", "creating", "available", float(latency.get("rds_instance", 0)))
    efs_seconds = float(latency.get("efs", 0))
    if efs_seconds > 0:
        # FileSystem.info_json() serialises __dict__, so patch the answer, not the attribute
        orig_init, orig_info = FileSystem.__init__, FileSystem.info_json

        def fs_init(self, *args, **kwargs):
            orig_init(self, *args, **kwargs)
            self._spotflow_born = time.monotonic()

        def fs_info(self):
            info = orig_info(self)
            if info.get("LifeCycleState") == "available" and time.monotonic() - self._spotflow_born < efs_seconds:
                info["LifeCycleState"] = "creating"
            return info

        FileSystem.__init__ = fs_init
        FileSystem.info_json = fs_info
