# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the spot_nodegroup role (were {% set %} loops in its task files).

tasks/validate.yml: the checks of the settings and of each group, as messages that name the variable,
what it got and what is allowed, and the normalised groups every later step reads.
tasks/present.yml, tasks/delete.yml: the plan check, what exists after the apply, the cluster-autoscaler's
node template tags, the tolerations, the published fact, which node groups are ours.

Each keeps the Jinja it replaces: ``| int`` (``to_int``), ``| string``, ``| to_json``, ``is match``
(``re.match``), ``| combine`` and the case-insensitive ``| unique``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from ansible.module_utils.common.json import get_encoder

# Taint effects: both spellings map to the Kubernetes one.
EFFECTS = {
    "NoSchedule": "NoSchedule", "PreferNoSchedule": "PreferNoSchedule", "NoExecute": "NoExecute",
    "NO_SCHEDULE": "NoSchedule", "PREFER_NO_SCHEDULE": "PreferNoSchedule", "NO_EXECUTE": "NoExecute",
}
# Label and taint keys: optional DNS-subdomain prefix and "/", then a name of at most 63 characters
# (Kubernetes qualified names). Values: at most 63 characters, alphanumeric at both ends, - _ . inside.
KEY_REGEX = (r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
             r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
VALUE_REGEX = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"
# Label prefixes the kubelet may not set or EKS reserves for itself.
RESERVED_LABEL_REGEX = r"^(([^/]*\.)?(kubernetes\.io|k8s\.io)/|eks\.amazonaws\.com/)"
# what a kubelet may set on itself (NodeRestriction): node-restriction.kubernetes.io/ is exactly what it may not
ALLOWED_LABEL_REGEX = r"^([^/]*\.)?(node|kubelet)\.kubernetes\.io/"
# EKS node group names.
NAME_REGEX = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$"
# EKS limits of one managed node group.
MAX_INSTANCE_TYPES = 20
MAX_TAINTS = 50
# Auto Scaling tag limits: 50 tags per group (EKS uses 5), keys up to 128 characters.
MAX_ASG_TAGS = 45
MAX_TAG_KEY_LENGTH = 128

GROUPS = "spot_nodegroup_groups"


# -- the Jinja these filters replace ------------------------------------------------------------------

def to_int(value, default=0):
    """Jinja's ``| int``: "42" and "42.7" give 42, anything else ``default``."""
    try:
        return int(value, 10) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError, OverflowError):
            return default


def to_text(value):
    """Jinja's ``| string`` (and what ``~`` makes of a value)."""
    return value if isinstance(value, str) else str(value)


def to_json(value):
    """Ansible's ``| to_json``."""
    return json.dumps(value, cls=get_encoder("tagless"))


def combine(low, high):
    """Ansible's ``low | combine(high)`` (not recursive)."""
    if not low or low == high:
        return dict(high)
    out = dict(low)
    out.update(high)
    return out


def matches(regex, value):
    """Ansible's ``value is match(regex)``, except that a final ``$`` does not let a trailing newline through."""
    if regex.endswith("$"):
        regex = regex[:-1] + r"\Z"
    return re.match(regex, to_text(value)) is not None


def label_text(value):
    """A label or taint value as Kubernetes wants it: true/false for booleans, "" for null."""
    if isinstance(value, bool):
        return str(value).lower()
    return "" if value is None else to_text(value)


def get(value, key):
    """``value.key`` in Jinja: None (undefined) when ``value`` is not a dict or lacks ``key``."""
    return value.get(key) if isinstance(value, Mapping) else None


# -- tasks/validate.yml ---------------------------------------------------------------------------------

