"""spotflow.eks.pod_placement_info against the local cloud's real kube-apiserver, kube-scheduler and simulated nodes.

The playbook (playbooks/k8s_modules/pod_placement_info.yml) schedules worker pods
and a core Deployment and asserts on every step; this driver creates the node
groups (Spot: tainted spotInstance=true:PreferNoSchedule, label lifecycle=Ec2Spot;
on-demand: lifecycle=OnDemand), runs it and checks the PLAY RECAP.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

PLAYBOOK = Path(__file__).parent / "playbooks" / "k8s_modules" / "pod_placement_info.yml"


def _show(proc):
    return "rc={0}\n--- stdout\n{1}\n--- stderr\n{2}".format(proc.returncode, proc.stdout[-20000:], proc.stderr[-5000:])


@pytest.fixture(scope="module")
def run(localcloud):
    run_id = "pp{0}".format(uuid.uuid4().hex[:8])
    cluster = "spotflow-{0}".format(run_id)
    try:
        spot = localcloud.make_nodegroup(
            cluster, run_id + "-spot", capacity_type="SPOT", size=2,
            labels={"lifecycle": "Ec2Spot", "spotflow-test": run_id},
            taints=[{"key": "spotInstance", "value": "true", "effect": "PREFER_NO_SCHEDULE"}])
        od = localcloud.make_nodegroup(cluster, run_id + "-od", capacity_type="ON_DEMAND", size=1,
                                       labels={"lifecycle": "OnDemand", "spotflow-test": run_id})
        yield dict(run_id=run_id, cluster_name=cluster, test_namespace="placement-" + run_id,
                   spot_nodes=sorted(spot), od_nodes=sorted(od))
    finally:
        localcloud.delete_cluster(cluster)


def test_spot_nodes_carry_the_group_taint(localcloud, run):
    """The premise of the placement test: EKS put the group's taint on the Spot nodes."""
    from kubernetes import client

    v1 = client.CoreV1Api(localcloud.k8s(run["cluster_name"]))
    for name in run["spot_nodes"]:
        taints = [(t.key, t.value, t.effect) for t in v1.read_node(name).spec.taints or []]
        assert ("spotInstance", "true", "PreferNoSchedule") in taints, (name, taints)


def test_playbook(localcloud, run):
    proc = localcloud.run_playbook(PLAYBOOK, extra_vars=run)
    assert proc.returncode == 0, _show(proc)
    assert proc.recap["failed"] == 0, _show(proc)
    # every task ran: 28 ok, plus the 2 expected failures (fail_on_violations, wait timeout) ignored and asserted on
    assert (proc.recap["ok"], proc.recap["ignored"]) == (28, 2), _show(proc)
