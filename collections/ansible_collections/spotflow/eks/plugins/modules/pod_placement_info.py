#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: pod_placement_info
short_description: Show which node pool every pod runs in and which pods break placement rules
version_added: 0.1.0
author: Spotflow maintainers (@spotflow)
description:
  - Lists pods and the nodes they run on, sorts the nodes into named pools by node label selectors (for EKS
    typically C(eks.amazonaws.com/capacityType=SPOT) and C(eks.amazonaws.com/capacityType=ON_DEMAND)) and checks
    declared expectations such as "the Airflow scheduler and webserver run on on-demand nodes, the workers on
    Spot nodes".
  - It replaces looking at C(kubectl get pods --field-selector spec.nodeName=...) node by node. Every pod comes back
    with its node, pool, capacity type, instance type, zone and node group, and every pod that is not where it
    should be comes back as a violation. Pending pods come back with the scheduler's reason, for example
    C(0/3 nodes are available) followed by what was wrong with each node.
  - M(kubernetes.core.k8s_info) returns the raw objects; joining pods to nodes, pools and rules is left to Jinja.
  - Violations do not fail the module unless O(fail_on_violations=true); playbooks usually assert on
    RV(violations).
  - Never changes anything.
extends_documentation_fragment:
  - spotflow.eks.k8s_auth
