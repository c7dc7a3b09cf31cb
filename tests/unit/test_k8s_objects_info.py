"""spotflow.eks.k8s_objects_info's read() against a fake API server (paths in, JSON out)."""

from __future__ import annotations

from ansible_collections.spotflow.eks.plugins.module_utils.k8s import ApiException
from ansible_collections.spotflow.eks.plugins.modules import k8s_objects_info

DISCOVERY = {
    "/api/v1": {"resources": [
        {"name": "namespaces", "kind": "Namespace", "namespaced": False},
        {"name": "secrets", "kind": "Secret", "namespaced": True},
        {"name": "pods", "kind": "Pod", "namespaced": True},
        {"name": "pods/status", "kind": "Pod", "namespaced": True},
    ]},
    "/apis/apps/v1": {"resources": [{"name": "deployments", "kind": "Deployment", "namespaced": True}]},
}
OBJECTS = {
    "/api/v1/namespaces/airflow": {"kind": "Namespace", "metadata": {"name": "airflow"}},
    "/apis/apps/v1/namespaces/airflow/deployments": {"items": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]},
    "/api/v1/pods": {"items": [{"metadata": {"name": "p", "namespace": "x"}}]},
}


class Server:
    def __init__(self, fail=None):
        self.calls = []
        self.fail = fail or {}

    def __call__(self, path, params):
        self.calls.append((path, list(params)))
        if path in self.fail:
            raise ApiException(status=self.fail[path], reason="Forbidden")
        data = DISCOVERY.get(path, OBJECTS.get(path))
        if data is None:
            raise ApiException(status=404, reason="Not Found")
        return data


def q(kind, api_version="v1", namespace=None, name=None, label_selectors=(), field_selectors=()):
    return dict(kind=kind, api_version=api_version, namespace=namespace, name=name,
                label_selectors=list(label_selectors), field_selectors=list(field_selectors))


def test_reads_many_kinds_with_one_discovery_per_group_version():
    server = Server()
    queries = [q("Namespace", name="airflow"), q("Secret", namespace="airflow", name="missing"),
               q("Deployment", "apps/v1", namespace="airflow", label_selectors=["a=b", "c!=d"]),
               q("Pod", field_selectors=["status.phase=Running"])]
    results, error = k8s_objects_info.read(server, queries)
    assert error is None
    assert [r["item"] for r in results] == queries
    assert [r["api_found"] for r in results] == [True, True, True, True]
    assert results[0]["resources"] == [{"kind": "Namespace", "metadata": {"name": "airflow"}}]
    assert results[1]["resources"] == []  # a missing object is no error
    # list items get their kind and apiVersion back, as k8s_info returns them
    assert [(d["metadata"]["name"], d["kind"], d["apiVersion"]) for d in results[2]["resources"]] == [
        ("a", "Deployment", "apps/v1"), ("b", "Deployment", "apps/v1")]
    assert results[3]["resources"][0]["metadata"]["namespace"] == "x"
    paths = [c[0] for c in server.calls]
    assert paths.count("/api/v1") == 1 and paths.count("/apis/apps/v1") == 1
    assert ("/apis/apps/v1/namespaces/airflow/deployments", [("labelSelector", "a=b,c!=d")]) in server.calls
    assert ("/api/v1/pods", [("fieldSelector", "status.phase=Running")]) in server.calls


def test_a_kind_the_cluster_does_not_serve_is_api_found_false():
    results, error = k8s_objects_info.read(Server(), [q("PodDisruptionBudget", "policy/v1", namespace="airflow"),
                                                      q("CronJob", "apps/v1", namespace="airflow")])
    assert error is None
    assert [(r["api_found"], r["resources"]) for r in results] == [(False, []), (False, [])]


def test_a_namespace_is_ignored_for_cluster_scoped_kinds_and_required_for_a_namespaced_name():
    server = Server()
    results, error = k8s_objects_info.read(server, [q("Namespace", namespace="ignored", name="airflow")])
    assert error is None and results[0]["resources"][0]["metadata"]["name"] == "airflow"
    assert server.calls[-1][0] == "/api/v1/namespaces/airflow"
    results, error = k8s_objects_info.read(Server(), [q("Secret", name="x")])
    assert error == "queries[0] (v1 Secret/x): Secret is namespaced, give its namespace"


def test_other_api_errors_fail_naming_the_read():
    server = Server(fail={"/apis/apps/v1/namespaces/airflow/deployments": 403})
    results, error = k8s_objects_info.read(server, [q("Namespace", name="airflow"), q("Deployment", "apps/v1", namespace="airflow")])
    assert len(results) == 1
    assert error.startswith("queries[1] (apps/v1 Deployment): 403 Forbidden")
