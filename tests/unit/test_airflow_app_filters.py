"""The airflow_app role's filters: what verify reads back and how it indexes it, what absent deletes."""

from __future__ import annotations

import importlib.util

import pytest

from tests.unit.test_module_docs import REPO

_spec = importlib.util.spec_from_file_location(
    "airflow_app_filters", REPO / "roles" / "airflow_app" / "filter_plugins" / "airflow_app.py")
f = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(f)

V1_APIS = {"policy/v1": {"PodDisruptionBudget": {"name": "poddisruptionbudgets"}}, "v1": {"Pod": {}}}
ARGS = dict(storage_class="efs-sc", config_map="airflow-config", api_service="airflow-api-server",
            secrets=["airflow-secrets", "airflow-metadata-db", "airflow-admin"],
            components=["api-server", "scheduler"], volumes=["logs"], pdb_api_version="policy/v1")


def ns(kind, api_version, name):
    return {"kind": kind, "api_version": api_version, "namespace": "airflow", "name": name}


RBAC = "rbac.authorization.k8s.io/v1"


@pytest.mark.parametrize("apis, version", [
    (V1_APIS, "policy/v1"),
    ({"policy/v1beta1": {"PodDisruptionBudget": {}}}, "policy/v1beta1"),   # Kubernetes 1.20
    ({"policy/v1": {"Eviction": {}}}, "policy/v1beta1"),
    ({"policy/v1": None}, "policy/v1beta1"),
    ({}, "policy/v1beta1"),
    (None, "policy/v1beta1"),
])
def test_pdb_api_version(apis, version):
    assert f.airflow_app_pdb_api_version(apis) == version


def _deployment(replicas=1, generation=2, observed=2, updated=1, available=1, total=1, unavailable=None):
    status = {"observedGeneration": observed, "replicas": total, "updatedReplicas": updated, "availableReplicas": available}
    return {"metadata": {"generation": generation}, "spec": {"replicas": replicas},
            "status": status | ({"unavailableReplicas": unavailable} if unavailable else {})}


@pytest.mark.parametrize("deployment, rolled_out", [
    (_deployment(), True),
    (_deployment(replicas=2, updated=2, available=2, total=2), True),
    (_deployment(observed=1), False),  # the controller has not seen the new spec yet
    (_deployment(updated=0), False),  # the new pod not created yet
    (_deployment(available=0, unavailable=1), False),  # not Ready yet
    (_deployment(total=2), False),  # an old pod still there (maxSurge)
    ({"metadata": {"generation": 1}, "spec": {"replicas": 1}}, False),  # no status yet
])
def test_deployments_rolled_out(deployment, rolled_out):
    assert f.airflow_app_deployments_rolled_out([_deployment(), deployment]) is rolled_out


def test_expected_objects_in_order():
    assert f.airflow_app_expected_objects("airflow", **ARGS) == [
        {"kind": "Namespace", "api_version": "v1", "name": "airflow"},
        {"kind": "StorageClass", "api_version": "storage.k8s.io/v1", "name": "efs-sc"},
        ns("ConfigMap", "v1", "airflow-config"),
        ns("Service", "v1", "airflow-api-server"),
        ns("Secret", "v1", "airflow-secrets"),
        ns("Secret", "v1", "airflow-metadata-db"),
        ns("Secret", "v1", "airflow-admin"),
        ns("ServiceAccount", "v1", "airflow-api-server"),
        ns("ServiceAccount", "v1", "airflow-scheduler"),
        ns("ServiceAccount", "v1", "airflow-dag-processor"),
        ns("ServiceAccount", "v1", "airflow-triggerer"),
        ns("ServiceAccount", "v1", "airflow-worker"),
        ns("ServiceAccount", "v1", "airflow-migrate"),
        ns("Role", RBAC, "airflow-api-server"),
        ns("RoleBinding", RBAC, "airflow-api-server"),
        ns("Role", RBAC, "airflow-scheduler"),
        ns("RoleBinding", RBAC, "airflow-scheduler"),
        ns("Role", RBAC, "airflow-worker"),
        ns("RoleBinding", RBAC, "airflow-worker"),
        {"kind": "ClusterRole", "api_version": RBAC, "name": "airflow-airflow-worker"},
        {"kind": "ClusterRoleBinding", "api_version": RBAC, "name": "airflow-airflow-worker"},
        ns("Deployment", "apps/v1", "airflow-api-server"),
        ns("PodDisruptionBudget", "policy/v1", "airflow-api-server"),
        ns("Deployment", "apps/v1", "airflow-scheduler"),
        ns("PodDisruptionBudget", "policy/v1", "airflow-scheduler"),
        {"kind": "PersistentVolume", "api_version": "v1", "name": "airflow-logs"},
        ns("PersistentVolumeClaim", "v1", "airflow-logs"),
    ]


