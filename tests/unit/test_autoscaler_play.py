"""The local cloud's play of cluster-autoscaler: it starts only when its RBAC lets every informer sync."""

from __future__ import annotations

import datetime
import json

import yaml
from jinja2 import Environment

from localcloud.kube.autoscaler import DRA, IMAGE, forbidden, status_map_name, status_text, watched
from tests.unit.test_module_docs import REPO


def rules_allow(rules):
    """An authorizer over ClusterRole/Role rules (no wildcards, as in our templates)."""
    def allowed(verb, group, resource, namespace, name):
        return any(group in r["apiGroups"] and resource in r["resources"] and verb in r["verbs"]
                   and (not r.get("resourceNames") or name in r["resourceNames"]) for r in rules)
    return allowed


def our_rules():
    text = (REPO / "roles/eks_cluster/templates/autoscaler-rbac.yaml.j2").read_text()
    env = Environment()
    env.filters["to_json"] = json.dumps
    docs = yaml.safe_load_all(env.from_string(text).render(
        eks_cluster__autoscaler_name="cluster-autoscaler", eks_cluster__autoscaler_namespace="kube-system",
        eks_cluster__k8s_labels={}))
    return [rule for d in docs if d["kind"] in ("ClusterRole", "Role") for rule in d["rules"]]


def test_version_and_status_map_come_from_the_pod():
    m = IMAGE.search("registry.k8s.io/autoscaling/cluster-autoscaler:v1.35.1")
    assert (int(m.group(1)), int(m.group(2))) == (1, 35)
    assert status_map_name(["./cluster-autoscaler", "--status-config-map-name=ca-status"]) == "ca-status"
    assert status_map_name(["./cluster-autoscaler"]) == "cluster-autoscaler-status"


def test_from_1_35_the_dynamic_resource_allocation_objects_are_watched():
    assert not set(DRA) & set(watched((1, 34)))
    assert set(DRA) <= set(watched((1, 35)))


def test_our_rbac_lets_the_pinned_version_start():
    assert forbidden(rules_allow(our_rules()), (1, 35), "kube-system", "cluster-autoscaler-status") == []


def test_rbac_without_resource_k8s_io_never_starts_1_35():
    rules = [r for r in our_rules() if "resource.k8s.io" not in r["apiGroups"]]
    missing = forbidden(rules_allow(rules), (1, 35), "kube-system", "cluster-autoscaler-status")
    assert missing == [f"{verb} {res}.resource.k8s.io" for _, res in DRA for verb in ("list", "watch")]
    assert forbidden(rules_allow(rules), (1, 34), "kube-system", "cluster-autoscaler-status") == []


def test_a_status_map_it_may_not_write_is_reported():
    rules = [r for r in our_rules() if "configmaps" not in r["resources"]]
    assert forbidden(rules_allow(rules), (1, 35), "kube-system", "x") == ["write configmap kube-system/x"]


def test_status_reads_as_the_autoscaler_writes_it():
    status = yaml.safe_load(status_text(datetime.datetime(2026, 12, 3, tzinfo=datetime.timezone.utc)))
    assert status["autoscalerStatus"] == "Running" and status["clusterWide"]["health"]["status"] == "Healthy"
