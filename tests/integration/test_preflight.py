"""Bad input stops site.yml before any AWS call, naming only the wrong variable.

Each case gives one plausible mistake to the full site.yml with the local
inventory. The AWS endpoint is a closed local port, so nothing can be created:
a task that reached AWS would fail with a connection error, not with the
expected message, and it would be outside the pre-flight play. Each case
asserts: the play failed in the pre-flight, the message names the variable
(and no other variable of ours), and the error came in under 15 s.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OURS = re.compile(r"\b((?:eks_cluster|spot_nodegroup|efs_storage|rds_postgres|ecr_image|airflow_app|spotflow)_[a-z0-9_]+)")
SECONDS = 15
PREFLIGHT = "Spotflow - pre-flight checks of every role's input"

# name: (extra vars, the variable the message must name[, variables it may name as a way out])
CASES = {
    # eks_cluster
    "EKS version EKS does not offer": ({"eks_cluster_version": "1.18"}, "eks_cluster_version"),
    "EKS version with a patch": ({"eks_cluster_version": "1.35.2"}, "eks_cluster_version"),
    "EKS version as a float": ({"eks_cluster_version": 1.3}, "eks_cluster_version"),
    "API CIDR without a prefix": ({"eks_cluster_public_access_cidrs": ["203.0.113.7"]}, "eks_cluster_public_access_cidrs"),
    "no API CIDR": ({"eks_cluster_public_access_cidrs": []}, "eks_cluster_public_access_cidrs",
                    "eks_cluster_endpoint_public_access"),
    "no such instance type": ({"eks_cluster_nodegroup_instance_types": ["m5.huge"]}, "eks_cluster_nodegroup_instance_types"),
    "overlapping private subnets": ({"eks_cluster_private_subnet_cidrs": ["10.42.0.0/18", "10.42.0.0/19", "10.42.128.0/18"]},
                                    "eks_cluster_private_subnet_cidrs"),
    "VPC CIDR with host bits": ({"eks_cluster_vpc_cidr": "10.42.0.1/16"}, "eks_cluster_vpc_cidr"),
    "node group min above max": ({"eks_cluster_nodegroup_min_size": 5, "eks_cluster_nodegroup_max_size": 4},
                                 "eks_cluster_nodegroup_min_size", "eks_cluster_nodegroup_max_size"),
    "unknown log type": ({"eks_cluster_log_types": ["api", "kubelet"]}, "eks_cluster_log_types"),
    "zones of another region": ({"eks_cluster_availability_zones": ["eu-west-1a", "eu-west-1b"]}, "eks_cluster_availability_zones"),
    "node count as text": ({"eks_cluster_nodegroup_desired_size": "two"}, "eks_cluster_nodegroup_desired_size"),
    "admin as a role session": ({"eks_cluster_admin_principals": ["arn:aws:sts::123456789012:assumed-role/ci/build-7"]},
                                "eks_cluster_admin_principals"),
    # spot_nodegroup
    "Spot type that does not exist": ({"spot_nodegroup_default_instance_types": ["m5.huge", "m5a.xlarge"]},
                                      "spot_nodegroup_default_instance_types", "spot_nodegroup_groups"),
    # a group's settings are named where they apply: spot_nodegroup_groups[i].<field> (or the role-wide default)
    "Spot min above max": ({"spot_nodegroup_min_size": 12}, "spot_nodegroup_groups[0].min_size", "spot_nodegroup_groups"),
    "Spot AMI type unknown": ({"spot_nodegroup_ami_type": "UBUNTU"}, "spot_nodegroup_ami_type"),
    "Spot disk too small": ({"spot_nodegroup_disk_size": 1}, "spot_nodegroup_disk_size", "spot_nodegroup_groups"),
    "Spot unavailable percentage": ({"spot_nodegroup_max_unavailable_percentage": 150}, "spot_nodegroup_max_unavailable_percentage",
                                    "spot_nodegroup_groups"),
    # efs_storage
    "EFS uid negative": ({"efs_storage_posix_uid": -1}, "efs_storage_posix_uid"),
    "EFS permissions not octal": ({"efs_storage_directory_permissions": "0999"}, "efs_storage_directory_permissions"),
    "EFS relative path": ({"efs_storage_logs_path": "airflow/logs"}, "efs_storage_logs_path"),
    "EFS throughput mode": ({"efs_storage_throughput_mode": "fast"}, "efs_storage_throughput_mode"),
    # rds_postgres
    "RDS port out of range": ({"rds_postgres_port": 70000}, "rds_postgres_port"),
    "RDS engine version unpinned": ({"rds_postgres_engine_version": "17"}, "rds_postgres_engine_version"),
    "RDS old instance class": ({"rds_postgres_instance_class": "db.t2.micro"}, "rds_postgres_instance_class"),
    "RDS storage too small": ({"rds_postgres_allocated_storage": 10}, "rds_postgres_allocated_storage"),
    "RDS no backups": ({"rds_postgres_backup_retention_days": 0}, "rds_postgres_backup_retention_days"),
    "RDS reserved user name": ({"rds_postgres_username": "postgres"}, "rds_postgres_username"),
    "RDS short password": ({"rds_postgres_password_length": 8}, "rds_postgres_password_length"),
    "RDS backup window": ({"rds_postgres_backup_window": "25:00-26:00"}, "rds_postgres_backup_window"),
    # ecr_image
    "ECR tag mutability": ({"ecr_image_tag_mutability": "SOMETIMES"}, "ecr_image_tag_mutability"),
    "ECR keep no image": ({"ecr_image_keep_images": 0}, "ecr_image_keep_images"),
    "ECR repository name upper case": ({"ecr_image_repository_name": "Spotflow/Airflow"}, "ecr_image_repository_name"),
    "image for a CPU no node group has": ({"ecr_image_platform": "linux/arm"}, "ecr_image_platform"),
    # airflow_app
    "Airflow namespace not DNS": ({"airflow_app_namespace": "Airflow_Prod"}, "airflow_app_namespace"),
    "Airflow Spot affinity": ({"airflow_app_worker_spot_affinity": "sometimes"}, "airflow_app_worker_spot_affinity"),
    "Airflow parallelism zero": ({"airflow_app_parallelism": 0}, "airflow_app_parallelism"),
    "Airflow grace period past the Spot notice": ({"airflow_app_worker_termination_grace_period": 300},
                                                   "airflow_app_worker_termination_grace_period"),
    "Airflow negative requeues": ({"airflow_app_num_stuck_in_queued_retries": -1}, "airflow_app_num_stuck_in_queued_retries"),
    "Airflow log cleanup never": ({"airflow_app_log_cleanup_interval_minutes": 0}, "airflow_app_log_cleanup_interval_minutes"),
    "Airflow public UI": ({"airflow_app_ui_service_type": "LoadBalancer", "airflow_app_ui_internal": False,
                           "airflow_app_ui_allowed_cidrs": ["0.0.0.0/0"]}, "airflow_app_ui_allowed_cidrs", "airflow_app_ui_allow_public"),
}


def run_site(extra: dict, playbook: str | Path = "site.yml") -> tuple[subprocess.CompletedProcess, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SPOTFLOW_"))} | {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # nothing listens: any AWS call fails loudly
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
    started = time.monotonic()
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(REPO / "inventories/local"),
                           str(REPO / "playbooks" / playbook), "-e", json.dumps(extra)],  # an absolute path stays
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    return proc, time.monotonic() - started


def failure(proc: subprocess.CompletedProcess) -> tuple[str, str]:
    """(play, message) of the task that failed."""
    report = json.loads(proc.stdout)
    for play in report["plays"]:
        for task in play["tasks"]:
            result = task["hosts"].get("localhost", {})
            if result.get("failed"):  # a loop's failed items carry the messages (an assert's: evaluated_to false)
                failed = [r for r in result.get("results", []) if r.get("failed") or r.get("evaluated_to") is False]
                return play["play"]["name"], "; ".join(r.get("msg", "") for r in failed or [result])
    raise AssertionError(f"no task failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")


@pytest.mark.parametrize(("extra", "variable", "hints"), [(c[0], c[1], c[2:]) for c in CASES.values()], ids=CASES.keys())
def test_bad_input_stops_site_before_any_aws_call(extra, variable, hints):
    proc, seconds = run_site(extra)
    assert proc.returncode != 0, proc.stdout[-4000:]
    play, message = failure(proc)
    assert play == PREFLIGHT, f"failed in {play!r}, not in the pre-flight: {message}"
    assert variable in message, message
    named = set(OURS.findall(message)) - {variable} - set(hints)
    assert not named, f"the message names variables that are right: {sorted(named)}\n{message}"
    assert seconds < SECONDS, f"refused after {seconds:.1f} s"


def test_teardown_checks_its_input_before_asking():
    proc, seconds = run_site({"rds_postgres_skip_final_snapshot": "maybe"}, "teardown.yml")
    assert proc.returncode != 0
    play, message = failure(proc)
    assert play == PREFLIGHT and "rds_postgres_skip_final_snapshot" in message, message
    assert seconds < SECONDS


def test_good_input_passes_the_preflight():
    proc, _ = run_site({}, "preflight.yml")
    assert proc.returncode == 0, proc.stdout[-4000:]


def _task(proc: subprocess.CompletedProcess, name: str) -> dict:
    """The localhost result of the last task called ``name`` (after its role prefix; the json callback's report)."""
    tasks = [t for play in json.loads(proc.stdout)["plays"] for t in play["tasks"] if t["task"]["name"].endswith(name)]
    assert tasks, f"no task {name!r}:\n{proc.stdout[-4000:]}"
    return tasks[-1]["hosts"]["localhost"]


@pytest.mark.parametrize(("uid", "validated"), [(50000, False), (-1, True)], ids=["same inputs", "an input changed"])
def test_a_role_validates_once_per_set_of_inputs(uid, validated):
    """site.yml validates every role in pre-flight; a role's passes skip validate.yml for the same inputs,
    and validate again (so fail before any AWS call) when one changed."""
    proc, _ = run_site({"validate_once_uid": uid}, REPO / "tests/integration/playbooks/validate_once.yml")
    assert proc.returncode != 0  # either way the role then fails: nothing listens at AWS_ENDPOINT_URL
    include = _task(proc, "Validate inputs before any API call (unless validated in this run with the same inputs)")
    assert include.get("skipped", False) is not validated, include
    play, message = failure(proc)
    if validated:
        assert "efs_storage_posix_uid" in message, message
    else:
        assert "efs_storage_posix_uid" not in message, message  # past validation: the AWS calls failed
