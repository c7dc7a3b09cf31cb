# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure logic of spotflow.eks.eks_nodegroup: no AWS calls, unit-tested alone.

Input on the "desired" side is the module's options (snake_case); the "current"
side is an EKS ``DescribeNodegroup`` answer (camelCase). Outputs are EKS API
payloads (``UpdateNodegroupConfig``'s ``labels``, ``taints``, ``scalingConfig``,
``updateConfig``) or None when nothing has to change.

Identity rules, as EKS applies them:
- a label is identified by its key: a changed value is an ``addOrUpdateLabels``;
- a taint is identified by key and effect (Kubernetes allows ``k=v:NoSchedule``
  and ``k=v:NoExecute`` side by side): a changed value is an
  ``addOrUpdateTaints``; a changed effect is a removal plus an addition.
"""

from __future__ import annotations

TAINT_EFFECTS = ("NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE")
# Kubernetes spelling (NoSchedule), EKS spelling (NO_SCHEDULE) and case or
# separator variants all fold to the same key.
_EFFECT_BY_FOLDED = dict((e.replace("_", "").lower(), e) for e in TAINT_EFFECTS)

# Fields EKS cannot change on an existing node group (UpdateNodegroupConfig and
# UpdateNodegroupVersion have no parameter for them).
REPLACEMENT_FIELDS = ("node_role", "subnets", "instance_types", "capacity_type", "ami_type", "disk_size", "launch_template")


class NodegroupSpecError(ValueError):
    """The options describe a node group EKS would refuse; the message says why."""


# ---------------------------------------------------------------- normalisation


def normalize_effect(effect):
    """``NoSchedule`` / ``no_schedule`` / ``NO_SCHEDULE`` -> ``NO_SCHEDULE``."""
    folded = str(effect or "").replace("_", "").replace("-", "").replace(" ", "").lower()
    try:
        return _EFFECT_BY_FOLDED[folded]
    except KeyError:
        raise NodegroupSpecError(
            "Invalid taint effect {0!r}: use one of {1} (or the Kubernetes spelling "
            "NoSchedule, NoExecute, PreferNoSchedule)".format(effect, ", ".join(TAINT_EFFECTS))
        )


def label_value(value):
    """Kubernetes label values are strings; YAML booleans become ``true``/``false``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def normalize_labels(labels):
    if labels is None:
        return None
    return dict((str(k), label_value(v)) for k, v in labels.items())


def normalize_taint(taint):
    if not taint.get("key"):
        raise NodegroupSpecError("Every taint needs a key: {0!r}".format(taint))
    result = {"key": str(taint["key"]), "effect": normalize_effect(taint.get("effect"))}
    value = taint.get("value")
    if value not in (None, ""):
        result["value"] = label_value(value)
    return result


def _taint_id(taint):
    return (taint["key"], taint["effect"])


def normalize_taints(taints):
    """Taints in EKS spelling, sorted by (key, effect); None stays None (not managed)."""
    if taints is None:
        return None
    result = {}
    for taint in taints:
        normalized = normalize_taint(taint)
        ident = _taint_id(normalized)
        if ident in result:
            raise NodegroupSpecError("Taint {0}:{1} is listed twice".format(*ident))
        result[ident] = normalized
    return [result[k] for k in sorted(result)]


# ---------------------------------------------------------------- UpdateNodegroupConfig payloads


def labels_update(current, desired):
    """``{addOrUpdateLabels, removeLabels}`` taking ``current`` to exactly ``desired``."""
    if desired is None:
        return None
    current = normalize_labels(current or {})
    desired = normalize_labels(desired)
    payload = {}
    add = dict((k, v) for k, v in desired.items() if current.get(k) != v)
    remove = sorted(k for k in current if k not in desired)
    if add:
        payload["addOrUpdateLabels"] = add
    if remove:
        payload["removeLabels"] = remove
    return payload or None


