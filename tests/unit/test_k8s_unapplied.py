"""spotflow.eks.k8s_unapplied: only the objects an apply would change, from one read of the cluster;
spotflow.eks.k8s_unwanted: the role's objects it no longer renders."""

from __future__ import annotations

import copy

import pytest

from ansible_collections.spotflow.eks.plugins.filter.k8s_unapplied import k8s_unapplied, k8s_unwanted

ANN = "spotflow.io/applied-hash"


def deployment(image="airflow:1", env=None):
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "airflow-scheduler", "namespace": "airflow", "labels": {"app": "airflow"}},
            "spec": {"replicas": 1, "template": {"spec": {
                "containers": [{"name": "scheduler", "image": image, "env": env or [{"name": "A", "value": "1"}],
                                "resources": {"limits": {"cpu": 1, "memory": "1Gi"}}}],
                "nodeSelector": {}}}}}


def config_map(data="x"):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "airflow-config", "namespace": "airflow"},
            "data": {"airflow.cfg": data}}


def held(objects):
    """What the API server returns after applying ``objects``: the hash annotation, defaults and status added."""
    out = []
    for obj in copy.deepcopy(objects):
        obj["metadata"].update(uid="u-" + obj["metadata"]["name"], resourceVersion="7")
        obj["metadata"].setdefault("annotations", {})["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
        if obj["kind"] == "Deployment":
            container = obj["spec"]["template"]["spec"]["containers"][0]
            container.update(imagePullPolicy="IfNotPresent", terminationMessagePath="/dev/termination-log")
            container["resources"]["limits"]["cpu"] = "1"  # the API server spells quantities as strings
            del obj["spec"]["template"]["spec"]["nodeSelector"]  # empty fields are dropped
            obj["status"] = {"readyReplicas": 1}
        out.append(obj)
    return out


def test_missing_objects_are_returned_in_order_with_the_hash():
    wanted = [config_map(), deployment()]
    out = k8s_unapplied(wanted, [])
    assert [o["kind"] for o in out] == ["ConfigMap", "Deployment"]
    assert all(len(o["metadata"]["annotations"][ANN]) == 16 for o in out)
    assert "annotations" not in wanted[0]["metadata"], "the input is not modified"


@pytest.mark.parametrize("as_results", [False, True])
def test_objects_applied_before_are_left_out(as_results):
    applied = held(k8s_unapplied([config_map(), deployment()], []))
    live = [{"item": {"kind": "ConfigMap"}, "api_found": True, "resources": applied}] if as_results else applied
    assert k8s_unapplied([config_map(), deployment()], live) == []


def test_a_changed_object_is_returned_alone():
    live = held(k8s_unapplied([config_map(), deployment()], []))
    out = k8s_unapplied([config_map(), deployment(image="airflow:2")], live)
    assert [(o["kind"], o["spec"]["template"]["spec"]["containers"][0]["image"]) for o in out] == [
        ("Deployment", "airflow:2")]


def test_a_field_dropped_from_the_wanted_object_changes_its_hash():
    # the cluster still holds the old env entry's value; an apply would remove it, so the object is returned
    before = deployment()
    before["metadata"]["labels"]["tier"] = "core"
    live = held(k8s_unapplied([before], []))
    assert [o["kind"] for o in k8s_unapplied([deployment()], live)] == ["Deployment"]


@pytest.mark.parametrize("edit", [
    lambda d: d["spec"].update(replicas=3),
    lambda d: d["spec"]["template"]["spec"]["containers"][0]["env"].append({"name": "B", "value": "2"}),
    lambda d: d["spec"]["template"]["spec"]["containers"][0].update(image="evil:1"),
    lambda d: d["metadata"]["labels"].pop("app"),
])
def test_a_field_changed_by_hand_is_put_back(edit):
    live = held(k8s_unapplied([deployment()], []))
    edit(live[0])
    assert [o["kind"] for o in k8s_unapplied([deployment()], live)] == ["Deployment"]


def test_an_object_applied_without_the_hash_is_applied_once_more():
    assert [o["kind"] for o in k8s_unapplied([config_map()], held([config_map()]))] == ["ConfigMap"]


def test_same_name_in_another_namespace_or_kind_does_not_count():
    other = held(k8s_unapplied([config_map()], []))
    other[0]["metadata"]["namespace"] = "default"
    secret = held(k8s_unapplied([config_map()], []))
    secret[0]["kind"] = "Secret"
    assert len(k8s_unapplied([config_map()], other + secret)) == 1


@pytest.mark.parametrize("want, have", [(True, "true"), (1, True), ("1", None), ({"a": 1}, None), ([1], [1, 2])])
def test_values_of_another_type_or_length_differ(want, have):
    live = held(k8s_unapplied([config_map()], []))
    wanted = config_map()
    wanted["data"]["x"] = want
    live[0]["data"]["x"] = have
    live[0]["metadata"]["annotations"][ANN] = k8s_unapplied([wanted], [])[0]["metadata"]["annotations"][ANN]
    assert len(k8s_unapplied([wanted], live)) == 1


def test_lists_are_required():
    with pytest.raises(TypeError, match="must be lists"):
        k8s_unapplied(config_map(), [])


OURS = {"app.kubernetes.io/managed-by": "spotflow.airflow_app", "app.kubernetes.io/instance": "airflow"}
CORE = ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "DaemonSet"]


