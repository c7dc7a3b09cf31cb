# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""spotflow.eks.k8s_unapplied: the Kubernetes objects an apply would change, from one read of what exists;
spotflow.eks.k8s_unwanted: the objects of a role that it no longer renders (documented in the .yml files beside)."""

from __future__ import annotations

import hashlib
import json

from ansible.plugins.filter.core import to_json

_EMPTY = (None, "", [], {})


def _key(obj):
    meta = obj.get("metadata") or {}
    return obj.get("kind"), meta.get("namespace") or "", meta.get("name")


def _live_objects(live):
    for item in live or []:
        if "kind" not in item and "resources" in item:
            yield from item.get("resources") or []
        else:
            yield item


def _within(want, have):
    """Whether every field ``want`` sets has the same value in ``have`` (lists element by element)."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return not want and have in _EMPTY
        return all(_within(value, have[key]) if key in have else value in _EMPTY for key, value in want.items())
    if isinstance(want, list):
        if not isinstance(have, list):
            return not want and have in _EMPTY
        return len(want) == len(have) and all(_within(w, h) for w, h in zip(want, have))
    if isinstance(want, bool) or isinstance(have, bool):
        return want is have
    return want == have or (want is not None and have is not None and str(want) == str(have))


def _digest(obj):
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def k8s_unapplied(desired, live, annotation="spotflow.io/applied-hash"):
    if not isinstance(desired, list) or not isinstance(live, list):
        raise TypeError("k8s_unapplied: the objects and live must be lists, got {0} and {1}".format(
            type(desired).__name__, type(live).__name__))
    # plain data, copied: Ansible passes its lazy containers, where every access is slow (seconds per
    # Deployment when they came from from_yaml or from_json)
    desired, live = json.loads(to_json(desired)), json.loads(to_json(live))
    held = {_key(obj): obj for obj in _live_objects(live)}
    out = []
    for wanted in desired:
        annotations = wanted.setdefault("metadata", {}).get("annotations") or {}
        annotations.pop(annotation, None)
        wanted["metadata"]["annotations"] = annotations
        annotations[annotation] = _digest(wanted)
        have = held.get(_key(wanted))
        if have is None or not _within(wanted, have):
            out.append(wanted)
    return out


def k8s_unwanted(live, desired, kinds, labels):
    if not isinstance(desired, list) or not isinstance(live, list):
        raise TypeError("k8s_unwanted: live and the objects must be lists, got {0} and {1}".format(
            type(live).__name__, type(desired).__name__))
    live, desired = json.loads(to_json(live)), json.loads(to_json(desired))
    rendered = {_key(obj) for obj in desired}
    out, seen = [], set()
    for obj in _live_objects(live):
        key, meta = _key(obj), obj.get("metadata") or {}
        held = meta.get("labels") or {}
        if (key[0] in kinds and key not in rendered and key not in seen
                and all(held.get(name) == value for name, value in labels.items())):
            seen.add(key)
            out.append({"apiVersion": obj.get("apiVersion"), "kind": key[0],
                        "metadata": dict({"name": key[2]}, **({"namespace": key[1]} if key[1] else {}))})
    return out


class FilterModule:
    def filters(self):
        return {"k8s_unapplied": k8s_unapplied, "k8s_unwanted": k8s_unwanted}