def test_expected_objects_with_efs_dags_a_load_balancer_and_policy_v1beta1():
    out = f.airflow_app_expected_objects("af", **dict(ARGS, volumes=["logs", "dags"], pdb_api_version="policy/v1beta1",
                                                     components=["triggerer"], ui_lb_service="airflow-ui",
                                                     prepull="airflow-worker-image"))
    assert out[-8:] == [
        {"kind": "Deployment", "api_version": "apps/v1", "namespace": "af", "name": "airflow-triggerer"},
        {"kind": "PodDisruptionBudget", "api_version": "policy/v1beta1", "namespace": "af", "name": "airflow-triggerer"},
        {"kind": "PersistentVolume", "api_version": "v1", "name": "af-logs"},
        {"kind": "PersistentVolumeClaim", "api_version": "v1", "namespace": "af", "name": "airflow-logs"},
        {"kind": "PersistentVolume", "api_version": "v1", "name": "af-dags"},
        {"kind": "PersistentVolumeClaim", "api_version": "v1", "namespace": "af", "name": "airflow-dags"},
        {"kind": "Service", "api_version": "v1", "namespace": "af", "name": "airflow-ui"},
        {"kind": "DaemonSet", "api_version": "apps/v1", "namespace": "af", "name": "airflow-worker-image"},
    ]
    assert len(out) == 29


@pytest.mark.parametrize("ui_lb_service", [None, ""])
def test_expected_objects_without_a_load_balancer(ui_lb_service):
    out = f.airflow_app_expected_objects("airflow", **dict(ARGS, ui_lb_service=ui_lb_service))
    assert [o["name"] for o in out if o["kind"] == "Service"] == ["airflow-api-server"]


@pytest.mark.parametrize("name, value", [("secrets", "airflow-secrets"), ("components", None),
                                         ("volumes", {"logs": 1}), ("components", {"name": "x"})])
def test_expected_objects_refuse_a_name_where_a_list_belongs(name, value):
    with pytest.raises(TypeError, match="airflow_app_expected_objects: {0} must be a list of names".format(name)):
        f.airflow_app_expected_objects("airflow", **dict(ARGS, **{name: value}))


def _read(kind, name, resources):
    return {"item": {"kind": kind, "api_version": "v1", "name": name}, "resources": resources, "changed": False}


def test_index_keeps_objects_and_only_the_key_names_of_secrets():
    cm = {"kind": "ConfigMap", "metadata": {"name": "airflow-config"}, "data": {"airflow.cfg": "[core]"}}
    secret = {"kind": "Secret", "metadata": {"name": "airflow-admin", "labels": {"a": "b"}},
              "data": {"username": "YWRtaW4=", "password": "c2VjcmV0", "passwords.json": "e30="}}
    index = f.airflow_app_index_objects([
        _read("ConfigMap", "airflow-config", [cm]),
        _read("Secret", "airflow-admin", [secret]),
        _read("Secret", "airflow-secrets", []),
        _read("Deployment", "airflow-scheduler", []),
    ])
    assert index == {
        "ConfigMap/airflow-config": cm,
        "Secret/airflow-admin": {"metadata": {"name": "airflow-admin", "labels": {"a": "b"}},
                                 "keys": ["username", "password", "passwords.json"]},
        "Secret/airflow-secrets": None,
        "Deployment/airflow-scheduler": None,
    }
    assert list(index) == ["ConfigMap/airflow-config", "Secret/airflow-admin", "Secret/airflow-secrets",
                           "Deployment/airflow-scheduler"]
    assert "c2VjcmV0" not in repr(index)