def taints_update(current, desired):
    """``{addOrUpdateTaints, removeTaints}`` taking ``current`` to exactly ``desired``."""
    if desired is None:
        return None
    current = dict((_taint_id(t), t) for t in normalize_taints(current or []))
    desired = dict((_taint_id(t), t) for t in normalize_taints(desired))
    payload = {}
    add = [desired[k] for k in sorted(desired) if current.get(k) != desired[k]]
    remove = [current[k] for k in sorted(current) if k not in desired]
    if add:
        payload["addOrUpdateTaints"] = add
    if remove:
        payload["removeTaints"] = remove
    return payload or None


def _clamp(value, low, high):
    return max(low, min(high, value))


def _check_range(min_size, max_size, desired_size=None):
    if min_size < 0:
        raise NodegroupSpecError("scaling.min_size must be 0 or more, not {0}".format(min_size))
    if max_size < 1:
        raise NodegroupSpecError("scaling.max_size must be 1 or more, not {0}".format(max_size))
    if min_size > max_size:
        raise NodegroupSpecError(
            "scaling.min_size ({0}) is greater than scaling.max_size ({1})".format(min_size, max_size)
        )
    if desired_size is not None and not min_size <= desired_size <= max_size:
        raise NodegroupSpecError(
            "scaling.desired_size ({0}) is outside [min_size, max_size] = [{1}, {2}]".format(
                desired_size, min_size, max_size
            )
        )


def create_scaling(desired):
    """``scalingConfig`` for CreateNodegroup; desired size defaults to the minimum (but at least 1)."""
    desired = desired or {}
    if desired.get("min_size") is None or desired.get("max_size") is None:
        raise NodegroupSpecError("scaling.min_size and scaling.max_size are required to create a node group")
    min_size, max_size = desired["min_size"], desired["max_size"]
    desired_size = desired.get("desired_size")
    if desired_size is None:
        desired_size = _clamp(max(min_size, 1), min_size, max_size)
    _check_range(min_size, max_size, desired_size)
    return {"minSize": min_size, "maxSize": max_size, "desiredSize": desired_size}


def scaling_update(current, desired, ignore_desired_size_changes=True):
    """``scalingConfig`` for UpdateNodegroupConfig, or None.

    With ``ignore_desired_size_changes`` (the default) the desired size belongs
    to whoever scales the group at run time (cluster-autoscaler, people): it is
    sent only when the current value falls outside the new ``[min, max]``, and
    then moved to ``desired_size`` if given (else to the nearest bound). Without
    it, ``desired_size`` is enforced whenever given.

    ``desiredSize`` is left out of the payload when it does not change, so a
    concurrent scale-out is not undone.
    """
    if desired is None:
        return None
    current = current or {}
    cur_min, cur_max, cur_desired = current.get("minSize"), current.get("maxSize"), current.get("desiredSize")
    new_min = desired.get("min_size") if desired.get("min_size") is not None else cur_min
    new_max = desired.get("max_size") if desired.get("max_size") is not None else cur_max
    want = desired.get("desired_size")
    _check_range(new_min, new_max, want)

    target = cur_desired
    if cur_desired is None or not new_min <= cur_desired <= new_max:
        target = want if want is not None else _clamp(cur_desired if cur_desired is not None else new_min, new_min, new_max)
    elif not ignore_desired_size_changes and want is not None:
        target = want

    payload = {}
    if new_min != cur_min or new_max != cur_max or target != cur_desired:
        payload = {"minSize": new_min, "maxSize": new_max}
        if target != cur_desired:
            payload["desiredSize"] = target
    return payload or None


def desired_update_config(desired):
    """The ``updateConfig`` the options ask for, or None when not given."""
    if not desired:
        return None
    if desired.get("max_unavailable") is not None:
        return {"maxUnavailable": desired["max_unavailable"]}
    if desired.get("max_unavailable_percentage") is not None:
        return {"maxUnavailablePercentage": desired["max_unavailable_percentage"]}
    return None