def spot_nodegroup_settings_errors(state, region, cluster_name, groups, memory_tolerance_percent, wait_timeout):
    """Problems of the role-wide settings (state is spot_nodegroup_state), as messages; [] when fine."""
    errors = []
    if not region:
        errors.append("spot_nodegroup_region (default: spotflow_region) must be set to an AWS region, got "
                      + to_json(to_text(region)))
    if not cluster_name:
        errors.append("spot_nodegroup_cluster_name (default: spotflow_cluster_name) must be set to the EKS cluster name, got "
                      + to_json(to_text(cluster_name)))
    if state == "present" and not groups:
        errors.append("spot_nodegroup_groups must list at least one node group when spot_nodegroup_state is present")
    if not 0 <= to_int(memory_tolerance_percent) <= 100:
        errors.append("spot_nodegroup_memory_tolerance_percent must be between 0 and 100, got "
                      + to_text(memory_tolerance_percent))
    if to_int(wait_timeout) <= 0:
        errors.append("spot_nodegroup_wait_timeout must be > 0 (seconds), got " + to_text(wait_timeout))
    return errors


def spot_nodegroup_normalised(groups, lifecycle_label, *, labels, taints, min_size, max_size, desired_size,
                              ami_type, disk_size, max_unavailable_percentage, autoscaler_resources):
    """spot_nodegroup_groups with the global defaults (the keyword arguments) filled in, labels and taint
    values as strings, taint effects in Kubernetes spelling ("" when unknown), and for the checks: each
    group's ``where`` (spot_nodegroup_groups[i]), its ``user_labels`` (without ``lifecycle_label``) and
    ``taint_checks`` (each taint with its ``raw_effect`` and the variable it came from)."""
    out = []
    for i, g in enumerate(groups or []):
        user_labels = {}
        for k, v in combine(labels or {}, g.get("labels") or {}).items():
            user_labels[to_text(k)] = label_text(v)
        own_taints = g.get("taints") is not None
        group_taints, taint_checks = [], []
        for j, t in enumerate(g["taints"] if own_taints else (taints or [])):
            raw_effect = to_text(t.get("effect", ""))
            taint = {"key": to_text(t.get("key", "")), "value": label_text(t.get("value")), "effect": EFFECTS.get(raw_effect, "")}
            group_taints.append(taint)
            where = "{0}[{1}].taints[{2}]".format(GROUPS, i, j) if own_taints else "spot_nodegroup_taints[{0}]".format(j)
            taint_checks.append(dict(taint, raw_effect=raw_effect, where=where))
        out.append({
            "index": i,
            "where": "{0}[{1}]".format(GROUPS, i),
            "name": to_text(g.get("name", "")),
            "instance_types": [to_text(t) for t in g.get("instance_types") or []],
            "min_size": to_int(min_size if g.get("min_size") is None else g["min_size"]),
            "max_size": to_int(max_size if g.get("max_size") is None else g["max_size"]),
            "desired_size": to_int(desired_size if g.get("desired_size") is None else g["desired_size"]),
            "user_labels": user_labels,
            "labels": combine(user_labels, lifecycle_label),
            "taints": group_taints,
            "taint_checks": taint_checks,
            "subnet_ids": g.get("subnet_ids"),
            "ami_type": g.get("ami_type") or ami_type,
            "disk_size": to_int(disk_size if g.get("disk_size") is None else g["disk_size"]),
            "max_unavailable_percentage": to_int(max_unavailable_percentage if g.get("max_unavailable_percentage") is None
                                                 else g["max_unavailable_percentage"]),
            "autoscaler_resources": g.get("autoscaler_resources") or autoscaler_resources or {},
        })
    return out


def spot_nodegroup_duplicates(names):
    """The names listed more than once, each once, in order."""
    seen, duplicates = [], []
    for name in names or []:
        if name in seen and name not in duplicates:
            duplicates.append(name)
        seen.append(name)
    return duplicates


