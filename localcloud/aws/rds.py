"""RDS: gp3 instances report AWS's baseline throughput and IOPS."""

from __future__ import annotations

def patch_rds_gp3() -> None:
    """gp3 volumes always have a throughput and IOPS on AWS (baseline 125 MiB/s,
    3000 IOPS below 400 GiB); moto leaves them out, and amazon.aws.rds_instance
    then fails with KeyError 'StorageThroughput' on its second run."""
    from moto.rds.models import DBInstance

    prop = DBInstance.storage_throughput

    def getter(self):
        value = prop.fget(self)
        if value is None and self.storage_type == "gp3":
            return 125
        return value

    DBInstance.storage_throughput = property(getter, prop.fset)
    orig_init = DBInstance.__init__

    def init(self, *args, **kwargs):
        orig_init(self, *args, **kwargs)
        if self.storage_type == "gp3" and not self.iops:
            self.iops = 3000

    DBInstance.__init__ = init