def update_config_update(current, desired):
    want = desired_update_config(desired)
    if want is None:
        return None
    have = dict(
        (k, v) for k, v in (current or {}).items() if k in ("maxUnavailable", "maxUnavailablePercentage") and v is not None
    )
    return want if want != have else None


def config_update(nodegroup, params):
    """The whole UpdateNodegroupConfig request body (without cluster/node group
    names), or None when the node group already matches."""
    payload = {}
    labels = labels_update(nodegroup.get("labels"), params.get("labels"))
    taints = taints_update(nodegroup.get("taints"), params.get("taints"))
    scaling = scaling_update(
        nodegroup.get("scalingConfig"), params.get("scaling"), params.get("ignore_desired_size_changes", True)
    )
    update_config = update_config_update(nodegroup.get("updateConfig"), params.get("update_config"))
    if labels:
        payload["labels"] = labels
    if taints:
        payload["taints"] = taints
    if scaling:
        payload["scalingConfig"] = scaling
    if update_config:
        payload["updateConfig"] = update_config
    return payload or None


def apply_config_update(nodegroup, payload):
    """The node group as it will be once ``payload`` is applied (for diff and check mode)."""
    result = dict(nodegroup)
    if not payload:
        return result
    labels = payload.get("labels")
    if labels:
        new = dict(result.get("labels") or {})
        for key in labels.get("removeLabels", []):
            new.pop(key, None)
        new.update(labels.get("addOrUpdateLabels", {}))
        result["labels"] = new
    taints = payload.get("taints")
    if taints:
        new = dict((_taint_id(t), t) for t in normalize_taints(result.get("taints") or []))
        for taint in taints.get("removeTaints", []):
            new.pop(_taint_id(taint), None)
        for taint in taints.get("addOrUpdateTaints", []):
            new[_taint_id(taint)] = taint
        result["taints"] = [new[k] for k in sorted(new)]
    if payload.get("scalingConfig"):
        scaling = dict(result.get("scalingConfig") or {})
        scaling.update(payload["scalingConfig"])
        result["scalingConfig"] = scaling
    if payload.get("updateConfig"):
        result["updateConfig"] = dict(payload["updateConfig"])
    return result


# ---------------------------------------------------------------- create / replace


def launch_template_spec(launch_template):
    """``launchTemplate`` for the EKS API from the option (id or name, optional version)."""
    if not launch_template:
        return None
    spec = {}
    if launch_template.get("id"):
        spec["id"] = launch_template["id"]
    if launch_template.get("name"):
        spec["name"] = launch_template["name"]
    if not spec:
        raise NodegroupSpecError("launch_template needs an id or a name")
    if launch_template.get("version") not in (None, ""):
        spec["version"] = str(launch_template["version"])
    return spec


def create_request(params):
    """CreateNodegroup's request body from the module options."""
    missing = [name for name in ("node_role", "subnets") if not params.get(name)]
    if missing:
        verb = "are" if len(missing) > 1 else "is"
        raise NodegroupSpecError("{0} {1} required to create a node group".format(" and ".join(missing), verb))
    request = {
        "clusterName": params["cluster_name"],
        "nodegroupName": params["name"],
        "nodeRole": params["node_role"],
        "subnets": list(params["subnets"]),
        "scalingConfig": create_scaling(params.get("scaling")),
    }
    optional = (
        ("instanceTypes", params.get("instance_types")),
        ("capacityType", params.get("capacity_type")),
        ("amiType", params.get("ami_type")),
        ("diskSize", params.get("disk_size")),
        ("labels", normalize_labels(params.get("labels"))),
        ("taints", normalize_taints(params.get("taints"))),
        ("updateConfig", desired_update_config(params.get("update_config"))),
        ("launchTemplate", launch_template_spec(params.get("launch_template"))),
        ("tags", _tags(params.get("tags"))),
    )
    for key, value in optional:
        if value is not None and value != [] and value != {}:
            request[key] = value
    if params.get("launch_template") and params.get("disk_size") is not None:
        raise NodegroupSpecError("disk_size cannot be combined with launch_template: set the disk size in the launch template")
    return request


