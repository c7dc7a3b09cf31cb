# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the spot_nodegroup role: what the cluster-autoscaler's node template tags, the tolerations
and the published fact hold (were {% set %} loops in tasks/present.yml)."""

from __future__ import annotations


def spot_nodegroup_template_tags(group, name, prefix):
    """The Auto Scaling group tags from which cluster-autoscaler builds a future node of ``group``
    (scaling from zero): its labels (with EKS's capacity type and node group), taints and resources."""
    labels = dict(group.get("labels") or {})
    labels.update({"eks.amazonaws.com/capacityType": "SPOT", "eks.amazonaws.com/nodegroup": name})
    tags = dict((prefix + "label/" + k, v) for k, v in labels.items())
    tags.update((prefix + "taint/" + t["key"], "{0}:{1}".format(t.get("value") or "", t["effect"])) for t in group.get("taints") or [])
    tags.update((prefix + "resources/" + k, str(v)) for k, v in (group.get("autoscaler_resources") or {}).items())
    return tags


def spot_nodegroup_tolerations(taints):
    """One toleration per distinct taint (Equal with a value, Exists without), in order."""
    out = []
    for t in taints or []:
        tol = ({"key": t["key"], "operator": "Equal", "value": t["value"], "effect": t["effect"]} if t.get("value")
               else {"key": t["key"], "operator": "Exists", "effect": t["effect"]})
        if tol not in out:
            out.append(tol)
    return out


def spot_nodegroup_published(current):
    """spotflow_spot.nodegroups: what other roles read about each group."""
    return [{"name": c["name"], "capacity_type": "SPOT", "instance_types": c["group"]["instance_types"],
             "labels": c["group"]["labels"], "taints": c["group"]["taints"], "asg_name": c["asg_name"],
             "min": c["group"]["min_size"], "max": c["group"]["max_size"]} for c in current or []]


class FilterModule:
    def filters(self):
        return {
            "spot_nodegroup_template_tags": spot_nodegroup_template_tags,
            "spot_nodegroup_tolerations": spot_nodegroup_tolerations,
            "spot_nodegroup_published": spot_nodegroup_published,
        }
