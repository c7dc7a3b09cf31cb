"""The local cloud's AWS: moto's server with our fixes, one module per service.

Each fix makes moto answer as AWS does, so the roles have one code path:

- ``eks``: clusters get their own Kubernetes control plane (endpoint, CA and
  OIDC issuer of their own), remember who created them and get a real cluster security group and two
  control-plane network interfaces, which outlive the cluster by a few seconds; node groups get ``updateConfig`` ``{maxUnavailable: 1}``
  by default and are backed by a real (moto) Auto Scaling group whose instances
  carry the EKS tags; subnets must exist; tags on node groups and add-ons.
- ``ec2``: no deleting a subnet, security group or VPC that is still in use.
- ``eks_addons``: EKS add-ons (moto has none).
- ``eks_access``: authentication modes, access entries and access policies (moto has
  none); what the token webhook maps an IAM identity to on each cluster.
- ``eks_auth``: the EKS token authenticator the apiservers call (TokenReview).
- ``efs``: the legacy tag API community.aws.efs calls; DeleteFileSystem removes the file system's data.
- ``ecr``: repository URIs lead to the local registry; image APIs report it.
- ``fis``: Spot interruption experiments interrupt instances for real; an experiment whose role IAM has
  not propagated yet fails (AuthorizationFailure) and interrupts nothing.
- ``iam``: OIDC provider client ids; a new role is refused by EKS (CreateCluster), KMS
  (key policies) and FIS (experiments) for a few seconds, as IAM propagates.
- ``rds``: gp3 baseline throughput and IOPS.
- ``rds_postgres``: each ``postgres`` DB instance is a real PostgreSQL server (TLS, the parameter
  group's ``rds.force_ssl``, status, snapshots as dumps); ``server`` applies it after the others.
- ``secretsmanager``: AWS's error text for a secret marked for deletion.
- ``latency``: resources stay CREATING/creating for configured seconds.

``server`` is the process: ``python -m localcloud.aws.server --config STATE/config.json``.
"""

from __future__ import annotations


def apply_all(cfg, control_planes=None) -> None:
    from . import ec2, ecr, efs, eks, fis, iam, latency, rds, secretsmanager

    ec2.patch_ec2_dependencies()
    secretsmanager.patch_secretsmanager()
    rds.patch_rds_gp3()
    iam.patch_iam_oidc()
    iam.patch_iam_propagation(float(cfg.latency.get("iam_propagation", iam.IAM_PROPAGATION_SECONDS)))
    ecr.patch_ecr(cfg)
    efs.patch_efs_tags()
    efs.patch_efs_data(cfg)
    eks.patch_eks(cfg, control_planes)
    fis.patch_fis(cfg)
    latency.patch_latency(cfg.latency)