def test_index_of_a_secret_without_data_has_no_keys():
    index = f.airflow_app_index_objects([_read("Secret", "airflow-metadata-db", [{"metadata": {"name": "m"}}])])
    assert index == {"Secret/airflow-metadata-db": {"metadata": {"name": "m"}, "keys": []}}


def test_index_of_nothing():
    assert f.airflow_app_index_objects([]) == {}


KINDS = [{"kind": "Deployment", "api_version": "apps/v1"}, {"kind": "Job", "api_version": "batch/v1"},
         {"kind": "Pod", "api_version": "v1"}, {"kind": "Service", "api_version": "v1"}]


def test_kinds_to_delete_put_the_budget_right_after_the_pods():
    assert f.airflow_app_kinds_to_delete(KINDS, V1_APIS) == KINDS[:3] + [
        {"kind": "PodDisruptionBudget", "api_version": "policy/v1"}] + KINDS[3:]
    assert f.airflow_app_kinds_to_delete(KINDS[2:3], {})[1] == {"kind": "PodDisruptionBudget", "api_version": "policy/v1beta1"}


def test_kinds_to_delete_match_the_role_order():
    """the Pod is fourth in vars/main.yml (after Deployment, DaemonSet, Job): the budget goes right after it"""
    import yaml

    kinds = yaml.safe_load((REPO / "roles" / "airflow_app" / "vars" / "main.yml").read_text())["airflow_app__namespaced_kinds"]
    out = f.airflow_app_kinds_to_delete(kinds, V1_APIS)
    assert out == kinds[:4] + [{"kind": "PodDisruptionBudget", "api_version": "policy/v1"}] + kinds[4:]


def test_kinds_to_delete_need_the_pods():
    with pytest.raises(ValueError, match=r"no Pod among \['Deployment', 'Job'\]"):
        f.airflow_app_kinds_to_delete(KINDS[:2], V1_APIS)


def test_found_objects_name_kind_version_and_name_only():
    secret = {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "airflow-admin"}, "data": {"password": "c2VjcmV0"}}
    dep = {"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": "airflow-scheduler"}, "spec": {}}
    pod = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "airflow-scheduler-1"}}
    results = [{"item": KINDS[0], "resources": [dep]}, {"item": KINDS[1], "resources": []},
               {"item": KINDS[2], "resources": [pod, dict(pod, metadata={"name": "airflow-scheduler-2"})]},
               {"item": {"kind": "Secret", "api_version": "v1"}, "resources": [secret]}]
    assert f.airflow_app_found_objects(results) == [
        {"kind": "Deployment", "api_version": "apps/v1", "name": "airflow-scheduler"},
        {"kind": "Pod", "api_version": "v1", "name": "airflow-scheduler-1"},
        {"kind": "Pod", "api_version": "v1", "name": "airflow-scheduler-2"},
        {"kind": "Secret", "api_version": "v1", "name": "airflow-admin"},
    ]
    assert f.airflow_app_found_objects([]) == []


# rds_postgres's URI: the password URL-encoded, sslmode=require
RDS_URI = "postgresql+psycopg2://airflow:p%40ss%2Fw%3Frd@db.abc.us-east-1.rds.amazonaws.com:5432/airflow?sslmode=require"


