"""cluster-autoscaler's sign of life, played by the local cloud.

Its image cannot be had offline, so no cluster-autoscaler runs here (real
nodes run a labelled stand-in). What a user, and verify.yml, see of a working
autoscaler is its status ConfigMap (``--status-config-map-name``): written on
every loop, and only once every informer the autoscaler starts has synced. An
informer syncs only if the service account may list and watch its resource;
one it may not keeps the autoscaler waiting forever (cluster-autoscaler
v1.35.0 and later always watch the ``resource.k8s.io`` objects of dynamic
resource allocation, and a ClusterRole written for an older version misses
them). This module plays exactly that: for every Running pod of a
cluster-autoscaler image it asks the apiserver (SubjectAccessReview, the
rules the pod really has) whether its service account may list and watch what
that version watches and may write its status map; if so it writes the map
as the autoscaler does, if not it writes nothing and logs what is forbidden.
"""

from __future__ import annotations

import datetime
import logging
import re
import time

from kubernetes import client
from kubernetes.client.rest import ApiException

LOG = logging.getLogger("localcloud.autoscaler")

IMAGE = re.compile(r"/autoscaling/cluster-autoscaler:v(\d+)\.(\d+)\.\d+")
# (API group, resource) of the informers cluster-autoscaler starts (its kubernetes listers)
WATCHED = [("", r) for r in ("pods", "nodes", "services", "replicationcontrollers", "persistentvolumeclaims",
                             "persistentvolumes", "namespaces")] + [
    ("apps", r) for r in ("replicasets", "statefulsets", "daemonsets")] + [
    ("batch", "jobs"), ("policy", "poddisruptionbudgets")] + [
    ("storage.k8s.io", r) for r in ("storageclasses", "csinodes", "csidrivers", "csistoragecapacities")]
# from v1.35.0 always, whatever --enable-dynamic-resource-allocation says
DRA = [("resource.k8s.io", r) for r in ("resourceclaims", "resourceslices", "deviceclasses")]
LAST_UPDATED = "cluster-autoscaler.kubernetes.io/last-updated"
STATUS_MAP_DEFAULT = "cluster-autoscaler-status"
SCAN_INTERVAL = 10.0  # the autoscaler's --scan-interval default


def watched(version: tuple[int, int]) -> list[tuple[str, str]]:
    """What an autoscaler of this Kubernetes minor version lists and watches."""
    return WATCHED + (DRA if version >= (1, 35) else [])


def status_map_name(command: list[str]) -> str:
    for arg in command:
        if arg.startswith("--status-config-map-name="):
            return arg.split("=", 1)[1]
    return STATUS_MAP_DEFAULT


def forbidden(allowed, version: tuple[int, int], namespace: str, status_map: str) -> list[str]:
    """What the autoscaler needs and may not do; ``allowed(verb, group, resource, namespace, name)``."""
    missing = [f"{verb} {res}{'.' + group if group else ''}" for group, res in watched(version)
               for verb in ("list", "watch") if not allowed(verb, group, res, "", "")]
    if not (allowed("create", "", "configmaps", namespace, "") and allowed("update", "", "configmaps", namespace, status_map)):
        missing.append(f"write configmap {namespace}/{status_map}")
    return missing


def _stamp(now: datetime.datetime) -> str:
    """A time as cluster-autoscaler writes it (Go's time.String in UTC)."""
    return now.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " +0000 UTC"


def status_text(now: datetime.datetime) -> str:
    """The status map's ``status`` as cluster-autoscaler 1.30+ writes it (YAML)."""
    return (f"time: {_stamp(now)}\nautoscalerStatus: Running\nclusterWide:\n  health:\n    status: Healthy\n"
            f"    lastProbeTime: \"{now.strftime('%Y-%m-%dT%H:%M:%SZ')}\"\n"
            "  scaleUp:\n    status: NoActivity\n  scaleDown:\n    status: NoCandidates\n"
            "# written by the spotflow local cloud: the autoscaler's informers would sync (its RBAC allows them)\n")


class AutoscalerPlay:
    """Writes the status map of every cluster-autoscaler pod whose RBAC would let it start."""

    def __init__(self):
        self._next: dict[int, float] = {}  # id(control plane) -> when to look again
        self._reported: set[tuple[str, str]] = set()

    def play(self, plane, api: client.CoreV1Api) -> None:
        now = time.monotonic()
        if self._next.get(id(plane), 0.0) > now:
            return
        self._next[id(plane)] = now + SCAN_INTERVAL
        authz = client.AuthorizationV1Api(api.api_client)
        for pod in api.list_pod_for_all_namespaces(field_selector="status.phase=Running").items:
            for c in pod.spec.containers:
                m = IMAGE.search(c.image or "")
                if m:
                    try:
                        self._one(plane, api, authz, pod, c, (int(m.group(1)), int(m.group(2))))
                    except ApiException as e:  # the pod or its namespace went away meanwhile
                        LOG.debug("%s: autoscaler %s: %s", plane.name, pod.metadata.name, e.reason)

    def _one(self, plane, api, authz, pod, container, version) -> None:
        ns, sa = pod.metadata.namespace, pod.spec.service_account_name or "default"
        user = f"system:serviceaccount:{ns}:{sa}"
        status_map = status_map_name((container.command or []) + (container.args or []))

        def allowed(verb, group, resource, namespace, name) -> bool:
            review = authz.create_subject_access_review({"spec": {
                "user": user, "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"],
                "resourceAttributes": {"verb": verb, "group": group, "resource": resource,
                                       "namespace": namespace, "name": name}}})
            return bool(review.status.allowed)

        missing = forbidden(allowed, version, ns, status_map)
        key = (plane.name, pod.metadata.uid)
        if missing:
            if key not in self._reported:
                self._reported.add(key)
                LOG.warning("%s: cluster-autoscaler %s/%s (v%d.%d) cannot start: informers never sync, %s may not %s",
                            plane.name, ns, pod.metadata.name, *version, user, ", ".join(missing))
            return
        now = datetime.datetime.now(datetime.timezone.utc)
        body = {"metadata": {"name": status_map, "namespace": ns,
                             "annotations": {LAST_UPDATED: _stamp(now)}},
                "data": {"status": status_text(now)}}
        try:
            api.patch_namespaced_config_map(status_map, ns, body)
        except ApiException as e:
            if e.status != 404:
                raise
            api.create_namespaced_config_map(ns, body)
