#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: k8s_objects_info
short_description: Read Kubernetes objects of many kinds in one call
version_added: 0.2.0
author: Spotflow maintainers (@spotflow)
description:
  - Runs several reads, each a get by name or a list of one kind (optionally in one namespace, by label and
    field selectors), in one module run with one client, and returns them in the shape of a looped
    M(kubernetes.core.k8s_info) register, so filters written for that work unchanged.
  - Why not M(kubernetes.core.k8s_info) in a loop? Every loop item is a module run of its own, which starts
    Python, imports the kubernetes library and builds a dynamic client again, about 0.6 s of CPU per item on a
    small controller. Reading back a dozen kinds that way costs more than ten seconds on every run, most of a
    role's no-op re-run; this module reads them in well under one.
  - Each group version is discovered once (one GET of C(/api/v1) or C(/apis/<group>/<version>)), so a kind the
    cluster does not serve, such as C(policy/v1) PodDisruptionBudgets before Kubernetes 1.21, yields
    RV(results[].api_found=false) and no resources, as M(kubernetes.core.k8s_info) does.
  - An object that does not exist yields an empty RV(results[].resources); any other API error fails the module,
    naming the read.
extends_documentation_fragment:
  - spotflow.eks.k8s_auth
options:
  queries:
    description:
      - The reads, in order. RV(results) has one entry per read, in the same order.
    type: list
    elements: dict
    required: true
    suboptions:
      kind:
        description:
          - The kind, for example V(Deployment).
        type: str
        required: true
      api_version:
        description:
          - Its group version, for example V(apps/v1).
        type: str
        default: v1
      namespace:
        description:
          - The namespace of a namespaced kind. Without it a namespaced kind is listed in all namespaces (it is
            required with O(queries[].name)).
          - Ignored for kinds that are not namespaced.
        type: str
      name:
        description:
          - Get this one object instead of listing the kind.
        type: str
      label_selectors:
        description:
          - Label selectors of a list, as in M(kubernetes.core.k8s_info); all must match.
        type: list
        elements: str
        default: []
      field_selectors:
        description:
          - Field selectors of a list, as in M(kubernetes.core.k8s_info); all must match.
        type: list
        elements: str
        default: []
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
  - Needs C(get) on the listed group versions' discovery documents, and C(get) or C(list) on what it reads.
  - Secrets are returned with their data, as M(kubernetes.core.k8s_info) returns them; set C(no_log) on a task
    that reads Secrets.
"""

EXAMPLES = r"""
- name: Read back what the role made, one list per kind, in one call
  spotflow.eks.k8s_objects_info:
    queries:
      - {kind: Deployment, api_version: apps/v1, namespace: airflow}
      - {kind: Service, namespace: airflow, label_selectors: ["app.kubernetes.io/part-of=spotflow"]}
      - {kind: StorageClass, api_version: storage.k8s.io/v1, name: efs-sc}
      - {kind: PodDisruptionBudget, api_version: policy/v1, namespace: airflow}
  register: objects

- name: The Deployments that are not fully rolled out
  ansible.builtin.debug:
    msg: "{{ objects.results[0].resources | rejectattr('status.updatedReplicas', 'defined') | map(attribute='metadata.name') }}"
"""

RETURN = r"""
results:
  description: One entry per read, in the order of O(queries).
  returned: always
  type: list
  elements: dict
  contains:
    item:
      description: The read as given (with its defaults), like the C(item) of a looped register.
      type: dict
      sample: {"kind": "Deployment", "api_version": "apps/v1", "namespace": "airflow", "name": null,
               "label_selectors": [], "field_selectors": []}
    api_found:
      description: Whether the cluster serves that kind in that group version.
      type: bool
      sample: true
    resources:
      description: The objects, as the API server returned them (none when the object or the kind does not exist).
      type: list
      elements: dict
      sample: [{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "airflow-scheduler"}}]
"""

import copy

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.spotflow.eks.plugins.module_utils.k8s import (
    AUTH_ARG_SPEC,
    ApiException,
    api_error_message,
    get_api_client,
    get_json,
)


def argument_spec():
    spec = copy.deepcopy(AUTH_ARG_SPEC)
    spec.update(
        queries=dict(
            type="list",
            elements="dict",
            required=True,
            options=dict(
                kind=dict(type="str", required=True),
                api_version=dict(type="str", default="v1"),
                namespace=dict(type="str"),
                name=dict(type="str"),
                label_selectors=dict(type="list", elements="str", default=[]),
                field_selectors=dict(type="list", elements="str", default=[]),
            ),
        ),
    )
    return spec


def group_path(api_version):
    """``/api/v1`` for the core group, ``/apis/<group>/<version>`` otherwise."""
    return "/api/" + api_version if "/" not in api_version else "/apis/" + api_version


def object_path(api_version, resource, namespace=None, name=None):
    path = group_path(api_version)
    if namespace:
        path += "/namespaces/" + namespace
    path += "/" + resource["name"]
    if name:
        path += "/" + name
    return path


def read(get, queries):
    """``(results, error)``: the reads of ``queries`` through ``get(path, query_params)``.

    ``error`` names the first read that failed (the results stop there).
    """
    served = {}
    results = []
    for index, query in enumerate(queries):
        what = "queries[{0}] ({1} {2}{3})".format(
            index, query["api_version"], query["kind"], "/" + query["name"] if query["name"] else ""
        )
        try:
            if query["api_version"] not in served:
                try:
                    listing = get(group_path(query["api_version"]), [])
                except ApiException as e:
                    if e.status != 404:
                        raise
                    listing = {}
                # subresources (deployments/status) share their parent's kind
                served[query["api_version"]] = dict(
                    (r["kind"], r) for r in listing.get("resources") or [] if "/" not in r["name"]
                )
            resource = served[query["api_version"]].get(query["kind"])
            entry = dict(item=query, api_found=resource is not None, resources=[])
            if resource is None:
                results.append(entry)
                continue
            namespace = query["namespace"] if resource.get("namespaced") else None
            if query["name"]:
                if resource.get("namespaced") and not namespace:
                    return results, "{0}: {1} is namespaced, give its namespace".format(what, query["kind"])
                try:
                    entry["resources"] = [get(object_path(query["api_version"], resource, namespace, query["name"]), [])]
                except ApiException as e:
                    if e.status != 404:
                        raise
            else:
                params = []
                if query["label_selectors"]:
                    params.append(("labelSelector", ",".join(query["label_selectors"])))
                if query["field_selectors"]:
                    params.append(("fieldSelector", ",".join(query["field_selectors"])))
                listing = get(object_path(query["api_version"], resource, namespace), params)
                # a list's items carry neither kind nor apiVersion; k8s_info adds them back
                entry["resources"] = [
                    dict(item, kind=query["kind"], apiVersion=query["api_version"]) for item in listing.get("items") or []
                ]
        except ApiException as e:
            return results, "{0}: {1}".format(what, api_error_message(e))
        except Exception as e:  # urllib3: refused, TLS, timeout
            return results, "{0}: {1}".format(what, to_native(e))
        results.append(entry)
    return results, None


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    client = get_api_client(module)
    results, error = read(lambda path, params: get_json(client, path, params), module.params["queries"])
    if error:
        module.fail_json(msg=error, results=results)
    module.exit_json(changed=False, results=results)


if __name__ == "__main__":
    main()
