# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""spotflow.eks.k8s_unapplied: the Kubernetes objects an apply would change, from one read of what exists."""

from __future__ import annotations

import hashlib
import json

from ansible.plugins.filter.core import to_json

DOCUMENTATION = r"""
name: k8s_unapplied
short_description: The Kubernetes objects that are missing or differ from what the cluster holds
version_added: 0.1.0
description:
  - Compares the objects a role would apply with the objects one read (M(spotflow.eks.k8s_objects_info))
    found, and returns only those an apply would change, in their order, so that a converge applies
    nothing (no M(kubernetes.core.k8s) run, about a second each) when everything is in place.
  - An object is in place when the cluster holds it (same kind, namespace and name) with the annotation
    O(annotation) equal to the hash of the wanted object, and every field the wanted object sets has the
    same value there. The hash sees a field dropped from the wanted object (which an apply removes); the
    comparison sees a field changed by hand. Fields only the cluster sets (status, defaults, what others
    add) are not compared, as C(kubectl apply) leaves them alone.
  - Every returned object carries the annotation, so the apply records the hash for the next run.
  - A value the API server writes in another spelling (C(1000m) for C(1)) only makes the object count as
    different, so it is applied, as it would have been without this filter.
options:
  _input:
    description: The objects to apply (full manifests with C(kind) and C(metadata.name)).
    type: list
    elements: dict
    required: true
  live:
    description:
      - What the cluster holds. Objects, or the C(results) of M(spotflow.eks.k8s_objects_info) (their
        C(resources) are taken), or both mixed. An object absent from them is returned.
    type: list
    elements: dict
    required: true
  annotation:
    description: The annotation that holds the hash of the applied object.
    type: str
    default: spotflow.io/applied-hash
"""

EXAMPLES = r"""
- name: Read what exists, one list per kind
  spotflow.eks.k8s_objects_info:
    queries:
      - {kind: ConfigMap, namespace: airflow, label_selectors: [app.kubernetes.io/part-of=spotflow]}
      - {kind: Deployment, api_version: apps/v1, namespace: airflow, label_selectors: [app.kubernetes.io/part-of=spotflow]}
  register: existing

- name: Apply only what is missing or differs
  kubernetes.core.k8s:
    definition: "{{ wanted | spotflow.eks.k8s_unapplied(existing.results) }}"
    apply: true
  when: wanted | spotflow.eks.k8s_unapplied(existing.results) | length > 0
"""

RETURN = r"""
_value:
  description: The objects of O(_input) that are missing or differ, each with the O(annotation) set.
  type: list
  elements: dict
"""

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


class FilterModule:
    def filters(self):
        return {"k8s_unapplied": k8s_unapplied}