@pytest.mark.parametrize("sync, expected", [
    (RDS_URI, "postgresql+asyncpg://airflow:p%40ss%2Fw%3Frd@db.abc.us-east-1.rds.amazonaws.com:5432/airflow?ssl=require"),
    ("postgresql://u:p@h/db?sslmode=verify-full", "postgresql+asyncpg://u:p@h/db?ssl=verify-full"),
    ("postgresql+psycopg://u:p@h:6432/db", "postgresql+asyncpg://u:p@h:6432/db"),
    ("  postgresql://u:p@h/db?sslmode=disable&connect_timeout=10&target_session_attrs=read-write\n",
     "postgresql+asyncpg://u:p@h/db?ssl=disable&timeout=10&target_session_attrs=read-write"),
])
def test_async_db_url(sync, expected):
    assert f.airflow_app_async_db_url_errors(sync) == []
    assert f.airflow_app_async_db_url(sync) == expected
    assert "sslmode" not in f.airflow_app_async_db_url(sync)


@pytest.mark.parametrize("sync, error", [
    ("postgres://u:secret@h/db?sslmode=require", "the scheme must be one of postgresql, postgresql+psycopg2, postgresql+psycopg "
                                                 "(got 'postgres')"),
    ("mysql+pymysql://u:secret@h/db", "the scheme must be one of"),
    ("u:secret@h/db", "(got '')"),
    ("postgresql://u:secret@h/db?sslmode=require&sslrootcert=/etc/rds.pem&application_name=x",
     "query parameter(s) application_name, sslrootcert have no asyncpg equivalent (allowed: sslmode, connect_timeout, "
     "target_session_attrs)"),
    ("postgresql://u:secret@h/db?sslmode=required", "sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full"),
    ("postgresql://u:secret@h/db?sslmode=require&sslmode=disable", "query parameter(s) sslmode given more than once"),
    ("postgresql://u:secret@h/db?connect_timeout=soon", "connect_timeout must be a whole number of seconds > 0"),
    ("postgresql://u:secret@h/db?target_session_attrs=any-thing", "target_session_attrs must be one of"),
    ("postgresql://", "the URI must be scheme://user:password@host:port/database"),
    ("postgresql://u:secret@h/db#x", "without a #fragment"),
])
def test_async_db_url_refuses_what_asyncpg_cannot_take_without_showing_the_uri(sync, error):
    errors = f.airflow_app_async_db_url_errors(sync)
    assert any(error in e for e in errors), errors
    assert not any("secret" in e or "/etc/rds.pem" in e for e in errors), errors
    with pytest.raises(ValueError, match=r"^airflow_app_async_db_url: ") as err:
        f.airflow_app_async_db_url(sync)
    assert "secret" not in str(err.value)


def test_async_db_url_wants_a_string():
    with pytest.raises(TypeError, match="must be a string, got NoneType"):
        f.airflow_app_async_db_url_errors(None)


def test_the_filters_are_registered_under_the_role_name():
    assert set(f.FilterModule().filters()) == {"airflow_app_pdb_api_version", "airflow_app_deployments_rolled_out",
                                               "airflow_app_jobs_state", "airflow_app_expected_objects",
                                               "airflow_app_index_objects", "airflow_app_object_kinds", "airflow_app_kinds_to_delete",
                                               "airflow_app_found_objects", "airflow_app_async_db_url",
                                               "airflow_app_async_db_url_errors", "airflow_app_smoke_run", "airflow_app_smoke_reused", "airflow_app_smoke_node_queries",
                                               "airflow_app_smoke_run_logs", "airflow_app_smoke_interruptions"}


