"""The spot_nodegroup role's filters: node template tags, tolerations, the published fact."""

from __future__ import annotations

import importlib.util

from tests.unit.test_module_docs import REPO

_spec = importlib.util.spec_from_file_location(
    "spot_nodegroup_filters", REPO / "roles" / "spot_nodegroup" / "filter_plugins" / "spot_nodegroup.py")
f = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(f)

P = "k8s.io/cluster-autoscaler/node-template/"
TAINTS = [{"key": "spotInstance", "value": "true", "effect": "PreferNoSchedule"},
          {"key": "dedicated", "value": "", "effect": "NoSchedule"}]
GROUP = {"labels": {"lifecycle": "Ec2Spot"}, "taints": TAINTS, "autoscaler_resources": {"ephemeral-storage": "50Gi"},
         "instance_types": ["m5.xlarge", "m5a.xlarge"], "min_size": 0, "max_size": 10}


def test_template_tags_tell_the_autoscaler_labels_taints_and_resources():
    assert f.spot_nodegroup_template_tags(GROUP, "spot-a", P) == {
        P + "label/lifecycle": "Ec2Spot",
        P + "label/eks.amazonaws.com/capacityType": "SPOT",
        P + "label/eks.amazonaws.com/nodegroup": "spot-a",
        P + "taint/spotInstance": "true:PreferNoSchedule",
        P + "taint/dedicated": ":NoSchedule",
        P + "resources/ephemeral-storage": "50Gi",
    }


def test_tolerations_are_distinct_equal_or_exists():
    assert f.spot_nodegroup_tolerations(TAINTS + TAINTS[:1]) == [
        {"key": "spotInstance", "operator": "Equal", "value": "true", "effect": "PreferNoSchedule"},
        {"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}]


def test_published_nodegroups():
    assert f.spot_nodegroup_published([{"name": "spot-a", "group": GROUP, "asg_name": "eks-spot-a-1"}]) == [{
        "name": "spot-a", "capacity_type": "SPOT", "instance_types": ["m5.xlarge", "m5a.xlarge"],
        "labels": {"lifecycle": "Ec2Spot"}, "taints": TAINTS, "asg_name": "eks-spot-a-1", "min": 0, "max": 10}]