options:
  namespaces:
    description:
      - Namespaces to look for pods in.
      - Exactly one of O(namespaces) and O(all_namespaces=true) is required.
    type: list
    elements: str
  all_namespaces:
    description:
      - Look for pods in every namespace.
    type: bool
    default: false
  label_selectors:
    description:
      - Label selectors the pods must match, in the syntax of kubernetes.core.k8s_info's
        O(kubernetes.core.k8s_info#module:label_selectors), for example V(app.kubernetes.io/part-of=spotflow).
      - All must match.
    type: list
    elements: str
    default: []
  field_selectors:
    description:
      - Field selectors the pods must match, for example V(spec.nodeName=ip-10-0-1-23.eu-west-2.compute.internal).
    type: list
    elements: str
    default: []
  phases:
    description:
      - Only pods in these phases count. The default leaves out finished pods, C(Succeeded) and C(Failed), which
        includes pods evicted by a Spot interruption.
      - Add V(Succeeded) to prove where pods that ran to completion ran, for example Airflow task pods.
    type: list
    elements: str
    choices: [Pending, Running, Succeeded, Failed, Unknown]
    default: [Pending, Running, Unknown]
  pools:
    description:
      - Node pools, a dict of pool name to a list of node label selectors (same syntax as O(label_selectors)). For
        example pool V(spot) with selector V(eks.amazonaws.com/capacityType=SPOT) and pool V(on_demand) with
        V(eks.amazonaws.com/capacityType=ON_DEMAND), see the examples.
      - A single selector string is accepted as a list of one.
      - A node belongs to the first pool, in the order given, whose selectors all match; to no pool when none does.
      - Selectors are matched by the module with the apiserver's rules, including C(in), C(notin), C(!key) and
        prefixed keys.
    type: dict
    default: {}
  expect:
    description:
      - Placement rules. The first rule whose O(expect[].label_selectors) match a pod's labels says which pool the
        pod must run in; pods no rule matches may run anywhere.
    type: list
    elements: dict
    default: []
    suboptions:
      label_selectors:
        description:
          - Label selectors for the pods the rule is about, matched against pod labels.
        type: list
        elements: str
        required: true
      pool:
        description:
          - Name of the pool, a key of O(pools), the matching pods must run in.
        type: str
        required: true
  wait:
    description:
      - Wait until every selected pod has been scheduled to a node (has C(spec.nodeName)).
      - On timeout the module fails, listing the pending pods with the scheduler's reasons, and still returns
        everything else.
      - A pod the scheduler has placed counts as scheduled even while its containers start.
    type: bool
    default: false
  wait_timeout:
    description:
      - How long to wait with O(wait=true), in seconds.
    type: int
    default: 120
  wait_sleep:
    description:
      - Seconds between two looks with O(wait=true).
    type: int
    default: 2
  fail_on_violations:
    description:
      - Fail when there is any violation, with a message listing them. The result is returned all the same.
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reads only, so it runs in check mode as it does otherwise.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to diff.
  platform:
    support: full
    platforms: kubernetes
    description: Talks to the Kubernetes API of the target cluster, from the controller or any host.
notes:
  - Needs C(list) on C(pods) in the namespaces and C(list) on C(nodes).
  - Violations are V(pending) (any selected pod without a node), V(wrong_pool) (a pod on a node of another pool
    than its rule says) and V(unmatched_node) (a pod with a rule on a node in no pool, or on a node that no longer
    exists).
seealso:
  - module: spotflow.eks.node_taint
  - module: kubernetes.core.k8s_info
  - name: Assigning pods to nodes
    description: Node selectors, affinity, taints and tolerations.
    link: https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/
"""

EXAMPLES = r"""
- name: Prove that Airflow's core runs on on-demand nodes and its workers on Spot nodes
  spotflow.eks.pod_placement_info:
    host: "{{ cluster.endpoint }}"
    ca_cert: "{{ cluster.ca_file }}"
    api_key: "{{ lookup('spotflow.eks.eks_token', cluster.name, region=cluster.region) }}"
    namespaces: [airflow]
    pools:
      spot: [eks.amazonaws.com/capacityType=SPOT]
      on_demand: [eks.amazonaws.com/capacityType=ON_DEMAND]
    expect:
      - label_selectors: ["component in (scheduler, webserver, triggerer, statsd)"]
        pool: on_demand
      - label_selectors: [kubernetes_executor=True]
        pool: spot
    wait: true
  register: placement

- name: No pod may be pending or in the wrong pool
  ansible.builtin.assert:
    that:
      - placement.violations | length == 0
      - placement.summary.pods > 0
    fail_msg: "{{ placement.violations }}"

- name: Same check, letting the module fail with the list of violations
  spotflow.eks.pod_placement_info:
    namespaces: [airflow]
    pools:
      spot: ["lifecycle=Ec2Spot"]
      on_demand: ["lifecycle=OnDemand"]
    expect:
      - label_selectors: ["tier=worker"]
        pool: spot
    fail_on_violations: true

- name: Where did the pods of a finished DAG run land
  spotflow.eks.pod_placement_info:
    all_namespaces: true
    label_selectors: [dag_id=example_spot]
    phases: [Running, Succeeded]
    pools:
      spot: [eks.amazonaws.com/capacityType=SPOT]
  register: dag_pods
"""

RETURN = r"""
pods:
  description: The selected pods, sorted by namespace and name.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Pod name.
      returned: always
      type: str
      sample: airflow-worker-5d8f7c-abcde
    namespace:
      description: Pod namespace.
      returned: always
      type: str
      sample: airflow
    phase:
      description: Pod phase (C(Pending), C(Running), ...).
      returned: always
      type: str
      sample: Running
    node:
      description: Name of the node the pod is scheduled to, null while it is pending.
      returned: always
      type: str
      sample: ip-10-0-1-23.eu-west-2.compute.internal
    pool:
      description: The pool of that node, null when the pod is pending or the node is in no pool.
      returned: always
      type: str
      sample: spot
    expected_pool:
      description: The pool the first matching O(expect) rule asks for, null when no rule matches.
      returned: always
      type: str
      sample: spot
    capacity_type:
      description: The node's C(eks.amazonaws.com/capacityType) label (C(SPOT) or C(ON_DEMAND)), null when absent.
      returned: always
      type: str
      sample: SPOT
    instance_type:
      description: The node's C(node.kubernetes.io/instance-type) label, null when absent.
      returned: always
      type: str
      sample: m5.large
    zone:
      description: The node's C(topology.kubernetes.io/zone) label, null when absent.
      returned: always
      type: str
      sample: eu-west-2a
    nodegroup:
      description: The node's C(eks.amazonaws.com/nodegroup) label, null when absent.
      returned: always
      type: str
      sample: airflow-spot
    labels:
      description: The pod's labels.
      returned: always
      type: dict
      sample: {"app": "airflow", "component": "worker"}
pools:
  description: One entry per pool of O(pools), keyed by pool name.
  returned: always
  type: dict
  sample:
    spot:
      nodes: [ip-10-0-1-23.eu-west-2.compute.internal]
      pods: 1
      pod_names: [airflow/airflow-worker-5d8f7c-abcde]
  contains:
    nodes:
      description: Names of the nodes in the pool, sorted.
      returned: always
      type: list
      elements: str
    pods:
      description: Number of selected pods running on those nodes.
      returned: always
      type: int
    pod_names:
      description: Those pods, as C(namespace/name).
      returned: always
      type: list
      elements: str
violations:
  description: Pods that are pending or not where the O(expect) rules say, sorted by namespace and pod name.
  returned: always
  type: list
  elements: dict
  contains:
    pod:
      description: Pod name.
      returned: always
      type: str
      sample: airflow-scheduler-0
    namespace:
      description: Pod namespace.
      returned: always
      type: str
      sample: airflow
    kind:
      description: What is wrong.
      returned: always
      type: str
      sample: wrong_pool
      choices: [pending, wrong_pool, unmatched_node]
    expected_pool:
      description: The pool the pod should run in, null when no rule matches the pod.
      returned: always
      type: str
      sample: on_demand
    actual_pool:
      description: The pool the pod runs in, null when pending or on a node in no pool.
      returned: always
      type: str
      sample: spot
    node:
      description: The pod's node, null when pending.
      returned: always
      type: str
      sample: ip-10-0-1-23.eu-west-2.compute.internal
    reason:
      description:
        - For a pending pod, the reason and message of its C(PodScheduled) condition.
        - Otherwise, where the pod runs and where it should.
      returned: always
      type: str
      sample: "Unschedulable: 0/3 nodes are available: 3 node(s) didn't match node selector."
summary:
  description: Counts.
  returned: always
  type: dict
  contains:
    pods:
      description: Selected pods.
      returned: always
      type: int
      sample: 5
    scheduled:
      description: Selected pods with a node.
      returned: always
      type: int
      sample: 4
    pending:
      description: Selected pods without a node.
      returned: always
      type: int
      sample: 1
    unpooled:
      description: Scheduled pods on nodes in no pool.
      returned: always
      type: int
      sample: 0
    by_pool:
      description: Number of pods per pool.
      returned: always
      type: dict
      sample: {"spot": 3, "on_demand": 1}
    violations:
      description: Number of violations.
      returned: always
      type: int
      sample: 1
    violations_by_kind:
      description: Number of violations per kind.
      returned: always
      type: dict
      sample: {"pending": 1, "wrong_pool": 0, "unmatched_node": 0}
"""

import copy
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.spotflow.eks.plugins.module_utils.k8s import (
    AUTH_ARG_SPEC,
    ApiException,
    api_error_message,
    call_json,
    core_v1_api,
)
from ansible_collections.spotflow.eks.plugins.module_utils.placement import (
    SelectorError,
    classify,
    format_violation,
    parse_selectors,
    pending_reason,
    pod_key,
)

PHASES = ["Pending", "Running", "Succeeded", "Failed", "Unknown"]


def argument_spec():
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(
        namespaces=dict(type="list", elements="str"),
        all_namespaces=dict(type="bool", default=False),
        label_selectors=dict(type="list", elements="str", default=[]),
        field_selectors=dict(type="list", elements="str", default=[]),
        phases=dict(type="list", elements="str", choices=PHASES, default=["Pending", "Running", "Unknown"]),
        pools=dict(type="dict", default={}),
        expect=dict(
            type="list",
            elements="dict",
            default=[],
            options=dict(
                label_selectors=dict(type="list", elements="str", required=True),
                pool=dict(type="str", required=True),
            ),
        ),
        wait=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=120),
        wait_sleep=dict(type="int", default=2),
        fail_on_violations=dict(type="bool", default=False),
    )
    return spec


def parse_pools(module):
    """``pools`` option -> ordered list of ``(name, requirements)``; fails the module on bad input."""
    pools = []
    for name, selectors in (module.params["pools"] or {}).items():
        if isinstance(selectors, str):
            selectors = [selectors]
        if not isinstance(selectors, list) or not all(isinstance(s, str) for s in selectors):
            module.fail_json(msg="pools.{0} must be a list of label selector strings, got {1!r}".format(name, selectors))
        try:
            requirements = parse_selectors(selectors)
        except SelectorError as e:
            module.fail_json(msg="pools.{0}: {1}".format(name, to_native(e)))
        if not requirements:
            module.fail_json(msg="pools.{0} needs at least one label selector; an empty one would match every node".format(name))
        pools.append((name, requirements))
    return pools


def parse_rules(module, pools):
    names = [name for name, _req in pools]
    rules = []
    for index, rule in enumerate(module.params["expect"] or []):
        if rule["pool"] not in names:
            module.fail_json(
                msg="expect[{0}].pool {1!r} is not a pool; pools are: {2}".format(
                    index, rule["pool"], ", ".join(names) if names else "(none, set pools)"
                )
            )
        try:
            requirements = parse_selectors(rule["label_selectors"])
        except SelectorError as e:
            module.fail_json(msg="expect[{0}].label_selectors: {1}".format(index, to_native(e)))
        rules.append((requirements, rule["pool"]))
    return rules


def list_pods(module, api):
    params = module.params
    kwargs = {}
    label_selector = ",".join(s for s in params["label_selectors"] if s)
    field_selector = ",".join(s for s in params["field_selectors"] if s)
    if label_selector:
        kwargs["label_selector"] = label_selector
    if field_selector:
        kwargs["field_selector"] = field_selector
    pods = []
    try:
        if params["all_namespaces"]:
            pods = call_json(api.list_pod_for_all_namespaces, **kwargs).get("items") or []
        else:
            for namespace in params["namespaces"]:
                pods.extend(call_json(api.list_namespaced_pod, namespace, **kwargs).get("items") or [])
    except ApiException as e:
        module.fail_json(msg="Failed to list pods: {0}".format(api_error_message(e)), status=e.status)
    except Exception as e:
        module.fail_json(msg="Failed to list pods: {0}".format(to_native(e)))
    phases = set(params["phases"])
    return [p for p in pods if ((p.get("status") or {}).get("phase") or "Pending") in phases]


def list_nodes(module, api):
    try:
        return call_json(api.list_node).get("items") or []
    except ApiException as e:
        module.fail_json(msg="Failed to list nodes: {0}".format(api_error_message(e)), status=e.status)
    except Exception as e:
        module.fail_json(msg="Failed to list nodes: {0}".format(to_native(e)))


def _unscheduled(pods):
    return [p for p in pods if not (p.get("spec") or {}).get("nodeName")]


def run_module(module, api, clock=None, sleep=None):
    """Returns ``(result, failure message or None)``."""
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    params = module.params
    if params["all_namespaces"] and params["namespaces"]:
        module.fail_json(msg="namespaces and all_namespaces=true are mutually exclusive")
    if not params["all_namespaces"] and not params["namespaces"]:
        module.fail_json(msg="one of namespaces or all_namespaces=true is required")
    if params["wait_timeout"] < 0 or params["wait_sleep"] < 1:
        module.fail_json(msg="wait_timeout must be >= 0 and wait_sleep >= 1")
    pools = parse_pools(module)
    rules = parse_rules(module, pools)

    deadline = clock() + params["wait_timeout"]
    pods = list_pods(module, api)
    timed_out = False
    while params["wait"] and _unscheduled(pods):
        if clock() >= deadline:
            timed_out = True
            break
        sleep(params["wait_sleep"])
        pods = list_pods(module, api)

    result = classify(pods, list_nodes(module, api), pools, rules)
    result["changed"] = False

    failure = None
    if timed_out:
        pending = _unscheduled(pods)
        failure = "Timed out after {0}s waiting for {1} pod(s) to be scheduled: {2}".format(
            params["wait_timeout"],
            len(pending),
            "; ".join("{0} ({1})".format(pod_key(p), pending_reason(p)) for p in sorted(pending, key=pod_key)),
        )
    elif params["fail_on_violations"] and result["violations"]:
        failure = "{0} placement violation(s): {1}".format(
            len(result["violations"]), "; ".join(format_violation(v) for v in result["violations"])
        )
    return result, failure


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    api = core_v1_api(module)
    result, failure = run_module(module, api)
    if failure:
        module.fail_json(msg=failure, **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