def test_jobs_state_reads_the_true_condition_of_each_wanted_job():
    def job(name, *true, false=()):
        conditions = [{"type": t, "status": "True"} for t in true] + [{"type": t, "status": "False"} for t in false]
        return {"metadata": {"name": name}, "status": {"conditions": conditions} if conditions else {}}
    jobs = [job("migrate-1", "Complete"), job("admin-1", "Failed"), job("other", "Complete"), job("run-1", false=("Failed",)),
            job("new-1")]
    assert f.airflow_app_jobs_state(jobs, ["migrate-1", "admin-1", "run-1", "new-1", "gone-1"]) == {
        "migrate-1": "Complete", "admin-1": "Failed", "run-1": "running", "new-1": "running", "gone-1": "missing"}
    assert f.airflow_app_jobs_state(None, []) == {}


# ---------------------------------------------------------------- what the smoke DAG run showed
SPOT = {"lifecycle": "Ec2Spot"}
RUN = {"dag_id": "spotflow_smoke", "dag_run_id": "r1", "state": "success",
       "queued_at": "2026-12-04T10:00:00.5Z", "end_date": "2026-12-04T10:00:42.75+00:00"}


def _xcom(node, pod="w-1"):
    """What a smoke task returned (spotflow.eks.airflow_dag_run_info's tasks[].xcom)."""
    return {"node": node, "pod": pod}


def _task(ti, tries=(), xcom=None, logs=()):
    """One item of spotflow.eks.airflow_dag_run_info's tasks."""
    return {"task_instance": ti, "tries": list(tries), "xcom": xcom, "logs": list(logs)}


def _node(labels):
    return {"resources": [{"metadata": {"name": "n", "labels": labels}}]}


def _tries(*spans, pods=("w-1", "w-1b")):
    return [{"try_number": n, "state": st, "hostname": pod, "start_date": a, "end_date": b}
            for n, ((st, a, b), pod) in enumerate(zip(spans, pods), 1)][::-1]


ONE_TRY = _tries(("success", "2026-12-04T10:00:05Z", "2026-12-04T10:00:09Z"))


def test_smoke_node_queries_read_the_node_each_task_named():
    tasks = [_task({"task_id": "a"}, xcom=_xcom("ip-1")), _task({"task_id": "b"}), _task({"task_id": "c"}, xcom={"pod": "p"})]
    assert f.airflow_app_smoke_node_queries(tasks) == [
        {"kind": "Node", "name": "ip-1"}, {"kind": "Node", "name": "unknown"}, {"kind": "Node", "name": "unknown"}]
    assert f.airflow_app_smoke_node_queries([]) == []


def test_smoke_run_reads_where_each_task_ran():
    b_tries = _tries(("failed", "2026-12-04T10:00:05Z", "2026-12-04T10:00:20Z"),
                     ("success", "2026-12-04T10:00:35.5Z", "2026-12-04T10:00:40Z"), pods=("w-2", "w-2b"))
    tasks = [_task({"task_id": "a", "state": "success", "try_number": 1}, ONE_TRY, _xcom("ip-1")),
             _task({"task_id": "b", "state": "success", "try_number": 2}, b_tries, _xcom("ip-2", "w-2b"))]
    run = f.airflow_app_smoke_run(
        RUN, tasks,
        [_node({"lifecycle": "Ec2Spot", "eks.amazonaws.com/capacityType": "SPOT"}),
         _node({"lifecycle": "OnDemand", "eks.amazonaws.com/capacityType": "ON_DEMAND"})], SPOT)
    assert run["seconds"] == 42.2 and run["state"] == "success" and run["run_id"] == "r1"
    assert [(t["task_id"], t["pod"], t["node"], t["capacity_type"], t["on_spot"], t["try_number"], t["overlapping_tries"])
            for t in run["tasks"]] == [("a", "w-1", "ip-1", "SPOT", True, 1, False),
                                       ("b", "w-2b", "ip-2", "ON_DEMAND", False, 2, False)]
    assert [(t["try_number"], t["state"], t["pod"]) for t in run["tasks"][1]["tries"]] == [(1, "failed", "w-2"), (2, "success", "w-2b")]
    assert run["report"] == ("spotflow_smoke run r1: success in 42.2 s; a success on ip-1 (SPOT), try 1; "
                             "b success on ip-2 (ON_DEMAND), try 2")