def labelled(obj, labels=None, api_version=None):
    obj = copy.deepcopy(obj)
    obj["metadata"]["labels"] = dict(OURS if labels is None else labels)
    if api_version:
        obj["apiVersion"] = api_version
    return obj


def named(kind, name, api_version="v1"):
    return {"apiVersion": api_version, "kind": kind, "metadata": {"name": name, "namespace": "airflow"}}


def test_unwanted_are_the_labelled_objects_no_longer_rendered():
    ui = labelled(named("Service", "airflow-ui"))
    prepull = labelled(named("DaemonSet", "airflow-worker-image", "apps/v1"))
    api = labelled(named("Service", "airflow-api-server"))
    # as k8s_objects_info returns them: one result per query, status fields included
    live = [{"api_found": True, "resources": [held([api])[0], held([ui])[0]]},
            {"api_found": True, "resources": [held([prepull])[0]]}]
    assert k8s_unwanted(live, [api, config_map()], CORE, OURS) == [
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "airflow-ui", "namespace": "airflow"}},
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "airflow-worker-image", "namespace": "airflow"}}]
    assert k8s_unwanted(live, [api, ui, prepull], CORE, OURS) == []


def test_unwanted_leaves_other_kinds_and_objects_without_the_labels():
    job = labelled(named("Job", "airflow-migrate-1", "batch/v1"))
    foreign = labelled(named("Service", "airflow-ui"), labels={"app.kubernetes.io/managed-by": "helm"})
    other_instance = labelled(named("Service", "airflow-ui"), labels=dict(OURS, **{"app.kubernetes.io/instance": "other"}))
    unlabelled = named("Service", "airflow-ui")
    assert k8s_unwanted([job, foreign, other_instance, unlabelled], [], CORE, OURS) == []


def test_unwanted_names_an_object_read_under_two_api_versions_once():
    v1 = labelled(named("PodDisruptionBudget", "airflow-scheduler", "policy/v1"))
    v1beta1 = labelled(named("PodDisruptionBudget", "airflow-scheduler", "policy/v1beta1"))
    assert [o["apiVersion"] for o in k8s_unwanted([v1, v1beta1], [], CORE, OURS)] == ["policy/v1"]
    # rendered under the other version, it is still wanted
    assert k8s_unwanted([v1beta1], [v1], CORE, OURS) == []


def test_unwanted_requires_lists():
    with pytest.raises(TypeError, match="must be lists"):
        k8s_unwanted({}, [], CORE, OURS)
