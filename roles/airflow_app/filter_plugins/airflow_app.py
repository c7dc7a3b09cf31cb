# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the airflow_app role: which objects verify reads back and how it indexes them, which
objects absent deletes (were {% set %} loops in tasks/verify.yml and tasks/absent.yml), and the async
metadata DB URL derived from the sync one, and what the smoke DAG run showed."""

from __future__ import annotations

import json
from datetime import datetime
from urllib.parse import parse_qsl, urlencode

# What the role's templates create besides the Deployments (tasks/present.yml)
SERVICE_ACCOUNTS = ("api-server", "scheduler", "dag-processor", "triggerer", "worker", "migrate")
RBAC_COMPONENTS = ("api-server", "scheduler", "worker")


def airflow_app_pdb_api_version(apis):
    """The apiVersion of PodDisruptionBudget the cluster serves: policy/v1 when it lists it (1.21+), else
    policy/v1beta1. ``apis`` is kubernetes.core.k8s_cluster_info's ``apis``."""
    return "policy/v1" if "PodDisruptionBudget" in ((apis or {}).get("policy/v1") or {}) else "policy/v1beta1"


def airflow_app_jobs_state(jobs, names):
    """``{name: "Complete" | "Failed" | "missing" | "running"}`` for each of ``names`` among ``jobs`` (k8s_info
    ``resources`` of Jobs): the condition that is True, as ``kubectl wait --for=condition=Complete`` reads it."""
    by_name = {(j.get("metadata") or {}).get("name"): j for j in jobs or []}
    state = {}
    for name in names or []:
        job = by_name.get(name)
        if job is None:
            state[name] = "missing"
            continue
        true = [c.get("type") for c in (job.get("status") or {}).get("conditions") or [] if c.get("status") == "True"]
        state[name] = "Complete" if "Complete" in true else "Failed" if "Failed" in true else "running"
    return state


def airflow_app_deployments_rolled_out(deployments):
    """Whether every Deployment (k8s_info ``resources``) is rolled out: its controller saw the newest spec, and all
    its replicas are updated and available, no old ones left (kubernetes.core's own test for ``wait: true``)."""
    for d in deployments or []:
        spec, status = d.get("spec") or {}, d.get("status") or {}
        want = spec.get("replicas", 1)
        if not (status.get("observedGeneration", 0) >= (d.get("metadata") or {}).get("generation", 0)
                and status.get("replicas", 0) == status.get("updatedReplicas", 0) == status.get("availableReplicas", 0) == want
                and not status.get("unavailableReplicas")):
            return False
    return True


def airflow_app_expected_objects(namespace, storage_class, config_map, api_service, secrets, components, volumes,
                                 pdb_api_version, ui_lb_service=None, prepull=None):
    """Every object the role manages, as ``[{"kind", "api_version", "name"[, "namespace"]}]`` in a fixed order:
    Namespace, StorageClass, ConfigMap, API Service, the ``secrets``, the ServiceAccounts, the Roles and
    RoleBindings, the workers' ClusterRole and ClusterRoleBinding (``<namespace>-airflow-worker``), a Deployment and a PodDisruptionBudget per name in ``components``, a PersistentVolume
    (``<namespace>-<volume>``) and a claim (``airflow-<volume>``) per name in ``volumes``, and the UI's
    LoadBalancer Service when ``ui_lb_service`` is set and the worker image's DaemonSet when ``prepull`` is."""
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
    out += [obj(kind, "rbac.authorization.k8s.io/v1", namespace + "-airflow-worker", False)
            for kind in ("ClusterRole", "ClusterRoleBinding")]
    for c in components:
        out += [obj("Deployment", "apps/v1", "airflow-" + c), obj("PodDisruptionBudget", pdb_api_version, "airflow-" + c)]
    for v in volumes:
        out += [obj("PersistentVolume", "v1", "{0}-{1}".format(namespace, v), False),
                obj("PersistentVolumeClaim", "v1", "airflow-" + v)]
    if ui_lb_service:
        out.append(obj("Service", "v1", ui_lb_service))
    if prepull:
        out.append(obj("DaemonSet", "apps/v1", prepull))
    return out


def airflow_app_object_kinds(expected):
    """The distinct ``{"kind", "api_version"[, "namespace"]}`` of ``airflow_app_expected_objects``' list, in
    order: the queries of one spotflow.eks.k8s_objects_info call (one list per kind) that reads them all back."""
    kinds = []
    for o in expected or []:
        k = {key: o[key] for key in ("kind", "api_version", "namespace") if key in o}
        if k not in kinds:
            kinds.append(k)
    return kinds