def spot_nodegroup_group_errors(group, state):
    """Problems of one normalised group: its name; with state present also its instance type list and sizes.
    (Whether each name is an EC2 instance type is the collection filter spotflow.eks.ec2_instance_type_errors.)"""
    where, types = group["where"], group["instance_types"]
    errors = []
    if not matches(NAME_REGEX, group["name"]):
        errors.append("{0}.name must be 1-63 letters, digits, - or _ (starting with a letter or digit), got {1}".format(
            where, to_json(group["name"])))
    if state != "present":
        return errors
    low, high, desired = group["min_size"], group["max_size"], group["desired_size"]
    if not types:
        errors.append(where + ".instance_types must list at least one instance type")
    # | unique compares without case
    if len(set(t.lower() for t in types)) != len(types):
        errors.append("{0}.instance_types lists a type more than once: {1}".format(where, ", ".join(types)))
    if len(types) > MAX_INSTANCE_TYPES:
        errors.append("{0}.instance_types may list at most {1} types (EKS), got {2}".format(
            where, MAX_INSTANCE_TYPES, len(types)))
    if low < 0:
        errors.append("{0}.min_size (or spot_nodegroup_min_size) must be >= 0, got {1}".format(where, low))
    if high < 1:
        errors.append("{0}.max_size (or spot_nodegroup_max_size) must be >= 1, got {1}".format(where, high))
    if low > high:
        errors.append("{0}.min_size must be <= max_size, got min_size={1} > max_size={2}".format(where, low, high))
    if not low <= desired <= high:
        errors.append("{0}.desired_size must be between min_size and max_size ({1}..{2}), got {3}".format(
            where, low, high, desired))
    if group["disk_size"] < 20:
        errors.append("{0}.disk_size (or spot_nodegroup_disk_size) must be >= 20 (GiB), got {1}".format(
            where, group["disk_size"]))
    if not 0 <= group["max_unavailable_percentage"] <= 100:
        errors.append("{0}.max_unavailable_percentage (or spot_nodegroup_max_unavailable_percentage) must be 1-100, "
                      "or 0 for the EKS default, got {1}".format(where, group["max_unavailable_percentage"]))
    return errors


def spot_nodegroup_label_errors(group, lifecycle_label, prefix):
    """Problems of one normalised group's labels: Kubernetes label syntax, reserved prefixes, the length of
    the node template tag key (``prefix`` label/<key>), and ``lifecycle_label`` not overridden."""
    where = group["where"] + ".labels (with spot_nodegroup_labels)"
    tag_prefix = to_text(prefix) + "label/"
    errors = []
    for k, v in group["user_labels"].items():
        if not matches(KEY_REGEX, k):
            errors.append("{0}: label key {1} is not a valid Kubernetes label key ([prefix/]name, name at most 63 characters "
                          "of letters, digits, - _ ., alphanumeric at both ends)".format(where, to_json(k)))
        elif matches(RESERVED_LABEL_REGEX, k) and not matches(ALLOWED_LABEL_REGEX, k):
            errors.append("{0}: label key {1} uses a reserved prefix (kubernetes.io, k8s.io, eks.amazonaws.com; "
                          "only node.kubernetes.io/ and kubelet.kubernetes.io/ are allowed)".format(where, to_json(k)))
        if not matches(VALUE_REGEX, v):
            errors.append("{0}: value of label {1} must be at most 63 letters, digits, - _ . (alphanumeric at both ends), "
                          "got {2}".format(where, k, to_json(v)))
        if len(tag_prefix + k) > MAX_TAG_KEY_LENGTH:
            errors.append("{0}: label key {1} is too long for its cluster-autoscaler node-template tag (at most {2} "
                          "characters)".format(where, k, MAX_TAG_KEY_LENGTH - len(tag_prefix)))
    for k, v in lifecycle_label.items():
        if k in group["user_labels"] and group["user_labels"][k] != v:
            errors.append("{0}: label {1} is always {2} on Spot nodes (airflow_app selects workers by it), got {3}".format(
                where, k, v, to_json(group["user_labels"][k])))
    return errors


