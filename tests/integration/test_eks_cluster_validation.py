"""The eks_cluster role refuses bad inputs before any AWS call, naming the variable.

Each case runs the role with one wrong input. The AWS endpoint points at a
closed local port, so a task that reached AWS would fail with a connection
error instead of the expected message; the failing task must be one of the
role's validation tasks (argument spec or validate.yml). No local cloud needed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PLAYBOOK = """\
- name: Run eks_cluster with a wrong input
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Converge eks_cluster
      ansible.builtin.include_role:
        name: eks_cluster
"""

GOOD = {
    "spotflow_cluster_name": "val-eks",
    "spotflow_region": "eu-west-1",
    "spotflow_aws_endpoint_url": "http://127.0.0.1:9",  # nothing listens: any AWS call would fail loudly
    "spotflow_aws_access_key": "AKIAVALIDATIONONLY01",
    "spotflow_aws_secret_key": "not-a-secret",
    "eks_cluster_public_access_cidrs": ["203.0.113.7/32"],
}

CASES = {
    "version with a patch": ({"eks_cluster_version": "1.35.2"}, r"eks_cluster_version must be a Kubernetes minor version"),
    "version 2.0": ({"eks_cluster_version": "2.0"}, r"eks_cluster_version must be a Kubernetes minor version"),
    "version as a YAML float": ({"eks_cluster_version": 1.3}, r"quote it in YAML, 1.30 is a float"),
    "missing region": ({"spotflow_region": None}, r"spotflow_region"),
    "empty region": ({"spotflow_region": ""}, r"spotflow_region must be set"),
    "missing cluster name": ({"spotflow_cluster_name": None}, r"spotflow_cluster_name"),
    "cluster name too long": ({"spotflow_cluster_name": "x" * 41}, r"spotflow_cluster_name must be set"),
    "no public CIDRs": ({"eks_cluster_public_access_cidrs": []}, r"eks_cluster_public_access_cidrs\s+must list"),
    "bad public CIDR": ({"eks_cluster_public_access_cidrs": ["203.0.113.7"]}, r"eks_cluster_public_access_cidrs\[0\]"),
    "no endpoint at all": ({"eks_cluster_endpoint_private_access": False, "eks_cluster_endpoint_public_access": False},
                           r"cannot both be false"),
    "bad log type": ({"eks_cluster_log_types": ["api", "kubelet"]}, r"eks_cluster_log_types"),
    "min above max": ({"eks_cluster_nodegroup_min_size": 5, "eks_cluster_nodegroup_max_size": 4},
                      r"eks_cluster_nodegroup_min_size must be between 0 and eks_cluster_nodegroup_max_size \(4\), got 5"),
    "desired below min": ({"eks_cluster_nodegroup_desired_size": 1}, r"eks_cluster_nodegroup_desired_size must be between min_size and max_size \(2..4\), got 1"),
    "one private subnet": ({"eks_cluster_private_subnet_ids": ["subnet-0a1b2c3d"]}, r"eks_cluster_private_subnet_ids must list at least 2"),
    "public without private": ({"eks_cluster_public_subnet_ids": ["subnet-0a1b2c3d", "subnet-1a1b2c3d"]},
                               r"eks_cluster_private_subnet_ids"),
    "malformed subnet id": ({"eks_cluster_private_subnet_ids": ["subnet-0a1b2c3d", "sn-1"]}, r"subnet-0123abcd"),
    "VPC CIDR with host bits": ({"eks_cluster_vpc_cidr": "10.42.0.1/16"}, r"eks_cluster_vpc_cidr: '10.42.0.1/16'"),
    "VPC CIDR too small": ({"eks_cluster_vpc_cidr": "10.42.0.0/24"}, r"eks_cluster_vpc_cidr: 10.42.0.0/24 must have a prefix"),
    "AZ of another region": ({"eks_cluster_availability_zones": ["us-east-1a", "us-east-1b"]}, r"eks_cluster_availability_zones"),
    "KMS key and create": ({"eks_cluster_create_kms_key": True,
                            "eks_cluster_kms_key_arn": "arn:aws:kms:eu-west-1:123456789012:key/abc"}, r"exclude each other"),
    "priority expander without priorities": ({"eks_cluster_autoscaler_expander": "priority"}, r"eks_cluster_autoscaler_priorities"),
    "no pinned autoscaler": ({"eks_cluster_version": "1.40"}, r"set eks_cluster_autoscaler_image"),
    "autoscaler argument not a flag": ({"eks_cluster_autoscaler_extra_args": ["--expander=least-waste", "scale-down"]},
                                       r'eks_cluster_autoscaler_extra_args must be flags like --scale-down-unneeded-time=5m, got \["scale-down"\]'),
    "no wait": ({"eks_cluster_wait_timeout": 0}, r"eks_cluster_wait_timeout must be a positive number of seconds, got 0"),
    "lifecycle label": ({"eks_cluster_nodegroup_labels": {"lifecycle": "Ec2Spot"}}, r"eks_cluster_nodegroup_labels must not set lifecycle"),
}

VALIDATION_TASK = re.compile(r"TASK \[eks_cluster : (Check [^\]]*|Validating arguments against arg spec[^\]]*)\]")


def run_role(tmp_path, extra):
    variables = {k: v for k, v in dict(GOOD, **extra).items() if v is not None}
    (tmp_path / "vars.json").write_text(json.dumps(variables))
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_ROLES_PATH=str(REPO / "roles"))
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
         "-e", "ansible_python_interpreter=" + sys.executable, "-e", "@" + str(tmp_path / "vars.json"),
         str(tmp_path / "play.yml")],
        cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300,
    )
    return proc, proc.stdout + proc.stderr


@pytest.mark.parametrize("extra,message", list(CASES.values()), ids=list(CASES))
def test_bad_input_fails_before_any_aws_call(tmp_path, extra, message):
    proc, out = run_role(tmp_path, extra)
    assert proc.returncode != 0, out[-3000:]
    assert re.search(message, " ".join(out.split())), "expected {0!r} in:\n{1}".format(message, out[-3000:])
    tasks = re.findall(r"TASK \[([^\]]*)\]", out)
    failed_at = tasks[-1] if tasks else ""
    assert VALIDATION_TASK.search("TASK [" + failed_at + "]"), "failed outside validation, at {0!r}:\n{1}".format(
        failed_at, out[-3000:])


def test_warning_only_for_a_version_out_of_standard_support(tmp_path):
    """1.32 (extended support) warns and passes validation; the run then fails at the first AWS call."""
    proc, out = run_role(tmp_path, {"eks_cluster_version": "1.32"})
    flat = " ".join(out.split())
    assert "eks_cluster_version 1.32 is only in EKS extended support" in flat
    assert "TASK [eks_cluster : Look up the cluster]" in out, out[-3000:]


# ---------------------------------------------------------------- the role's network filters (pure)


def _network_filters():
    import importlib.util

    path = REPO / "roles" / "eks_cluster" / "filter_plugins" / "eks_cluster_network.py"
    spec = importlib.util.spec_from_file_location("eks_cluster_network", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# us-east-1 as some account sees it: names map to other zone IDs in every account
US_EAST_1 = [{"zone_name": "us-east-1a", "zone_id": "use1-az3"}, {"zone_name": "us-east-1b", "zone_id": "use1-az1"},
             {"zone_name": "us-east-1c", "zone_id": "use1-az2"}, {"zone_name": "us-east-1d", "zone_id": "use1-az4"}]


def test_zones_skip_those_without_eks_by_zone_id():
    plan = _network_filters().eks_cluster_zone_plan(US_EAST_1, [], "us-east-1")
    assert plan == {"zones": ["us-east-1b", "us-east-1c", "us-east-1d"], "errors": []}


def test_given_zones_are_checked_by_zone_id_and_existence():
    plan = _network_filters().eks_cluster_zone_plan(US_EAST_1, ["us-east-1a", "us-east-1b", "us-east-1z"], "us-east-1")
    assert plan["errors"] == [
        "eks_cluster_availability_zones[0]: us-east-1a (zone ID use1-az3) has no EKS control planes; "
        "choose among us-east-1b, us-east-1c, us-east-1d",
        "eks_cluster_availability_zones[2]: 'us-east-1z' is not an available Availability Zone of us-east-1 "
        "(us-east-1a, us-east-1b, us-east-1c, us-east-1d)"]


def test_a_region_with_one_eks_zone_is_refused():
    plan = _network_filters().eks_cluster_zone_plan(US_EAST_1[:2], [], "us-east-1")
    assert plan["errors"] == ["eks_cluster_availability_zones: us-east-1 has 1 Availability Zone(s) that support EKS "
                              "(us-east-1b); EKS needs two"]


def test_subnet_plan_of_a_16_across_3_azs():
    plan = _network_filters().eks_cluster_subnet_plan("10.42.0.0/16", 3)
    assert plan == {
        "private": ["10.42.0.0/18", "10.42.64.0/18", "10.42.128.0/18"],
        "public": ["10.42.192.0/20", "10.42.208.0/20", "10.42.224.0/20"],
        "errors": [],
    }


def test_subnet_plan_of_a_20_across_2_azs():
    plan = _network_filters().eks_cluster_subnet_plan("10.9.16.0/20", 2)
    assert plan["private"] == ["10.9.16.0/22", "10.9.20.0/22"]
    assert plan["public"] == ["10.9.28.0/24", "10.9.29.0/24"]
    assert plan["errors"] == []


@pytest.mark.parametrize("args,error", [
    (("10.42.0.1/16", 3), "has host bits set"),
    (("10.42.0.0/24", 3), "between /16 and /20"),
    (("10.42.0.0/16", 4), "2 or 3 Availability Zones"),
    (("10.42.0.0/16", 2, ["10.42.0.0/24"]), "must list 2 CIDRs"),
    (("10.42.0.0/16", 2, ["10.42.0.0/24", "10.43.0.0/24"]), "not inside eks_cluster_vpc_cidr"),
    (("10.42.0.0/16", 2, ["10.42.0.0/24", "10.42.0.0/25"]), "overlap"),
    (("10.42.0.0/16", 2, None, ["10.42.200.0/24", "10.42.0.0/18"]), "overlap"),
])
def test_subnet_plan_errors_name_the_problem(args, error):
    plan = _network_filters().eks_cluster_subnet_plan(*args)
    assert any(error in message for message in plan["errors"]), plan["errors"]


def test_cidr_errors_name_the_variable_and_index():
    errors = _network_filters().eks_cluster_cidr_errors(["203.0.113.7/32", "203.0.113.7", "x/8"], "eks_cluster_public_access_cidrs")
    assert len(errors) == 2
    assert errors[0].startswith("eks_cluster_public_access_cidrs[1]: '203.0.113.7' needs a prefix length")
    assert errors[1].startswith("eks_cluster_public_access_cidrs[2]:")


@pytest.mark.parametrize(("env", "want"), [("", []), ("203.0.113.7/32, 198.51.100.0/24", ["203.0.113.7/32", "198.51.100.0/24"])])
def test_aws_inventory_has_no_allow_list_unless_given(env, want):
    """inventories/aws: no CIDR of its own (a loopback default once hid the 'set your CIDRs' check)."""
    environ = {k: v for k, v in os.environ.items() if k != "SPOTFLOW_API_CIDRS"} | {
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    if env:
        environ["SPOTFLOW_API_CIDRS"] = env
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible"), "-i", str(REPO / "inventories/aws"), "localhost",
                           "-m", "ansible.builtin.debug", "-a", "var=eks_cluster_public_access_cidrs", "-o"],
                          cwd=REPO, env=environ, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout.split("=>", 1)[1])["eks_cluster_public_access_cidrs"] == want


def test_types_and_zones_are_checked_against_the_region_before_any_change(localcloud, aws_calls, tmp_path):
    """Past the pre-flight, still before any change: the On-Demand group's types are looked up in the
    region (EC2) and must be offered there and run the AMI type's architecture (EKS would accept an
    arm64 AMI on x86 types; the nodes would never join) and in every zone of the nodes' subnets; given
    zones must exist and have EKS."""
    import uuid

    url, calls = aws_calls
    playbook = tmp_path / "eks.yml"
    playbook.write_text(PLAYBOOK)
    base = {"spotflow_cluster_name": "val-arch-" + uuid.uuid4().hex[:6], "spotflow_aws_endpoint_url": url,
            "eks_cluster_public_access_cidrs": ["203.0.113.7/32"]}
    for extra, message in [
        ({"eks_cluster_nodegroup_ami_type": "AL2023_ARM_64_STANDARD"},
         "eks_cluster_nodegroup_instance_types: eks_cluster_nodegroup_ami_type AL2023_ARM_64_STANDARD runs on arm64 "
         "instance types only, not m7i.large (x86_64)"),
        ({"eks_cluster_nodegroup_instance_types": ["m7i.large", "m9q.large"]},
         "eks_cluster_nodegroup_instance_types: not offered in"),
        ({"spotflow_region": "us-east-1", "eks_cluster_availability_zones": ["us-east-1a", "us-east-1e"]},
         "eks_cluster_availability_zones[1]: us-east-1e (zone ID use1-az3) has no EKS control planes"),
        # offered in the region, but not in every zone of the plan (EKS would refuse the node group)
        ({"spotflow_region": "us-east-1", "eks_cluster_nodegroup_instance_types": ["g7e.2xlarge"]},
         "eks_cluster_nodegroup_instance_types: g7e.2xlarge is not offered in us-east-1b"),
    ]:
        calls.clear()
        proc = localcloud.run_playbook(playbook, extra_vars=dict(base, **extra), timeout=300)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0 and message in out, out[-3000:]
        assert "TASK [eks_cluster : Check the" in out
        assert calls and all(re.match(r"^(Describe|List|Get)", c) for c in calls), calls