def test_smoke_run_tries_that_overlap_are_flagged():
    tries = _tries(("failed", "2026-12-04T10:00:05Z", "2026-12-04T10:00:30Z"),
                   ("success", "2026-12-04T10:00:29Z", "2026-12-04T10:00:40Z"))
    run = f.airflow_app_smoke_run(RUN, [_task({"task_id": "a", "try_number": 2}, tries, _xcom("ip-1"))], [_node(SPOT)], SPOT)
    assert run["tasks"][0]["overlapping_tries"] is True


def test_smoke_run_a_task_without_its_xcom_or_node_is_not_on_spot():
    tasks = [_task({"task_id": "a", "state": "failed", "try_number": 1}),
             _task({"task_id": "b", "state": "success", "try_number": 1}, ONE_TRY, _xcom("gone"))]
    run = f.airflow_app_smoke_run(dict(RUN, state="failed", end_date=None), tasks, [{"resources": []}, {"resources": []}], SPOT)
    assert [(t["node"], t["on_spot"], t["tries"]) for t in run["tasks"]][0] == ("", False, [])
    assert run["tasks"][1]["on_spot"] is False
    assert run["seconds"] is None


def test_smoke_run_karpenter_capacity_label_and_lists_of_different_lengths():
    tasks = [_task({"task_id": "a"}, ONE_TRY, _xcom("k"))]
    run = f.airflow_app_smoke_run(RUN, tasks, [_node({"lifecycle": "Ec2Spot", "karpenter.sh/capacity-type": "spot"})], SPOT)
    assert run["tasks"][0]["capacity_type"] == "spot" and run["tasks"][0]["on_spot"]
    with pytest.raises(ValueError, match="1 tasks, 0 node reads"):
        f.airflow_app_smoke_run(RUN, tasks, [], SPOT)


def test_smoke_reused_says_which_run_is_the_proof_and_when_it_ended():
    assert f.airflow_app_smoke_reused(RUN) == {
        "dag_id": "spotflow_smoke", "run_id": "r1", "state": "success", "reused": True,
        "report": "spotflow_smoke run r1: success (ended 2026-12-04T10:00:42.75+00:00), reused: the newest run, made for "
                  "this same image, config and Spot node groups"}


def test_smoke_run_logs_mark_the_tries_that_got_a_sigterm_and_check_the_last_names_the_pod():
    tries = _tries(("failed", "2026-12-04T10:00:05Z", "2026-12-04T10:00:20Z"),
                   ("success", "2026-12-04T10:00:35Z", "2026-12-04T10:00:40Z"))
    ti = {"task_id": "a", "try_number": 2}
    run = f.airflow_app_smoke_run(RUN, [_task(ti, tries, _xcom("ip-1", "w-1b"))], [_node(SPOT)], SPOT)
    logs = [{"try_number": 1, "content": [{"event": "Received SIGTERM. Terminating"}]},
            {"try_number": 2, "content": [{"event": "spotflow-smoke: running in pod w-1b on node ip-1"}]}]
    marked = f.airflow_app_smoke_run_logs(run, [_task(ti, tries, logs=logs)])
    assert [t["sigterm"] for t in marked["tasks"][0]["tries"]] == [True, False]
    assert marked["tasks"][0]["log_names_pod"] is True
    assert "sigterm" not in run["tasks"][0]["tries"][0], "the input is left alone"
    # the line of another pod, or on the first try only, does not count
    other = [dict(logs[0], content="spotflow-smoke: running in pod w-1b on node ip-1"),
             dict(logs[1], content="spotflow-smoke: running in pod w-1 on node ip-1")]
    assert f.airflow_app_smoke_run_logs(run, [_task(ti, tries, logs=other)])["tasks"][0]["log_names_pod"] is False
    assert f.airflow_app_smoke_run_logs(run, [_task(ti, tries)])["tasks"][0]["log_names_pod"] is False


