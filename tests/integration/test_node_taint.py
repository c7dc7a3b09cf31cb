"""spotflow.eks.node_taint against the local cloud's real kube-apiserver and simulated EKS nodes.

The playbook (playbooks/k8s_modules/node_taint.yml) asserts on every step; this
driver creates the node groups, runs it, checks the PLAY RECAP, and tests the
optimistic locking directly against the apiserver.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

PLAYBOOK = Path(__file__).parent / "playbooks" / "k8s_modules" / "node_taint.yml"
SPOT = {"key": "spotInstance", "value": "true", "effect": "PreferNoSchedule"}


def _show(proc):
    return "rc={0}\n--- stdout\n{1}\n--- stderr\n{2}".format(proc.returncode, proc.stdout[-20000:], proc.stderr[-5000:])


@pytest.fixture(scope="module")
def run(localcloud):
    """A cluster with a Spot node group (2 nodes) and an on-demand one (1 node), labelled for this run only."""
    run_id = "nt{0}".format(uuid.uuid4().hex[:8])
    cluster = "spotflow-{0}".format(run_id)
    try:
        spot = localcloud.make_nodegroup(cluster, run_id + "-spot", capacity_type="SPOT", size=2,
                                         labels={"lifecycle": "Ec2Spot", "spotflow-test": run_id})
        od = localcloud.make_nodegroup(cluster, run_id + "-od", capacity_type="ON_DEMAND", size=1,
                                       labels={"lifecycle": "OnDemand", "spotflow-test": run_id})
        yield dict(run_id=run_id, cluster_name=cluster, spot_nodes=sorted(spot), od_nodes=sorted(od))
    finally:
        localcloud.delete_cluster(cluster)


def test_playbook(localcloud, run):
    proc = localcloud.run_playbook(PLAYBOOK, extra_vars=run)
    assert proc.returncode == 0, _show(proc)
    assert proc.recap["failed"] == 0, _show(proc)
    # every task ran: 46 ok, plus the 3 expected failures (require_match, bad effect, bad selector) ignored and asserted on
    assert (proc.recap["ok"], proc.recap["ignored"]) == (46, 3), _show(proc)
    # --diff style output of the task with `diff: true`, one section per node
    for name in run["spot_nodes"]:
        assert "--- before: node/{0}".format(name) in proc.stdout, _show(proc)
        assert "+++ after: node/{0}".format(name) in proc.stdout, _show(proc)


class _Module:
    """The little of AnsibleModule that ensure_node uses."""

    check_mode = False

    def fail_json(self, **kwargs):
        raise AssertionError("fail_json({0})".format(kwargs))


def test_stale_resource_version_is_refused(localcloud, run):
    """The precondition the module relies on: a patch carrying an old resourceVersion gets 409."""
    from ansible_collections.spotflow.eks.plugins.module_utils.k8s import call_json
    from ansible_collections.spotflow.eks.plugins.modules import node_taint
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    v1 = client.CoreV1Api(localcloud.k8s(run["cluster_name"]))
    name = run["od_nodes"][0]
    stale = call_json(v1.read_node, name)["metadata"]["resourceVersion"]
    v1.patch_node(name, {"metadata": {"labels": {"spotflow-touched": "1"}}})  # someone else writes
    with pytest.raises(ApiException) as err:
        node_taint.patch_node_taints(v1, name, stale, [SPOT])
    assert err.value.status == 409
    assert not [t for t in v1.read_node(name).spec.taints or [] if t.key == "spotInstance"]


def test_conflict_is_retried_and_the_other_write_kept(localcloud, run):
    """A taint another client adds between our read and our write survives, and ours lands too."""
    from ansible_collections.spotflow.eks.plugins.module_utils.k8s import call_json
    from ansible_collections.spotflow.eks.plugins.modules import node_taint
    from kubernetes import client

    v1 = client.CoreV1Api(localcloud.k8s(run["cluster_name"]))
    other = client.CoreV1Api(localcloud.k8s(run["cluster_name"]))
    name = run["od_nodes"][0]
    theirs = {"key": "example.com/meanwhile", "value": "x", "effect": "NoSchedule"}

    class Racing:
        """CoreV1Api whose first patch is preceded by another client's write."""

        raced = False

        def __getattr__(self, attr):
            return getattr(v1, attr)

        def patch_node(self, *args, **kwargs):
            if not self.raced:
                self.raced = True
                node = other.read_node(name)
                current = [other.api_client.sanitize_for_serialization(t) for t in node.spec.taints or []]
                other.patch_node(name, {"spec": {"taints": current + [theirs]}})
            return v1.patch_node(*args, **kwargs)

    api = Racing()
    node = call_json(v1.read_node, name)
    result = node_taint.ensure_node(_Module(), api, node, [SPOT], "present", False)
    assert api.raced
    assert result["changed"]
    final = call_json(v1.read_node, name)["spec"]["taints"]
    assert theirs in final
    assert SPOT in final
    assert result["taints_after"] == final
    # clean up for the other tests of this module
    node = call_json(v1.read_node, name)
    node_taint.ensure_node(_Module(), v1, node, [theirs, SPOT], "absent", False)