def _tags(tags):
    if tags is None:
        return None
    return dict((str(k), "" if v is None else str(v)) for k, v in tags.items())


def _as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def replacement_changes(nodegroup, params):
    """``[(field, current, desired)]`` for fields EKS cannot change in place.

    A field left out of the options is not compared. Subnets compare as sets;
    instance types in order (the order is the on-demand priority).
    """
    changes = []

    def check(field, current, desired, same):
        if desired is not None and not same(current, desired):
            changes.append((field, current, desired))

    check("node_role", nodegroup.get("nodeRole"), params.get("node_role"), lambda a, b: a == b)
    check("subnets", nodegroup.get("subnets"), params.get("subnets"), lambda a, b: sorted(a or []) == sorted(b))
    check("instance_types", nodegroup.get("instanceTypes"), params.get("instance_types"), lambda a, b: list(a or []) == list(b))
    check("capacity_type", nodegroup.get("capacityType"), params.get("capacity_type"), lambda a, b: a == b)
    check("ami_type", nodegroup.get("amiType"), params.get("ami_type"), lambda a, b: a == b)
    check("disk_size", nodegroup.get("diskSize"), params.get("disk_size"), lambda a, b: _as_int(a) == _as_int(b))
    wanted = launch_template_spec(params.get("launch_template"))
    if wanted:
        have = nodegroup.get("launchTemplate") or {}
        same_template = all(have.get(k) == wanted[k] for k in ("id", "name") if k in wanted)
        if not same_template:
            changes.append(
                ("launch_template", dict((k, have.get(k)) for k in ("id", "name") if k in wanted or have.get(k)),
                 dict((k, wanted[k]) for k in ("id", "name") if k in wanted))
            )
    return changes


def launch_template_version_update(nodegroup, params):
    """``launchTemplate`` for UpdateNodegroupVersion when only the template's version changed, else None."""
    wanted = launch_template_spec(params.get("launch_template"))
    if not wanted or "version" not in wanted:
        return None
    have = nodegroup.get("launchTemplate") or {}
    if not all(have.get(k) == wanted[k] for k in ("id", "name") if k in wanted):
        return None  # a different template: replacement, not an update
    if str(have.get("version")) == wanted["version"]:
        return None
    return wanted


# ---------------------------------------------------------------- diff view


def managed_view(nodegroup):
    """The fields this module manages, in option names, for ``diff`` output."""
    if not nodegroup:
        return {}
    scaling = nodegroup.get("scalingConfig") or {}
    update_config = nodegroup.get("updateConfig") or {}
    view = {
        "node_role": nodegroup.get("nodeRole"),
        "subnets": sorted(nodegroup.get("subnets") or []),
        "instance_types": nodegroup.get("instanceTypes"),
        "capacity_type": nodegroup.get("capacityType"),
        "ami_type": nodegroup.get("amiType"),
        "disk_size": _as_int(nodegroup.get("diskSize")),
        "scaling": {
            "min_size": scaling.get("minSize"),
            "max_size": scaling.get("maxSize"),
            "desired_size": scaling.get("desiredSize"),
        },
        "labels": dict(nodegroup.get("labels") or {}),
        "taints": normalize_taints(nodegroup.get("taints") or []),
        "update_config": dict(
            (name, update_config[key])
            for key, name in (("maxUnavailable", "max_unavailable"), ("maxUnavailablePercentage", "max_unavailable_percentage"))
            if update_config.get(key) is not None
        ),
        "tags": dict(nodegroup.get("tags") or {}),
    }
    if nodegroup.get("launchTemplate"):
        view["launch_template"] = dict(nodegroup["launchTemplate"])
    return view


def predicted_nodegroup(params):
    """What DescribeNodegroup would answer right after CreateNodegroup (for check mode)."""
    request = create_request(params)
    request.pop("clusterName")
    name = request.pop("nodegroupName")
    request.update(nodegroupName=name, clusterName=params["cluster_name"], status="CREATING")
    return request
