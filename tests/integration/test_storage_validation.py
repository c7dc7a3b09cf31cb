"""efs_storage and rds_postgres refuse bad input before any AWS call, and
``state: absent`` on an account without their resources changes nothing.

Each case runs the role with real ansible-playbook against the local cloud,
through a recording proxy in front of the AWS endpoint, and asserts that the
run failed with a message naming the variable and what is allowed, and that
the role made no AWS call at all (validation is pure). The absent cases assert
``changed=0`` and that only reads were made: together with the molecule
cleanups (which assert that everything is gone after the first ``absent``)
this is "a second absent is a no-op".
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PLAYBOOK = """\
- name: Run {role}
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Include {role}
      ansible.builtin.include_role:
        name: {role}
"""
READ_ONLY = re.compile(r"^(Describe|List|Get)([A-Za-z]*$| /)")
# amazon.aws.rds_subnet_group (state=absent) deletes without looking first and
# treats DBSubnetGroupNotFoundFault as "nothing to do"; no info module exists
# to look the group up instead.
BLIND_DELETES = {"DeleteDBSubnetGroup"}
# subnets and security groups in the right shape; validation must fail before anyone looks them up
FAKE_CLUSTER = {
    "name": "sfw-it-storage",
    "private_subnet_ids": ["subnet-0aaaaaaaaaaaaaaa1", "subnet-0aaaaaaaaaaaaaaa2"],
    "cluster_security_group_id": "sg-0aaaaaaaaaaaaaaa1",
    "oidc_provider_arn": "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/SFWIT",
    "vpc_id": "vpc-0aaaaaaaaaaaaaaa1",
}


@pytest.fixture
def run(localcloud, tmp_path: Path, aws_calls):
    """Run a role with extra vars through the recording proxy: (process, AWS operations, output)."""
    url, calls = aws_calls

    def _run(role: str, extra_vars: dict, check: bool = False):
        playbook = tmp_path / f"{role}.yml"
        playbook.write_text(PLAYBOOK.format(role=role))
        calls.clear()
        extra = dict({"spotflow_cluster_name": FAKE_CLUSTER["name"], "spotflow_cluster": FAKE_CLUSTER},
                     **extra_vars, spotflow_aws_endpoint_url=url)
        proc = localcloud.run_playbook(playbook, extra_vars=extra, check=check, timeout=600)
        return proc, list(calls), proc.stdout + proc.stderr

    return _run


def _assert_refused(proc, calls, out, *fragments):
    assert proc.returncode != 0, f"the run did not fail:\n{out[-3000:]}"
    flat = " ".join(out.split())
    for fragment in fragments:
        assert fragment in flat, f"message lacks {fragment!r}:\n{out[-3000:]}"
    assert calls == [], f"validation made AWS calls: {calls}"


EFS_CASES = {
    "provisioned without MiB/s": (
        {"efs_storage_throughput_mode": "provisioned"},
        ["efs_storage_throughput_mode", "requires efs_storage_provisioned_throughput_mibps"]),
    "MiB/s with bursting": (
        {"efs_storage_throughput_mode": "bursting", "efs_storage_provisioned_throughput_mibps": 64},
        ["efs_storage_provisioned_throughput_mibps is only allowed with throughput mode 'provisioned'"]),
    "provisioned MiB/s out of range": (
        {"efs_storage_throughput_mode": "provisioned", "efs_storage_provisioned_throughput_mibps": 5000},
        ["between 1 and 3414"]),
    "unknown throughput mode": (
        {"efs_storage_throughput_mode": "elastic"},
        ["efs_storage_throughput_mode", "must be one of"]),
    "missing region": (
        {"spotflow_region": ""},
        ["efs_storage_region (default spotflow_region) must be an AWS region"]),
    "missing cluster name": (
        {"spotflow_cluster_name": ""},
        ["efs_storage_cluster_name (default spotflow_cluster_name) must be an EKS cluster name"]),
    "lifecycle days": (
        {"efs_storage_transition_to_ia_days": 45},
        ["efs_storage_transition_to_ia_days must be null or one of 7, 14, 30, 60, 90, got '45'"]),
    "permissions without group write": (
        {"efs_storage_directory_permissions": "0755"},
        ["efs_storage_directory_permissions '0755' must give the owner and the group rwx"]),
    "permissions not octal": (
        {"efs_storage_directory_permissions": "rwx"},
        ["efs_storage_directory_permissions must be a quoted octal string"]),
    "same path for dags and logs": (
        {"efs_storage_logs_path": "/airflow/dags"},
        ["efs_storage_dags_path and efs_storage_logs_path must not be or contain each other"]),
    "role name too long": (
        {"efs_storage_csi_role_name": "r" * 65},
        ["efs_storage_csi_role_name must be an IAM role name (1-64 letters, digits or +=,.@_-)"]),
    "nested paths": (
        {"efs_storage_dags_path": "/airflow", "efs_storage_logs_path": "/airflow/logs"},
        ["efs_storage_dags_path and efs_storage_logs_path must not be or contain each other"]),
}


@pytest.mark.parametrize("case", sorted(EFS_CASES))
def test_efs_storage_refuses_before_any_aws_call(run, case):
    extra, fragments = EFS_CASES[case]
    proc, calls, out = run("efs_storage", extra)
    _assert_refused(proc, calls, out, *fragments)


RDS_CASES = {
    "previous-generation class db.m4": (
        {"rds_postgres_instance_class": "db.m4.large"},
        ["rds_postgres_instance_class 'db.m4.large' is not a current-generation DB instance class",
         "previous generations such as db.t2, db.m4 or db.r4 are refused"]),
    "previous-generation class db.t2": (
        {"rds_postgres_instance_class": "db.t2.micro"},
        ["rds_postgres_instance_class 'db.t2.micro' is not a current-generation"]),
    "not an instance class": (
        {"rds_postgres_instance_class": "m7g.large"},
        ["rds_postgres_instance_class 'm7g.large' is not a current-generation"]),
    "storage below 20 GiB": (
        {"rds_postgres_allocated_storage": 5},
        ["rds_postgres_allocated_storage must be 20..65536 (GiB of gp3), got 5"]),
    "autoscaling ceiling below the allocation": (
        {"rds_postgres_allocated_storage": 100, "rds_postgres_max_allocated_storage": 50},
        ["rds_postgres_max_allocated_storage must be 0 (no autoscaling) or above rds_postgres_allocated_storage"]),
    "no backups": (
        {"rds_postgres_backup_retention_days": 0},
        ["rds_postgres_backup_retention_days must be between 1 and 35 (days), got 0"]),
    "backups too long": (
        {"rds_postgres_backup_retention_days": 36},
        ["rds_postgres_backup_retention_days must be between 1 and 35 (days), got 36"]),
    "missing region": (
        {"spotflow_region": ""},
        ["rds_postgres_region (default spotflow_region) must be an AWS region"]),
    "unsupported major": (
        {"rds_postgres_engine_version": "13.20"},
        ["rds_postgres_engine_version must be a pinned PostgreSQL minor version", "got '13.20'"]),
    "unpinned minor": (
        {"rds_postgres_engine_version": "17"},
        ["rds_postgres_engine_version must be a pinned PostgreSQL minor version", "got '17'"]),
    "reserved user name": (
        {"rds_postgres_username": "rdsadmin"},
        ["rds_postgres_username \"rdsadmin\" is reserved by RDS or PostgreSQL"]),
    "malformed backup window": (
        {"rds_postgres_backup_window": "3am"},
        ["rds_postgres_backup_window must be null or hh24:mi-hh24:mi (UTC), got \"3am\""]),
    "short recovery window": (
        {"rds_postgres_secret_recovery_window_days": 3},
        ["rds_postgres_secret_recovery_window_days must be 7..30 (days), got 3"]),
    "short password": (
        {"rds_postgres_password_length": 8},
        ["rds_postgres_password_length must be 16..128, got 8"]),
    "instance id ending with a hyphen": (
        {"rds_postgres_instance_id": "airflow-"},
        ["rds_postgres_instance_id must start with a letter", "got \"airflow-\""]),
    "one secret for both": (
        {"rds_postgres_connection_secret_name": "spotflow/x/rds/master", "rds_postgres_master_secret_name": "spotflow/x/rds/master"},
        ["rds_postgres_connection_secret_name must differ from rds_postgres_master_secret_name"]),
}


@pytest.mark.parametrize("case", sorted(RDS_CASES))
def test_rds_postgres_refuses_before_any_aws_call(run, case):
    extra, fragments = RDS_CASES[case]
    proc, calls, out = run("rds_postgres", extra)
    _assert_refused(proc, calls, out, *fragments)


@pytest.mark.parametrize(("role", "message"), [
    ("rds_postgres", "rds_postgres_subnet_ids must be existing private subnets (no public IP on launch) of one VPC in at "
                     "least two availability zones"),
    ("efs_storage", "efs_storage_subnet_ids must be existing subnets of one VPC, at most one per availability zone"),
])
def test_described_subnets_are_checked_without_a_read(run, role, message):
    """The subnets spotflow_cluster describes (eks_cluster read them) are checked as described, and not read
    again: both in one zone is refused (RDS needs two zones, EFS one mount target per zone), with no AWS call."""
    described = [{"id": s, "subnet_id": s, "vpc_id": FAKE_CLUSTER["vpc_id"], "availability_zone": "us-east-1a",
                  "map_public_ip_on_launch": False} for s in FAKE_CLUSTER["private_subnet_ids"]]
    proc, calls, out = run(role, {"spotflow_cluster": dict(FAKE_CLUSTER, private_subnets=described)})
    _assert_refused(proc, calls, out, message, "subnet-0aaaaaaaaaaaaaaa2': 'us-east-1a'")


@pytest.mark.parametrize("role", ["efs_storage", "rds_postgres"])
def test_absent_on_an_empty_account_changes_nothing(run, role):
    """What a second ``absent`` sees: nothing of this cluster. It must only read and change nothing."""
    extra = {f"{role}_state": "absent", "spotflow_cluster_name": "sfw-it-storage-none"}
    for check in (True, False):
        proc, calls, out = run(role, extra, check=check)
        assert proc.returncode == 0, out[-4000:]
        assert proc.recap["changed"] == 0, out[-4000:]
        assert proc.recap["failed"] == 0, out[-4000:]
        assert calls, "absent made no AWS call at all: it looked nothing up"
        writes = [c for c in calls if not READ_ONLY.match(c) and c not in BLIND_DELETES]
        assert writes == [], f"absent on an empty account made changing calls: {writes}"