def spot_nodegroup_taint_errors(group, prefix, owner_tags, tags):
    """Problems of one normalised group's taints (effect, key, value, one effect per key, the length of the
    node template tag key), their number, and the number of Auto Scaling group tags the group needs with
    ``owner_tags`` and ``tags`` (spot_nodegroup_tags)."""
    tag_prefix = to_text(prefix) + "taint/"
    errors, keys = [], []
    for t in group["taint_checks"]:
        if not t["effect"]:
            errors.append("{0}.effect must be NoSchedule, PreferNoSchedule or NoExecute (EKS spelling NO_SCHEDULE, "
                          "PREFER_NO_SCHEDULE, NO_EXECUTE is accepted too), got {1}".format(t["where"], to_json(t["raw_effect"])))
        if not matches(KEY_REGEX, t["key"]):
            errors.append("{0}.key must be a valid Kubernetes taint key ([prefix/]name, name at most 63 characters), "
                          "got {1}".format(t["where"], to_json(t["key"])))
        elif len(tag_prefix + t["key"]) > MAX_TAG_KEY_LENGTH:
            errors.append("{0}.key is too long for its cluster-autoscaler node-template tag: {1}".format(t["where"], t["key"]))
        if not matches(VALUE_REGEX, t["value"]):
            errors.append("{0}.value must be at most 63 letters, digits, - _ . (alphanumeric at both ends), got {1}".format(
                t["where"], to_json(t["value"])))
        if t["key"] in keys:
            errors.append("{0}.key {1} is used twice in {2}: the cluster-autoscaler node-template tag holds one effect "
                          "per key".format(t["where"], t["key"], group["where"]))
        keys.append(t["key"])
    if len(group["taints"]) > MAX_TAINTS:
        errors.append("{0} may have at most {1} taints (EKS), got {2}".format(group["where"], MAX_TAINTS, len(group["taints"])))
    tag_count = (len(group["labels"]) + len(group["taints"]) + len(group["autoscaler_resources"]) + 1
                 + len(combine(owner_tags, tags or {})))
    if tag_count > MAX_ASG_TAGS:
        errors.append("{0}: labels, taints, autoscaler_resources and spot_nodegroup_tags need {1} Auto Scaling group tags, "
                      "at most {2} fit".format(group["where"], tag_count, MAX_ASG_TAGS))
    return errors


# -- tasks/present.yml, tasks/delete.yml ---------------------------------------------------------------------

def owned(tags, owner_tags):
    """Whether ``tags`` carry every one of ``owner_tags``."""
    tags = tags or {}
    return combine(tags, owner_tags) == tags


def spot_nodegroup_plan_errors(results, cluster_name, owner_tags):
    """Problems found by the check-mode plan (the loop results of eks_nodegroup; skipped items are ignored):
    a node group of that name that is not ours, a replacement EKS cannot do in place, any other failure."""
    errors = []
    for r in results or []:
        if "skipped" in r:
            continue
        where = "node group {0} ({1})".format(r["item"]["name"], r["item"]["where"])
        before = get(r.get("diff"), "before") or {}
        exists = len(before) > 0 or "replacements" in r
        current_tags = (get(before, "tags") if len(before) > 0 else get(r.get("nodegroup"), "tags")) or {}
        if exists and not owned(current_tags, owner_tags):
            errors.append("{0} exists in cluster {1} without the tags {2}: it is not managed by spot_nodegroup, refusing "
                          "to change it (use another name)".format(where, cluster_name, to_json(owner_tags)))
        elif "replacements" in r:
            fields = ", ".join("{0}: {1} -> {2}".format(c["field"], to_json(c.get("current")), to_json(c.get("desired")))
                               for c in r["replacements"] or [])
            errors.append("{0} needs a replacement, EKS cannot change in place {1}. Set spot_nodegroup_replace_on_change: "
                          "true to delete and recreate it (its nodes go away for some minutes), or give the group a new "
                          "name (created first; the old one is pruned)".format(where, fields))
        elif r.get("failed", False):
            errors.append("{0}: {1}".format(where, r["msg"] if "msg" in r else "planning failed"))
    return errors