def airflow_app_index_objects(results, expected=None):
    """``{"<kind>/<name>": object or None}`` from the results of a looped kubernetes.core.k8s_info task or of
    spotflow.eks.k8s_objects_info (the same shape).
    Without ``expected`` the loop read one object per item (items from ``airflow_app_expected_objects``);
    with it, it listed each kind (items from ``airflow_app_object_kinds``) and the objects of ``expected`` are
    picked from those lists, in its order. A Secret is indexed as ``{"metadata", "keys"}``: the names of its
    data keys, never their values."""
    def entry(kind, resource):
        if resource is None:
            return None
        if kind == "Secret":
            return {"metadata": resource.get("metadata"), "keys": list((resource.get("data") or {}).keys())}
        return resource

    index = {}
    if expected is None:
        for r in results or []:
            item, resources = r["item"], r.get("resources") or []
            index["{0}/{1}".format(item["kind"], item["name"])] = entry(item["kind"], resources[0] if resources else None)
        return index
    listed = {}
    for r in results or []:
        for res in r.get("resources") or []:
            meta = res.get("metadata") or {}
            listed[(r["item"]["kind"], meta.get("namespace"), meta.get("name"))] = res
    for o in expected:
        index["{0}/{1}".format(o["kind"], o["name"])] = entry(o["kind"], listed.get((o["kind"], o.get("namespace"), o["name"])))
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


# The async metadata DB URL ([database] sql_alchemy_conn_async). Airflow 3.3 derives it from
# sql_alchemy_conn by swapping the driver only (airflow.settings._get_async_conn_uri_from_sync), so
# libpq's ?sslmode=require reaches asyncpg.connect() as a keyword it does not take (TypeError in every
# async path). SQLAlchemy's asyncpg dialect passes each query parameter as a keyword argument of
# asyncpg.connect(); these are the libpq parameters that have an asyncpg keyword.
SYNC_SCHEMES = ("postgresql", "postgresql+psycopg2", "postgresql+psycopg")
ASYNC_QUERY_PARAMS = {"sslmode": "ssl", "connect_timeout": "timeout", "target_session_attrs": "target_session_attrs"}
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
TARGET_SESSION_ATTRS = ("any", "primary", "standby", "prefer-standby", "read-write", "read-only")


def _split_db_url(url):
    """(scheme, everything between :// and ?, [(key, value)] of the query); never shows the URL."""
    if not isinstance(url, str):
        raise TypeError("the metadata DB URI must be a string, got {0}".format(type(url).__name__))
    scheme, sep, rest = url.strip().partition("://")
    base, _, query = rest.partition("?")
    return (scheme if sep else ""), base, parse_qsl(query, keep_blank_values=True)


def airflow_app_async_db_url_errors(url):
    """Why ``url`` (a sync SQLAlchemy PostgreSQL URI) has no asyncpg equivalent: a list of messages that
    name parameters and allowed values, never the URI or any value from it but the scheme."""
    scheme, base, query = _split_db_url(url)
    errors = []
    if scheme not in SYNC_SCHEMES:
        errors.append("the scheme must be one of {0} (got {1!r})".format(", ".join(SYNC_SCHEMES), scheme[:40]))
    if not base or "#" in base or any("#" in v for _, v in query):
        errors.append("the URI must be scheme://user:password@host:port/database[?parameters] without a #fragment")
    keys = [k for k, _ in query]
    unknown = sorted(set(k for k in keys if k not in ASYNC_QUERY_PARAMS))
    if unknown:
        errors.append("query parameter(s) {0} have no asyncpg equivalent (allowed: {1})".format(
            ", ".join(unknown), ", ".join(ASYNC_QUERY_PARAMS)))
    repeated = sorted(set(k for k in keys if keys.count(k) > 1))
    if repeated:
        errors.append("query parameter(s) {0} given more than once".format(", ".join(repeated)))
    for key, value in query:
        if key == "sslmode" and value not in SSL_MODES:
            errors.append("sslmode must be one of {0}".format(", ".join(SSL_MODES)))
        if key == "connect_timeout" and not (value.isdigit() and int(value) > 0):
            errors.append("connect_timeout must be a whole number of seconds > 0")
        if key == "target_session_attrs" and value not in TARGET_SESSION_ATTRS:
            errors.append("target_session_attrs must be one of {0}".format(", ".join(TARGET_SESSION_ATTRS)))
    return errors


