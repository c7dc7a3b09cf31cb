#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: node_taint
short_description: Add, update or remove taints on the Kubernetes nodes a label selector picks
version_added: 0.1.0
author: Spotflow maintainers (@spotflow)
description:
  - Makes sure the nodes selected by O(name) or by O(label_selectors) carry (or do not carry) the given taints,
    the way C(kubectl taint nodes --selector ... --overwrite) would, but idempotent, with check mode and diff.
  - Typical use is tainting the EC2 Spot nodes of an EKS cluster so that only pods tolerating interruption
    prefer them, for example O(label_selectors=[eks.amazonaws.com/capacityType=SPOT]) with
    C(spotInstance=true:PreferNoSchedule). That replaces a shell loop over C(kubectl get nodes --selector).
  - Why not M(kubernetes.core.k8s_taint)? It takes one node by name; it writes the node's whole taint list
    without a precondition, so a taint another client adds between its read and its write is lost; and with
    O(kubernetes.core.k8s_taint#module:replace=true) it keeps other taints when all listed ones already exist.
    This module selects nodes by label, reports C(changed) only when a node's taints actually change, makes
    them exactly the list with O(replace=true), and writes with the node's C(resourceVersion) as a
    precondition, re-reading and retrying on a conflict, so concurrent changes are never overwritten.
  - A taint is identified by its key and effect. With O(state=present) a taint with the same key and effect but
    another value is updated in place. With O(state=absent) a taint is removed when key and effect match,
    whatever its value, as C(kubectl taint nodes NAME key:Effect-) does.
  - Taints the module leaves alone keep their C(timeAdded). New or updated C(NoExecute) taints get the current
    time as C(timeAdded), as kubectl sets it.
extends_documentation_fragment:
  - spotflow.eks.k8s_auth
options:
  name:
    description:
      - Name of the one node to work on.
      - A node that does not exist counts as no match, see O(require_match).
      - Exactly one of O(name) and O(label_selectors) is required.
    type: str
  label_selectors:
    description:
      - Label selectors picking the nodes to work on, in the syntax of kubernetes.core.k8s_info's
        O(kubernetes.core.k8s_info#module:label_selectors), for example V(lifecycle=Ec2Spot),
        V(eks.amazonaws.com/capacityType in (SPOT)) or V(!example.com/exclude). All must match.
      - Exactly one of O(name) and O(label_selectors) is required.
    type: list
    elements: str
  taints:
    description:
      - The taints to add, update or remove.
      - With O(state=present) and O(replace=true), an empty list removes every taint.
    type: list
    elements: dict
    required: true
    suboptions:
      key:
        description:
          - The taint key, for example V(spotInstance).
        type: str
        required: true
      value:
        description:
          - The taint value. Omit it for a taint without value.
          - Ignored when O(state=absent).
        type: str
      effect:
        description:
          - The effect of the taint on pods that do not tolerate it.
          - Required with O(state=absent) too; to remove a key with several effects, list each effect.
        type: str
        required: true
        choices: [NoSchedule, PreferNoSchedule, NoExecute]
  state:
    description:
      - V(present) adds the taints missing on a node and updates the values that differ.
      - V(absent) removes the node's taints that match a listed key and effect.
    type: str
    choices: [present, absent]
    default: present
  replace:
    description:
      - With O(state=present), V(true) makes each node's taints exactly O(taints); other taints are removed.
      - With V(false), taints not listed in O(taints) are left alone.
      - Ignored when O(state=absent).
    type: bool
    default: false
  require_match:
    description:
      - Fail when no node matches O(name) or O(label_selectors).
      - With V(false), no match is not an error and nothing changes.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reads the nodes and reports what would change; writes nothing.
  diff_mode:
    support: full
    description: Returns the taints before and after for every node that changes.
  platform:
    support: full
    platforms: kubernetes
    description: Talks to the Kubernetes API of the target cluster, from the controller or any host.
notes:
  - Writes carry the node's C(resourceVersion); on a C(409 Conflict) the node is read again, the change computed
    again and the write retried, up to 5 times per node.
  - A node that disappears while the module runs (a Spot interruption) is skipped with a warning.
  - Needs C(get), C(list) and C(patch) on C(nodes).
seealso:
  - module: kubernetes.core.k8s_taint
  - module: spotflow.eks.pod_placement_info
  - name: Taints and tolerations
    description: The Kubernetes documentation on taints.
    link: https://kubernetes.io/docs/concepts/scheduling-eviction/taint-and-toleration/
"""

EXAMPLES = r"""
- name: Prefer keeping pods that do not tolerate interruption off the Spot nodes
  spotflow.eks.node_taint:
    host: "{{ cluster.endpoint }}"
    ca_cert: "{{ cluster.ca_file }}"
    api_key: "{{ lookup('spotflow.eks.eks_token', cluster.name, region=cluster.region) }}"
    label_selectors:
      - eks.amazonaws.com/capacityType=SPOT
    taints:
      - key: spotInstance
        value: "true"
        effect: PreferNoSchedule
    require_match: true

- name: The same through the action group, as the roles do
  module_defaults:
    group/spotflow.eks.k8s:
      host: "{{ cluster.endpoint }}"
      ca_cert: "{{ cluster.ca_file }}"
      api_key: "{{ lookup('spotflow.eks.eks_token', cluster.name, region=cluster.region) }}"
  block:
    - name: Taint the nodes of the Spot node groups
      spotflow.eks.node_taint:
        label_selectors:
          - lifecycle=Ec2Spot
        taints:
          - key: spotInstance
            value: "true"
            effect: PreferNoSchedule
      register: spot_taints

    - name: Show which nodes changed
      ansible.builtin.debug:
        msg: "{{ spot_taints.nodes | selectattr('changed') | map(attribute='name') | list }}"

- name: Make the taints of one node exactly this list
  spotflow.eks.node_taint:
    name: ip-10-0-1-23.eu-west-2.compute.internal
    taints:
      - key: dedicated
        value: airflow-core
        effect: NoSchedule
    replace: true

- name: Remove the taint from every node that has it, whatever its value
  spotflow.eks.node_taint:
    label_selectors:
      - spotInstance
    state: absent
    taints:
      - key: spotInstance
        effect: PreferNoSchedule
"""

RETURN = r"""
nodes:
  description:
    - One entry per selected node, sorted by name.
    - In check mode, RV(nodes[].taints_after) is what the node would have.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Node name.
      returned: always
      type: str
      sample: ip-10-0-1-23.eu-west-2.compute.internal
    changed:
      description: Whether the node's taints changed (or would change, in check mode).
      returned: always
      type: bool
      sample: true
    taints_before:
      description:
        - The node's taints before, in the API's form (C(key), C(effect), C(value) when not empty, C(timeAdded)
          when set).
      returned: always
      type: list
      elements: dict
      sample: []
    taints_after:
      description: The node's taints after, in the same form.
      returned: always
      type: list
      elements: dict
      sample: [{"key": "spotInstance", "value": "true", "effect": "PreferNoSchedule"}]
"""

import copy
import datetime

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.spotflow.eks.plugins.module_utils.k8s import (
    AUTH_ARG_SPEC,
    ApiException,
    api_error_message,
    call_json,
    core_v1_api,
)
from ansible_collections.spotflow.eks.plugins.module_utils.taints import (
    EFFECTS,
    compute_taints,
    validate_taints,
)

MAX_ATTEMPTS = 5


def argument_spec():
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(
        name=dict(type="str"),
        label_selectors=dict(type="list", elements="str"),
        taints=dict(
            type="list",
            elements="dict",
            required=True,
            options=dict(
                key=dict(type="str", required=True, no_log=False),
                value=dict(type="str"),
                effect=dict(type="str", required=True, choices=list(EFFECTS)),
            ),
        ),
        state=dict(type="str", choices=["present", "absent"], default="present"),
        replace=dict(type="bool", default=False),
        require_match=dict(type="bool", default=False),
    )
    return spec


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _taints(node):
    return list((node.get("spec") or {}).get("taints") or [])


class NodeGone(Exception):
    """The node was deleted while we worked on it."""


def list_nodes(module, api):
    """The selected nodes as API dicts, sorted by name."""
    name = module.params["name"]
    try:
        if name is not None:
            try:
                return [call_json(api.read_node, name)]
            except ApiException as e:
                if e.status == 404:
                    return []
                raise
        selector = ",".join(module.params["label_selectors"] or [])
        items = call_json(api.list_node, label_selector=selector).get("items") or []
    except ApiException as e:
        what = "node '{0}'".format(name) if name is not None else "nodes"
        module.fail_json(msg="Failed to get {0}: {1}".format(what, api_error_message(e)), status=e.status)
    except Exception as e:  # urllib3 errors, TLS errors, bad JSON
        module.fail_json(msg="Failed to get nodes: {0}".format(to_native(e)))
    return sorted(items, key=lambda n: n["metadata"]["name"])


def read_node(module, api, name):
    try:
        return call_json(api.read_node, name)
    except ApiException as e:
        if e.status == 404:
            raise NodeGone(name)
        module.fail_json(msg="Failed to read node '{0}': {1}".format(name, api_error_message(e)), status=e.status)
    except Exception as e:
        module.fail_json(msg="Failed to read node '{0}': {1}".format(name, to_native(e)))


def patch_node_taints(api, name, resource_version, taints):
    """Set ``spec.taints`` if and only if the node is still at ``resource_version``.

    The JSON patch puts the resourceVersion we read into the object; the
    apiserver then refuses the update with 409 Conflict when the node changed
    since. Returns the patched node.
    """
    body = [
        {"op": "replace", "path": "/metadata/resourceVersion", "value": resource_version},
        {"op": "add", "path": "/spec/taints", "value": taints},
    ]
    return call_json(api.patch_node, name, body)


def ensure_node(module, api, node, desired, state, replace):
    """Bring one node's taints in line; returns the per-node result dict."""
    name = node["metadata"]["name"]
    for attempt in range(1, MAX_ATTEMPTS + 1):
        before = _taints(node)
        after, changed = compute_taints(before, desired, state=state, replace=replace, time_added=_now())
        result = dict(name=name, changed=changed, taints_before=before, taints_after=after)
        if not changed or module.check_mode:
            return result
        try:
            patched = patch_node_taints(api, name, node["metadata"]["resourceVersion"], after)
        except ApiException as e:
            if e.status == 404:
                raise NodeGone(name)
            if e.status == 409 and attempt < MAX_ATTEMPTS:
                node = read_node(module, api, name)
                continue
            msg = "Failed to patch node '{0}': {1}".format(name, api_error_message(e))
            if e.status == 409:
                msg += " (gave up after {0} attempts)".format(attempt)
            module.fail_json(msg=msg, status=e.status)
        except Exception as e:
            module.fail_json(msg="Failed to patch node '{0}': {1}".format(name, to_native(e)))
        result["taints_after"] = _taints(patched)
        return result


def run_module(module, api):
    params = module.params
    desired = [dict((k, v) for k, v in t.items() if v is not None) for t in params["taints"]]
    errors = validate_taints(desired)
    if errors:
        module.fail_json(msg="Invalid taints: {0}".format("; ".join(errors)))

    # An option set to null passes required_one_of; never let that select every node.
    if params["name"] is not None:
        if not params["name"].strip():
            module.fail_json(msg="name must not be empty")
    else:
        params["label_selectors"] = [s for s in params["label_selectors"] or [] if s and s.strip()]
        if not params["label_selectors"]:
            module.fail_json(
                msg="label_selectors must hold at least one selector; to select every node, use a label all nodes "
                "carry, such as kubernetes.io/hostname."
            )

    nodes = list_nodes(module, api)
    if not nodes and params["require_match"]:
        if params["name"] is not None:
            module.fail_json(msg="Node '{0}' was not found and require_match is true.".format(params["name"]))
        module.fail_json(
            msg="No node matches the label selectors {0} and require_match is true.".format(
                ", ".join(repr(s) for s in params["label_selectors"])
            )
        )

    results = []
    for node in nodes:
        try:
            results.append(ensure_node(module, api, node, desired, params["state"], params["replace"]))
        except NodeGone as gone:
            module.warn("Node '{0}' disappeared while its taints were being set; skipped.".format(gone.args[0]))

    changed = any(r["changed"] for r in results)
    output = dict(changed=changed, nodes=results)
    if module._diff:
        output["diff"] = [
            dict(
                before_header="node/{0}".format(r["name"]),
                after_header="node/{0}".format(r["name"]),
                before=dict(taints=r["taints_before"]),
                after=dict(taints=r["taints_after"]),
            )
            for r in results
            if r["changed"]
        ]
    return output


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("name", "label_selectors")],
        required_one_of=[("name", "label_selectors")],
        supports_check_mode=True,
    )
    api = core_v1_api(module)
    module.exit_json(**run_module(module, api))


if __name__ == "__main__":
    main()
