# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Node taint arithmetic for spotflow.eks.node_taint. Pure: no Kubernetes imports.

Taints are plain dicts in the Kubernetes API's JSON form: ``key``, ``effect``,
optional ``value`` (absent when empty, as the apiserver returns it) and
optional ``timeAdded``. A node holds at most one taint per ``(key, effect)``;
that pair is a taint's identity, the value is its payload.
"""

from __future__ import annotations

EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


def taint_id(taint):
    """The identity of a taint on a node: ``(key, effect)``."""
    return (taint.get("key"), taint.get("effect"))


def taint_value(taint):
    """The value of a taint, ``''`` when it has none (the API omits empty values)."""
    return taint.get("value") or ""


def format_taint(taint):
    """``key=value:Effect`` or ``key:Effect``, the way kubectl prints taints."""
    value = taint_value(taint)
    if value:
        return "{0}={1}:{2}".format(taint.get("key"), value, taint.get("effect"))
    return "{0}:{1}".format(taint.get("key"), taint.get("effect"))


def new_taint(key, effect, value=None, time_added=None):
    """A taint dict in API form; ``timeAdded`` only for NoExecute, as kubectl does."""
    taint = {"key": key}
    if value:
        taint["value"] = value
    taint["effect"] = effect
    if time_added and effect == "NoExecute":
        taint["timeAdded"] = time_added
    return taint


def validate_taints(taints):
    """Check requested taints; returns a list of error strings (empty when fine)."""
    errors = []
    seen = {}
    for index, taint in enumerate(taints):
        key = taint.get("key")
        effect = taint.get("effect")
        if not key:
            errors.append("taints[{0}]: key must not be empty".format(index))
            continue
        if effect not in EFFECTS:
            errors.append("taints[{0}]: effect must be one of {1}, got {2!r}".format(index, ", ".join(EFFECTS), effect))
            continue
        ident = taint_id(taint)
        if ident in seen:
            errors.append(
                "taints[{0}] and taints[{1}] both set key {2!r} with effect {3}; a node holds one taint per key "
                "and effect".format(seen[ident], index, key, effect)
            )
        else:
            seen[ident] = index
    return errors


def compute_taints(existing, desired, state="present", replace=False, time_added=None):
    """The taints a node should end up with.

    ``existing``: the node's ``spec.taints`` (API form, may be None).
    ``desired``: requested taints (``key``, ``effect``, optional ``value``).
    ``state``: ``present`` adds missing taints and updates values in place;
    ``absent`` removes taints matching on key and effect, whatever their value.
    ``replace`` (present only): the result holds exactly ``desired``.
    ``time_added``: RFC 3339 time stamped on new or updated NoExecute taints.

    Taints already right are returned untouched (``timeAdded`` kept), existing
    ones keep their order and new ones are appended in request order, so the
    result equals ``existing`` exactly when nothing needs to change.

    Returns ``(taints, changed)``.
    """
    existing = [dict(t) for t in (existing or [])]
    desired = desired or []
    wanted = {}
    for taint in desired:
        wanted[taint_id(taint)] = taint

    if state == "absent":
        result = [t for t in existing if taint_id(t) not in wanted]
        return result, result != existing
    if state != "present":
        raise ValueError("state must be present or absent, got {0!r}".format(state))

    result = []
    placed = set()
    for taint in existing:
        ident = taint_id(taint)
        if ident in wanted:
            want = wanted[ident]
            placed.add(ident)
            if taint_value(taint) == taint_value(want):
                result.append(taint)
            else:
                result.append(new_taint(want["key"], want["effect"], want.get("value"), time_added))
        elif not replace:
            result.append(taint)
    for taint in desired:
        ident = taint_id(taint)
        if ident not in placed:
            placed.add(ident)
            result.append(new_taint(taint["key"], taint["effect"], taint.get("value"), time_added))
    return result, result != existing
