"""spot_nodegroup refuses bad input before it changes anything.

Each case runs the role with real ansible-playbook against the local cloud and
asserts (1) the run failed, (2) the message names the variable and says what
is wrong, (3) no AWS call that changes something was made, and (4) nothing was
created. For (3) the role talks to the local cloud through a recording proxy
(``aws_calls`` in conftest.py) that logs every request's operation; only reads may appear.
(amazon.aws's aws_resource_actions callback cannot do this here: it only
recognises https://<service>.<region>... endpoints.)

The last test needs an existing group: a change EKS cannot make in place
(instance types) fails before any change while spot_nodegroup_replace_on_change
is false, and replaces the group when it is true.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

PLAYBOOK = """\
- name: Run spot_nodegroup
  hosts: localhost
  gather_facts: false
  roles:
    - role: spot_nodegroup
"""
READ_ONLY = re.compile(r"^(Describe|List|Get)([A-Za-z]*$| /)")
NODE_ROLE_ARN = "arn:aws:iam::123456789012:role/sfw-it-spot-node"


@pytest.fixture
def playbook(tmp_path: Path) -> Path:
    path = tmp_path / "spot_nodegroup.yml"
    path.write_text(PLAYBOOK)
    return path


@pytest.fixture
def run(localcloud, playbook, aws_calls):
    """Run the role with extra vars; return (process, AWS operations called, output).

    ``recorded=True`` sends the role's AWS calls through the recording proxy;
    runs that reach Kubernetes go direct (the EKS token presigns its URL)."""
    url, calls = aws_calls

    def _run(extra_vars: dict, check: bool = False, recorded: bool = True):
        calls.clear()
        if recorded:
            extra_vars = dict(extra_vars, spotflow_aws_endpoint_url=url)
        proc = localcloud.run_playbook(playbook, extra_vars=extra_vars, check=check, timeout=600)
        return proc, list(calls), proc.stdout + proc.stderr

    return _run


def _vars(cluster: str, subnets: list[str], **overrides) -> dict:
    base = {
        "spotflow_cluster_name": cluster,
        "spot_nodegroup_node_role_arn": NODE_ROLE_ARN,
        "spot_nodegroup_subnet_ids": subnets,
        "spot_nodegroup_groups": [{"name": f"{cluster}-spot", "instance_types": ["m5.xlarge", "m6i.xlarge"]}],
    }
    base.update(overrides)
    return base


@pytest.fixture(scope="module")
def cluster(localcloud):
    name = "sfw-it-spot-" + uuid.uuid4().hex[:6]
    localcloud.ensure_cluster(name)
    yield name
    localcloud.delete_cluster(name)


def _assert_refused(proc, actions, out, *fragments):
    assert proc.returncode != 0, f"the run should have failed:\n{out[-3000:]}"
    for fragment in fragments:
        assert fragment in out, f"message lacks {fragment!r}:\n{out[-3000:]}"
    changing = [a for a in actions if not READ_ONLY.match(a)]
    assert not changing, f"AWS calls that change something were made before the failure: {changing}"
    return actions
    if proc.recap is not None:
        assert proc.recap["changed"] == 0, out[-3000:]


def _nodegroups(localcloud, cluster) -> list[str]:
    return localcloud.boto3("eks").list_nodegroups(clusterName=cluster)["nodegroups"]


# case: (extra vars, message fragments, the only AWS operations allowed before the failure, besides the plan's reads)
CASES = {
    "unknown instance type": (
        {"spot_nodegroup_groups": [{"name": "g", "instance_types": ["m5.xlarge", "zz9.xlarge"]}]},
        ["spot_nodegroup_groups[0].instance_types: not offered in us-east-1: zz9.xlarge"],
        ["DescribeInstanceTypes"],
    ),
    "type missing in a zone of the subnets": (
        {"spot_nodegroup_groups": [{"name": "g", "instance_types": ["g7e.2xlarge"]}]},
        ["spot_nodegroup_groups[0].instance_types: g7e.2xlarge is not offered in us-east-1b"],
        ["DescribeInstanceTypes", "DescribeSubnets", "DescribeInstanceTypeOfferings"],
    ),
    "mixed sizes in a group": (
        {"spot_nodegroup_groups": [{"name": "g", "instance_types": ["m5.large", "m5.xlarge"]}]},
        ["spot_nodegroup_groups[0].instance_types must have equal size: m5.large=2 vCPU/8 GiB, m5.xlarge=4 vCPU/16 GiB"],
        ["DescribeInstanceTypes"],
    ),
    "memory outside the tolerance": (
        {"spot_nodegroup_groups": [{"name": "g", "instance_types": ["m5.xlarge", "r5.xlarge"]}],
         "spot_nodegroup_memory_tolerance_percent": 50},
        ["spot_nodegroup_groups[0].instance_types must have equal size (memory within 50%): "
         "m5.xlarge=4 vCPU/16 GiB, r5.xlarge=4 vCPU/32 GiB"],
        ["DescribeInstanceTypes"],
    ),
    "architecture not of the AMI": (
        {"spot_nodegroup_groups": [{"name": "g", "instance_types": ["m6i.xlarge", "m6g.xlarge"]}]},
        ["spot_nodegroup_groups[0].instance_types: spot_nodegroup_groups[0].ami_type AL2023_x86_64_STANDARD runs on "
         "x86_64 instance types only, not m6g.xlarge (arm64)"],
        ["DescribeInstanceTypes"],
    ),
    "taint with an invalid effect (global)": (
        {"spot_nodegroup_taints": [{"key": "spotInstance", "value": "true", "effect": "Sometimes"}]},
        ["value of effect must be one of: NoSchedule, PreferNoSchedule, NoExecute, NO_SCHEDULE, PREFER_NO_SCHEDULE, "
         "NO_EXECUTE, got: Sometimes found in spot_nodegroup_taints"],
        [],
    ),
    "taint with an invalid effect (group)": (
        {"spot_nodegroup_groups": [{"name": "g", "instance_types": ["m5.xlarge"],
                                    "taints": [{"key": "spotInstance", "effect": "NoScheduling"}]}]},
        ["value of effect must be one of: NoSchedule, PreferNoSchedule, NoExecute, NO_SCHEDULE, PREFER_NO_SCHEDULE, "
         "NO_EXECUTE, got: NoScheduling found in spot_nodegroup_groups -> taints"],
        [],
    ),
    "missing region": (
        {"spotflow_region": ""},
        ["spot_nodegroup_region (default: spotflow_region) must be set to an AWS region"],
        [],
    ),
    "min greater than max": (
        {"spot_nodegroup_groups": [{"name": "g", "instance_types": ["m5.xlarge"], "min_size": 5, "max_size": 2,
                                    "desired_size": 3}]},
        ["spot_nodegroup_groups[0].min_size must be <= max_size, got min_size=5 > max_size=2"],
        [],
    ),
    "desired outside min..max": (
        {"spot_nodegroup_groups": [{"name": "g", "instance_types": ["m5.xlarge"], "desired_size": 11}]},
        ["spot_nodegroup_groups[0].desired_size must be between min_size and max_size (0..10), got 11"],
        [],
    ),
    "duplicate group names": (
        {"spot_nodegroup_groups": [{"name": "g", "instance_types": ["m5.xlarge"]},
                                   {"name": "g", "instance_types": ["m5.large"]}]},
        ["spot_nodegroup_groups must have unique names; listed more than once: g"],
        [],
    ),
    "empty instance_types": (
        {"spot_nodegroup_groups": [{"name": "g", "instance_types": []}]},
        ["spot_nodegroup_groups[0].instance_types must list at least one instance type"],
        [],
    ),
    "invalid label key": (
        {"spot_nodegroup_labels": {"bad key!": "x"}},
        ['spot_nodegroup_groups[0].labels (with spot_nodegroup_labels): label key "bad key!" is not a valid '
         "Kubernetes label key"],
        [],
    ),
    "reserved label prefix": (
        {"spot_nodegroup_labels": {"eks.amazonaws.com/capacityType": "ON_DEMAND"}},
        ['label key "eks.amazonaws.com/capacityType" uses a reserved prefix'],
        [],
    ),
    "lifecycle label overridden": (
        {"spot_nodegroup_labels": {"lifecycle": "OnDemand"}},
        ['label lifecycle is always Ec2Spot on Spot nodes (airflow_app selects workers by it), got "OnDemand"'],
        [],
    ),
    "invalid group name": (
        {"spot_nodegroup_groups": [{"name": "spot workers", "instance_types": ["m5.xlarge"]}]},
        ['spot_nodegroup_groups[0].name must be 1-63 letters, digits, - or _'],
        [],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_refused_before_any_change(localcloud, run, cluster, case):
    overrides, fragments, allowed = CASES[case]
    proc, actions, out = run(_vars(cluster, localcloud.vpc()["subnet_ids"], **overrides))
    _assert_refused(proc, actions, out, *fragments)
    # the instance types are checked for the groups the plan (a read of each group) would create or change;
    # everything else is checked before any call
    plan = {a for a in actions if a.startswith(f"Get /clusters/{cluster}/node-groups/")}
    assert bool(plan) == bool(allowed), f"AWS calls before the failure: {actions}"
    assert sorted(set(actions) - plan) == sorted(allowed), f"AWS calls before the failure: {actions}"
    assert _nodegroups(localcloud, cluster) == []


def test_replacement_refused_unless_allowed(localcloud, run, cluster):
    subnets = localcloud.vpc()["subnet_ids"]
    name = f"{cluster}-spot"
    try:
        proc, _actions, out = run(_vars(cluster, subnets), recorded=False)
        assert proc.returncode == 0, out[-4000:]
        eks = localcloud.boto3("eks")
        before = eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]

        bigger = [{"name": name, "instance_types": ["m5.2xlarge", "m6i.2xlarge"]}]
        proc, actions, out = run(_vars(cluster, subnets, spot_nodegroup_groups=bigger))
        actions = _assert_refused(
            proc, actions, out,
            f"node group {name} (spot_nodegroup_groups[0]) needs a replacement, EKS cannot change in place "
            'instance_types: ["m5.xlarge", "m6i.xlarge"] -> ["m5.2xlarge", "m6i.2xlarge"]',
            "Set spot_nodegroup_replace_on_change: true",
        )
        # it did look: instance types and the node group were read
        assert "DescribeInstanceTypes" in actions and any(a.startswith("Get /clusters/") for a in actions), actions
        after = eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]
        assert after["nodegroupArn"] == before["nodegroupArn"]
        assert after["instanceTypes"] == ["m5.xlarge", "m6i.xlarge"]

        proc, _actions, out = run(_vars(cluster, subnets, spot_nodegroup_groups=bigger,
                                        spot_nodegroup_replace_on_change=True), recorded=False)
        assert proc.returncode == 0, out[-4000:]
        replaced = eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]
        assert replaced["nodegroupArn"] != before["nodegroupArn"]
        assert replaced["instanceTypes"] == ["m5.2xlarge", "m6i.2xlarge"]
        assert replaced["capacityType"] == "SPOT"
        localcloud.wait_for_nodes(cluster, name, 2)
    finally:
        proc, _actions, out = run(_vars(cluster, subnets, spot_nodegroup_state="absent"), recorded=False)
        assert proc.returncode == 0, out[-4000:]
    assert _nodegroups(localcloud, cluster) == []


def test_foreign_group_is_left_alone(localcloud, run, cluster):
    """A node group of the same name without our tags is neither changed nor deleted."""
    subnets = localcloud.vpc()["subnet_ids"]
    name = f"{cluster}-spot"
    eks = localcloud.boto3("eks")
    eks.create_nodegroup(clusterName=cluster, nodegroupName=name, nodeRole=NODE_ROLE_ARN, subnets=subnets,
                         scalingConfig={"minSize": 0, "maxSize": 1, "desiredSize": 0},
                         instanceTypes=["m5.xlarge", "m6i.xlarge"], capacityType="SPOT", labels={"owner": "someone-else"})
    try:
        proc, actions, out = run(_vars(cluster, subnets))
        _assert_refused(proc, actions, out, f"node group {name} (spot_nodegroup_groups[0]) exists in cluster {cluster} "
                        "without the tags", "it is not managed by spot_nodegroup, refusing to change it")
        assert eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]["labels"] == {"owner": "someone-else"}

        proc, actions, out = run(_vars(cluster, subnets, spot_nodegroup_state="absent"))
        assert proc.returncode == 0, out[-4000:]
        assert f"Node group {name} of cluster {cluster} is not tagged" in out
        assert [a for a in actions if not READ_ONLY.match(a)] == [], actions
        assert _nodegroups(localcloud, cluster) == [name]
    finally:
        localcloud.delete_nodegroup(cluster, name)