def spot_nodegroup_to_check(groups, planned):
    """The groups whose instance types and zones must be checked against the region: every group the plan
    (``planned``: the check-mode loop results, one per group) would create or change, failed on, or did not
    reach; none that exists as it is wanted. Every group when there is no plan (no node role yet: check mode
    on an empty account). EKS accepted an unchanged group's types and subnets when it was made."""
    planned = list(planned or [])
    if len(planned) != len(groups or []):
        return list(groups or [])
    out = []
    for g, r in zip(groups, planned):
        diff = r.get("diff") or {}
        before = diff.get("before") or {}
        unchanged = not r.get("skipped") and not r.get("failed") and len(before) > 0 and before == diff.get("after")
        if not unchanged:
            out.append(g)
    return out


def spot_nodegroup_current(groups, applied, planned):
    """Per normalised group, what exists after the apply: its Auto Scaling group ("" when none yet), whether
    the node group exists, and the taints it had before the run and no longer has (``stale_taints``, in
    Kubernetes spelling). ``applied`` and ``planned`` are the loop results of the apply and plan tasks."""
    applied, planned = list(applied or []), list(planned or [])
    out = []
    for i, g in enumerate(groups or []):
        ng = get(applied[i] if i < len(applied) else {}, "nodegroup") or {}
        asgs = get(get(ng, "resources"), "auto_scaling_groups") or []
        before = get(get(planned[i] if i < len(planned) else {}, "diff"), "before") or {}
        wanted = ["{0}:{1}".format(t["key"], t["effect"]) for t in g["taints"]]
        stale = []
        for t in get(before, "taints") or []:
            effect = EFFECTS.get(t.get("effect"), t.get("effect"))
            if "{0}:{1}".format(t.get("key"), effect) not in wanted:
                stale.append({"key": t.get("key"), "effect": effect})
        out.append({
            "group": g,
            "name": g["name"],
            "asg_name": asgs[0]["name"] if asgs else "",
            "exists": len(ng.get("nodegroup_arn") or "") > 0,
            "stale_taints": stale,
        })
    return out


def spot_nodegroup_settled(applied, current):
    """True when the apply (loop results) changed no group and found each ACTIVE, and ``current``
    (``spot_nodegroup_current``) has each group existing with its Auto Scaling group (so tagged and its nodes
    tainted in the same pass): a later pass of the play, which would wait, has nothing left to do."""
    applied, current = list(applied or []), list(current or [])
    return len(applied) > 0 and len(applied) == len(current) and all(
        not r.get("changed") and not r.get("skipped") and not r.get("failed")
        and get(get(r, "nodegroup"), "status") == "ACTIVE" for r in applied) and all(
        c.get("exists") and c.get("asg_name") for c in current)


def spot_nodegroup_ours(nodegroups, owner_tags, keep):
    """Names of the node groups (eks_nodegroup_info) that carry ``owner_tags`` and are not in ``keep``."""
    return [ng["nodegroup_name"] for ng in nodegroups or []
            if ng["nodegroup_name"] not in keep and owned(ng.get("tags"), owner_tags)]


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
            "spot_nodegroup_settings_errors": spot_nodegroup_settings_errors,
            "spot_nodegroup_normalised": spot_nodegroup_normalised,
            "spot_nodegroup_duplicates": spot_nodegroup_duplicates,
            "spot_nodegroup_group_errors": spot_nodegroup_group_errors,
            "spot_nodegroup_label_errors": spot_nodegroup_label_errors,
            "spot_nodegroup_taint_errors": spot_nodegroup_taint_errors,
            "spot_nodegroup_plan_errors": spot_nodegroup_plan_errors,
            "spot_nodegroup_to_check": spot_nodegroup_to_check,
            "spot_nodegroup_current": spot_nodegroup_current,
            "spot_nodegroup_settled": spot_nodegroup_settled,
            "spot_nodegroup_ours": spot_nodegroup_ours,
            "spot_nodegroup_template_tags": spot_nodegroup_template_tags,
            "spot_nodegroup_tolerations": spot_nodegroup_tolerations,
            "spot_nodegroup_published": spot_nodegroup_published,
        }