def test_smoke_interruptions_count_the_tries_a_reclaim_cost():
    lost = _tries(("failed", "2026-12-04T10:00:05Z", "2026-12-04T10:00:20Z"),
                  ("success", "2026-12-04T10:00:42.5Z", "2026-12-04T10:00:50Z"), pods=("w-1", "w-1b"))
    calm = _tries(("success", "2026-12-04T10:00:05Z", "2026-12-04T10:00:30Z"), pods=("w-2",))
    tasks = [_task({"task_id": "a", "try_number": 2}, lost, _xcom("ip-1", "w-1b")),
             _task({"task_id": "b", "try_number": 1}, calm, _xcom("ip-2", "w-2"))]
    run = f.airflow_app_smoke_run(RUN, tasks, [_node(SPOT), _node(SPOT)], SPOT)
    run = f.airflow_app_smoke_run_logs(run, [dict(tasks[0], logs=[{"try_number": 1, "content": "SIGTERM"}])])
    got = f.airflow_app_smoke_interruptions(run, ["w-1", "w-9"])
    assert got == {"tasks": [{"task_id": "a", "tries_lost": 1, "sigterm": True, "retried": True,
                              "seconds_to_running_again": 22.5}],
                   "tasks_interrupted": 1, "tries_lost": 1, "seconds_to_running_again": 22.5}
    assert f.airflow_app_smoke_interruptions(run, [])["tasks_interrupted"] == 0


def test_object_kinds_one_list_per_kind_in_order():
    expected = f.airflow_app_expected_objects("airflow", **ARGS)
    kinds = f.airflow_app_object_kinds(expected)
    assert kinds[:3] == [{"kind": "Namespace", "api_version": "v1"},
                         {"kind": "StorageClass", "api_version": "storage.k8s.io/v1"},
                         {"kind": "ConfigMap", "api_version": "v1", "namespace": "airflow"}]
    assert len(kinds) == len({(k["kind"], k.get("namespace")) for k in kinds}) < len(expected)
    assert {(o["kind"], o.get("namespace")) for o in expected} == {(k["kind"], k.get("namespace")) for k in kinds}


def test_index_picks_the_expected_objects_from_the_lists():
    expected = [{"kind": "Namespace", "api_version": "v1", "name": "airflow"},
                {"kind": "Secret", "api_version": "v1", "namespace": "airflow", "name": "airflow-admin"},
                {"kind": "Secret", "api_version": "v1", "namespace": "airflow", "name": "airflow-keys"},
                {"kind": "Deployment", "api_version": "apps/v1", "namespace": "airflow", "name": "airflow-scheduler"}]
    ns = {"metadata": {"name": "airflow"}}
    admin = {"metadata": {"name": "airflow-admin", "namespace": "airflow"}, "data": {"password": "c2VjcmV0"}}
    other = {"metadata": {"name": "airflow-admin", "namespace": "elsewhere"}, "data": {"x": "eA=="}}
    results = [{"item": {"kind": "Namespace", "api_version": "v1"}, "resources": [{"metadata": {"name": "default"}}, ns]},
               {"item": {"kind": "Secret", "api_version": "v1", "namespace": "airflow"}, "resources": [other, admin]},
               {"item": {"kind": "Deployment", "api_version": "apps/v1", "namespace": "airflow"}, "resources": []}]
    index = f.airflow_app_index_objects(results, expected)
    assert list(index) == ["Namespace/airflow", "Secret/airflow-admin", "Secret/airflow-keys", "Deployment/airflow-scheduler"]
    assert index["Namespace/airflow"] == ns
    assert index["Secret/airflow-admin"] == {"metadata": admin["metadata"], "keys": ["password"]}
    assert index["Secret/airflow-keys"] is None and index["Deployment/airflow-scheduler"] is None
    assert "c2VjcmV0" not in repr(index)