def airflow_app_async_db_url(url):
    """The ``postgresql+asyncpg://`` URL for ``[database] sql_alchemy_conn_async`` from a sync
    ``postgresql[+psycopg2|+psycopg]://`` one: same user, password, host, port and database (copied as
    written, so URL-encoded characters stay encoded), ``sslmode`` -> ``ssl`` (asyncpg takes libpq's
    mode names), ``connect_timeout`` -> ``timeout``, ``target_session_attrs`` kept. Raises ValueError
    (naming the problems, never the URI) when ``airflow_app_async_db_url_errors`` finds any."""
    errors = airflow_app_async_db_url_errors(url)
    if errors:
        raise ValueError("airflow_app_async_db_url: " + "; ".join(errors))
    _, base, query = _split_db_url(url)
    converted = [(ASYNC_QUERY_PARAMS[k], v) for k, v in query]
    return "postgresql+asyncpg://" + base + ("?" + urlencode(converted) if converted else "")


def _api_time(value):
    """An Airflow API timestamp (ISO 8601, ``Z`` or an offset, with or without fractions) as a datetime."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def airflow_app_smoke_node_queries(tasks):
    """The ``spotflow.eks.k8s_objects_info`` reads of the nodes the smoke tasks ran on, one per task
    (``spotflow.eks.airflow_dag_run_info`` ``tasks``, their ``xcom`` what the task returned, ``{"pod", "node"}``):
    a task that named no node reads the node ``unknown``, which does not exist (no resources)."""
    return [{"kind": "Node", "name": (t.get("xcom") or {}).get("node") or "unknown"} for t in tasks]


def airflow_app_smoke_run(dag_run, tasks, nodes, node_selector):
    """What the smoke DAG run showed, from ``spotflow.eks.airflow_dag_run_info`` (the DAG run, and per task
    instance its tries and its ``return_value`` XCom, ``{"pod", "node"}``) and the nodes those name
    (``k8s_info`` or ``k8s_objects_info`` results, in the same order)::

        {"dag_id", "run_id", "state", "seconds" (queued to end), "report": one line of it all,
         "tasks": [{"task_id", "state", "try_number", "pod", "node", "capacity_type", "on_spot",
                    "overlapping_tries", "tries": [{"try_number", "state", "pod", "start", "end"}]}]}

    ``on_spot``: the node exists and carries every label of ``node_selector`` (the workers' node
    selector); ``capacity_type`` is the node's EKS or Karpenter capacity label, for the report;
    ``overlapping_tries``: a try started before the one before it had ended (a task ran twice at once)."""
    if len(tasks) != len(nodes):
        raise ValueError("airflow_app_smoke_run: {0} tasks, {1} node reads".format(len(tasks), len(nodes)))
    out = []
    for task, node in zip(tasks, nodes):
        ti, value = task["task_instance"], task.get("xcom") or {}
        node_obj = (node.get("resources") or [None])[0] or {}
        labels = (node_obj.get("metadata") or {}).get("labels") or {}
        history = sorted(({"try_number": t.get("try_number"), "state": t.get("state"), "pod": t.get("hostname") or "",
                           "start": t.get("start_date"), "end": t.get("end_date")}
                          for t in task.get("tries") or []), key=lambda t: t["try_number"])
        overlapping = any(_api_time(later["start"]) < _api_time(earlier["end"])
                          for earlier, later in zip(history, history[1:])
                          if earlier["end"] and later["start"])
        out.append({
            "task_id": ti["task_id"], "state": ti.get("state"), "try_number": ti.get("try_number"),
            "pod": value.get("pod", ""), "node": value.get("node", ""),
            "capacity_type": labels.get("eks.amazonaws.com/capacityType") or labels.get("karpenter.sh/capacity-type") or "",
            "on_spot": bool(node_obj) and all(labels.get(k) == str(v) for k, v in (node_selector or {}).items()),
            "overlapping_tries": overlapping, "tries": history,
        })
    start, end = _api_time(dag_run.get("queued_at")), _api_time(dag_run.get("end_date"))
    run = {
        "dag_id": dag_run.get("dag_id"), "run_id": dag_run.get("dag_run_id"), "state": dag_run.get("state"),
        "seconds": round((end - start).total_seconds(), 1) if start and end else None, "tasks": out,
    }
    run["report"] = "{dag_id} run {run_id}: {state} in {seconds} s; ".format(**run) + "; ".join(
        "{task_id} {state} on {node} ({capacity_type}), try {try_number}".format(**t) for t in out)
    return run


def airflow_app_smoke_reused(dag_run):
    """``airflow_app_smoke_run`` for a run that is reused as the proof instead of a new one (the smoke entry
    point's reuse key): ``{"dag_id", "run_id", "state", "reused": true, "report"}`` from the API's DAG run."""
    run = {"dag_id": dag_run.get("dag_id"), "run_id": dag_run.get("dag_run_id"), "state": dag_run.get("state"),
           "reused": True}
    run["report"] = ("{dag_id} run {run_id}: {state} (ended {end}), reused: the newest run, made for this same image, "
                     "config and Spot node groups").format(end=dag_run.get("end_date"), **run)
    return run


def airflow_app_smoke_run_logs(run, tasks):
    """``run`` (``airflow_app_smoke_run``) with, on every try, ``sigterm``: whether its log mentions a SIGTERM, as a
    task on a reclaimed Spot node's log does; and on every task ``log_names_pod``: whether its last try's log says
    ``spotflow-smoke: running in pod POD on node NODE`` with the pod and node the task returned. ``tasks`` is
    ``spotflow.eks.airflow_dag_run_info``'s with ``logs``."""
    logs = {(t["task_instance"]["task_id"], log["try_number"]): json.dumps(log.get("content") or "")
            for t in tasks for log in t.get("logs") or []}
    out = []
    for task in run["tasks"]:
        line = "spotflow-smoke: running in pod {pod} on node {node}".format(**task)
        out.append(dict(
            task,
            log_names_pod=bool(task["pod"]) and line in logs.get((task["task_id"], task["try_number"]), ""),
            tries=[dict(tr, sigterm="SIGTERM" in logs.get((task["task_id"], tr["try_number"]), "")) for tr in task["tries"]]))
    return dict(run, tasks=out)


def airflow_app_smoke_interruptions(run, pods):
    """What a Spot reclaim cost the smoke run: ``run`` is ``airflow_app_smoke_run`` (after
    ``airflow_app_smoke_run_logs``), ``pods`` the names of the worker pods that ran on the reclaimed
    nodes::

        {"tasks": [{"task_id", "tries_lost", "sigterm" (every lost try's log says so), "retried" (a try
                    ran after them), "seconds_to_running_again"}],
         "tasks_interrupted", "tries_lost", "seconds_to_running_again" (the longest)}

    ``seconds_to_running_again`` runs from the end of the last lost try (the SIGTERM the eviction at the
    notice sends) to the start of the next try."""
    pods, tasks = set(pods or []), []
    for task in run["tasks"]:
        lost = [t for t in task["tries"] if t["pod"] in pods]
        if not lost:
            continue
        later = [t for t in task["tries"] if t["try_number"] > lost[-1]["try_number"] and t["start"]]
        again = (round((_api_time(later[0]["start"]) - _api_time(lost[-1]["end"])).total_seconds(), 1)
                 if later and lost[-1]["end"] else None)
        tasks.append({"task_id": task["task_id"], "tries_lost": len(lost), "sigterm": all(t.get("sigterm") for t in lost),
                      "retried": bool(later), "seconds_to_running_again": again})
    waits = [t["seconds_to_running_again"] for t in tasks if t["seconds_to_running_again"] is not None]
    return {"tasks": tasks, "tasks_interrupted": len(tasks), "tries_lost": sum(t["tries_lost"] for t in tasks),
            "seconds_to_running_again": max(waits) if waits else None}


class FilterModule:
    def filters(self):
        return {
            "airflow_app_pdb_api_version": airflow_app_pdb_api_version,
            "airflow_app_deployments_rolled_out": airflow_app_deployments_rolled_out,
            "airflow_app_jobs_state": airflow_app_jobs_state,
            "airflow_app_expected_objects": airflow_app_expected_objects,
            "airflow_app_index_objects": airflow_app_index_objects,
            "airflow_app_object_kinds": airflow_app_object_kinds,
            "airflow_app_kinds_to_delete": airflow_app_kinds_to_delete,
            "airflow_app_found_objects": airflow_app_found_objects,
            "airflow_app_async_db_url": airflow_app_async_db_url,
            "airflow_app_async_db_url_errors": airflow_app_async_db_url_errors,
            "airflow_app_smoke_node_queries": airflow_app_smoke_node_queries,
            "airflow_app_smoke_run": airflow_app_smoke_run,
            "airflow_app_smoke_reused": airflow_app_smoke_reused,
            "airflow_app_smoke_run_logs": airflow_app_smoke_run_logs,
            "airflow_app_smoke_interruptions": airflow_app_smoke_interruptions,
        }
