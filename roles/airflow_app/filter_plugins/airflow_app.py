# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the airflow_app role: which objects verify reads back and how it indexes them, which
objects absent deletes (were {% set %} loops in tasks/verify.yml and tasks/absent.yml)."""

from __future__ import annotations

# What the role's templates create besides the Deployments (tasks/present.yml)
SERVICE_ACCOUNTS = ("api-server", "scheduler", "dag-processor", "triggerer", "worker", "migrate")
RBAC_COMPONENTS = ("api-server", "scheduler")


def airflow_app_pdb_api_version(apis):
    """The apiVersion of PodDisruptionBudget the cluster serves: policy/v1 when it lists it (1.21+), else
    policy/v1beta1. ``apis`` is kubernetes.core.k8s_cluster_info's ``apis``."""
    return "policy/v1" if "PodDisruptionBudget" in ((apis or {}).get("policy/v1") or {}) else "policy/v1beta1"


def airflow_app_expected_objects(namespace, storage_class, config_map, api_service, secrets, components, volumes,
                                 pdb_api_version, ui_lb_service=None):
    """Every object the role manages, as ``[{"kind", "api_version", "name"[, "namespace"]}]`` in a fixed order:
    Namespace, StorageClass, ConfigMap, API Service, the ``secrets``, the ServiceAccounts, the Roles and
    RoleBindings, a Deployment and a PodDisruptionBudget per name in ``components``, a PersistentVolume
    (``<namespace>-<volume>``) and a claim (``airflow-<volume>``) per name in ``volumes``, and the UI's
    LoadBalancer Service when ``ui_lb_service`` is set."""
    for name, value in (("secrets", secrets), ("components", components), ("volumes", volumes)):
        if isinstance(value, (str, dict)) or value is None:
            raise TypeError("airflow_app_expected_objects: {0} must be a list of names, got {1!r}".format(name, value))

    def obj(kind, api_version, name, namespaced=True):
        o = {"kind": kind, "api_version": api_version}
        if namespaced:
            o["namespace"] = namespace
        o["name"] = name
        return o

    out = [obj("Namespace", "v1", namespace, False),
           obj("StorageClass", "storage.k8s.io/v1", storage_class, False),
           obj("ConfigMap", "v1", config_map),
           obj("Service", "v1", api_service)]
    out += [obj("Secret", "v1", s) for s in secrets]
    out += [obj("ServiceAccount", "v1", "airflow-" + c) for c in SERVICE_ACCOUNTS]
    for c in RBAC_COMPONENTS:
        out += [obj("Role", "rbac.authorization.k8s.io/v1", "airflow-" + c),
                obj("RoleBinding", "rbac.authorization.k8s.io/v1", "airflow-" + c)]
    for c in components:
        out += [obj("Deployment", "apps/v1", "airflow-" + c), obj("PodDisruptionBudget", pdb_api_version, "airflow-" + c)]
    for v in volumes:
        out += [obj("PersistentVolume", "v1", "{0}-{1}".format(namespace, v), False),
                obj("PersistentVolumeClaim", "v1", "airflow-" + v)]
    if ui_lb_service:
        out.append(obj("Service", "v1", ui_lb_service))
    return out


def airflow_app_index_objects(results):
    """``{"<kind>/<name>": object or None}`` from the results of the looped kubernetes.core.k8s_info task
    (items from ``airflow_app_expected_objects``). A Secret is indexed as ``{"metadata", "keys"}``: the names
    of its data keys, never their values."""
    index = {}
    for r in results or []:
        item = r["item"]
        resources = r.get("resources") or []
        key = "{0}/{1}".format(item["kind"], item["name"])
        if not resources:
            index[key] = None
        elif item["kind"] == "Secret":
            index[key] = {"metadata": resources[0].get("metadata"), "keys": list((resources[0].get("data") or {}).keys())}
        else:
            index[key] = resources[0]
    return index


def airflow_app_kinds_to_delete(namespaced_kinds, apis):
    """``namespaced_kinds`` with PodDisruptionBudget (in the apiVersion the cluster serves) right after Pod:
    the order in which absent deletes the role's namespaced objects."""
    pdb = {"kind": "PodDisruptionBudget", "api_version": airflow_app_pdb_api_version(apis)}
    kinds = list(namespaced_kinds or [])
    pods = [i for i, k in enumerate(kinds) if k.get("kind") == "Pod"]
    if not pods:
        raise ValueError("airflow_app_kinds_to_delete: no Pod among {0}".format([k.get("kind") for k in kinds]))
    return kinds[:pods[0] + 1] + [pdb] + kinds[pods[0] + 1:]


def airflow_app_found_objects(results):
    """``[{"kind", "api_version", "name"}]`` of every object the looped kubernetes.core.k8s_info task found,
    in its order (nothing else of them: Secrets are among them)."""
    return [{"kind": o["kind"], "api_version": o["apiVersion"], "name": o["metadata"]["name"]}
            for r in results or [] for o in r.get("resources") or []]


class FilterModule:
    def filters(self):
        return {
            "airflow_app_pdb_api_version": airflow_app_pdb_api_version,
            "airflow_app_expected_objects": airflow_app_expected_objects,
            "airflow_app_index_objects": airflow_app_index_objects,
            "airflow_app_kinds_to_delete": airflow_app_kinds_to_delete,
            "airflow_app_found_objects": airflow_app_found_objects,
        }
