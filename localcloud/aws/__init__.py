"""The local cloud's AWS: moto's server with our fixes, one module per service.

Each fix makes moto answer as AWS does, so the roles have one code path:

- ``eks``: clusters get their own Kubernetes control plane (endpoint, CA and
  OIDC issuer of their own), remember who created them (the token webhook maps
  that identity to cluster-admin) and get a real cluster security group, deleted
  with the cluster; node groups get ``updateConfig`` ``{maxUnavailable: 1}``
  by default and are backed by a real (moto) Auto Scaling group whose instances
  carry the EKS tags; subnets must exist; tags on node groups and add-ons.
- ``eks_addons``: EKS add-ons (moto has none).
- ``eks_auth``: the EKS token authenticator the apiservers call (TokenReview).
- ``efs``: the legacy tag API community.aws.efs calls.
- ``ecr``: repository URIs lead to the local registry; image APIs report it.
- ``fis``: Spot interruption experiments interrupt instances for real.
- ``iam``: OIDC provider client ids.
- ``rds``: gp3 baseline throughput and IOPS.
- ``secretsmanager``: AWS's error text for a secret marked for deletion.
- ``latency``: resources stay CREATING/creating for configured seconds.

``server`` is the process: ``python -m localcloud.aws.server --config STATE/config.json``.
"""

from __future__ import annotations


def apply_all(cfg, control_planes=None) -> None:
    from . import ecr, efs, eks, fis, iam, latency, rds, secretsmanager

    secretsmanager.patch_secretsmanager()
    rds.patch_rds_gp3()
    iam.patch_iam_oidc()
    ecr.patch_ecr(cfg)
    efs.patch_efs_tags()
    eks.patch_eks(cfg, control_planes)
    fis.patch_fis(cfg)
    latency.patch_latency(cfg.latency)
