"""The node simulator: plays EC2 + kubelet for every EKS managed node group in moto.

For each running instance of a node group's Auto Scaling group it keeps a
Kubernetes Node with what EKS and the kubelet would give it: the labels EKS
sets (``eks.amazonaws.com/nodegroup``, ``eks.amazonaws.com/capacityType``,
``node.kubernetes.io/instance-type``, ``topology.kubernetes.io/zone`` ...),
the group's own labels and taints, capacity from the instance type and a
Ready condition; it removes the not-ready taint as the node lifecycle would.
Label and taint updates of the group reach existing nodes (EKS does the same);
taints someone else added (kubectl taint, our node_taint module) are kept.

It also plays the kubelet for pods bound to its nodes: they become Running
and Ready, Job pods Succeeded; pods being deleted are finalised.

A Spot interruption (``interrupt``) cordons the node, evicts its pods through
the Eviction API (PodDisruptionBudgets are honoured until the notice runs
out), deletes the Node and terminates the instance; the Auto Scaling group
launches a replacement, which becomes a new Node.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import logging
import threading
import time
from typing import Any, Callable

from kubernetes import client, config
from kubernetes.client.rest import ApiException

from ..kube.autoscaler import AutoscalerPlay

LOG = logging.getLogger("localcloud.nodes")

SIM_ANNOTATION = "localcloud.spotflow.io/simulated"
MANAGED_LABELS = "localcloud.spotflow.io/eks-labels"
MANAGED_TAINTS = "localcloud.spotflow.io/eks-taints"
EFFECTS = {"NO_SCHEDULE": "NoSchedule", "NO_EXECUTE": "NoExecute", "PREFER_NO_SCHEDULE": "PreferNoSchedule"}
NOT_READY = "node.kubernetes.io/not-ready"
# where RDS DB instances' endpoints answer in a cluster's network (server slot s at .s+1): out of the
# ranges of VPCs, pods and Services, as an interface's address in the VPC would be
RDS_ADDRESSES = ipaddress.ip_network("100.127.0.0/24")


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def instance_capacity(instance_type: str) -> dict[str, str]:
    from moto.ec2.models.instance_types import INSTANCE_TYPES

    info = INSTANCE_TYPES.get(instance_type, {})
    vcpu = (info.get("VCpuInfo") or {}).get("DefaultVCpus", 2)
    mem_mib = (info.get("MemoryInfo") or {}).get("SizeInMiB", 8192)
    return {"cpu": str(vcpu), "memory": f"{mem_mib}Mi", "pods": "110", "ephemeral-storage": "20Gi"}


def allocatable(capacity: dict[str, str]) -> dict[str, str]:
    # What EKS's bootstrap reserves, roughly: 70m CPU + 10% memory, for kubelet and system.
    cpu_m = int(capacity["cpu"]) * 1000 - 70
    mem_mi = int(capacity["memory"][:-2])
    return {"cpu": f"{cpu_m}m", "memory": f"{int(mem_mi * 0.9)}Mi", "pods": capacity["pods"],
            "ephemeral-storage": "18Gi"}


class NodeSimulator:
    def __init__(self, control_planes, interval: float = 1.0, k8s_version: str = "v1.20.2", real: bool = False):
        self.control_planes = control_planes  # localcloud.kube.controlplane.ControlPlanes
        # real: each instance is a kubelet + containerd (kubelet.RealNode) instead of a simulated Node
        self.real = real
        self._real_nodes: dict[tuple[int, str], Any] = {}  # (id(control plane), node name) -> RealNode
        self.interval = interval
        self.k8s_version = k8s_version
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._clients: dict[int, client.CoreV1Api] = {}  # id(control plane) -> its API
        self._current = threading.local()  # the cluster a thread is working on
        self._types: dict[str, str] = {}  # instance id -> the type it "launched" as
        self._round_robin: dict[str, int] = {}  # node group ARN -> next override
        self.errors = 0
        self._autoscalers = AutoscalerPlay()

    # --- plumbing -------------------------------------------------------
    @property
    def api(self) -> client.CoreV1Api:
        """The Kubernetes API of the cluster this thread works on (see ``_on``)."""
        return self._current.api

    @contextlib.contextmanager
    def _on(self, plane):
        api = self._clients.get(id(plane))
        if api is None:
            api = client.CoreV1Api(config.new_client_from_config(config_file=str(plane.admin_kubeconfig)))
            self._clients[id(plane)] = api
        self._current.api, self._current.plane = api, plane
        try:
            yield api
        finally:
            self._current.api = self._current.plane = None

    def _active_planes(self) -> list:
        planes = [p for p in self.control_planes.all() if p.state == "ACTIVE"]
        live = {id(p) for p in planes}
        for key in set(self._clients) - live:
            self._clients.pop(key)
        return planes

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self._run, name="node-simulator", daemon=True)
        t.start()
        return t

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self._lock:
                    self.reconcile()
                self.errors = 0
            except Exception as e:  # apiserver not up yet, or a transient error
                self.errors += 1
                if self.errors in (1, 10) or self.errors % 60 == 0:
                    LOG.warning("reconcile failed (%d in a row): %s", self.errors, e)
                if self.errors % 10 == 0:
                    self._clients.clear()
            self._stop.wait(self.interval)

    # --- desired state from moto -----------------------------------------
    def desired_nodes(self) -> dict[str, dict[str, dict[str, Any]]]:
        """cluster name -> node name -> what the node should look like."""
        from moto.autoscaling.models import autoscaling_backends
        from moto.ec2.models import ec2_backends
        from moto.eks.models import eks_backends

        nodes: dict[str, dict[str, dict[str, Any]]] = {}
        for account_id, regions in list(eks_backends.items()):
            for region, eks in list(regions.items()):
                for cluster in list(eks.clusters.values()):
                    for ng in list(cluster.nodegroups.values()):
                        asg_name = ng.resources["autoScalingGroups"][0]["name"]
                        group = autoscaling_backends[account_id][region].autoscaling_groups.get(asg_name)
                        if group is None:
                            continue
                        ec2 = ec2_backends[account_id][region]
                        for i, state in enumerate(sorted(group.instance_states, key=lambda s: s.instance.id)):
                            inst = state.instance
                            # an interrupted instance runs (cordoned, drained) until its notice is over
                            if inst.state != "running":
                                continue
                            spec = self._node_spec(cluster, ng, inst, i, region, ec2)
                            nodes.setdefault(cluster.name, {})[_node_name(inst, region)] = spec
        return nodes

    def _node_spec(self, cluster, ng, inst, index, region, ec2) -> dict[str, Any]:
        # A mixed-instances group spreads over its overrides; moto launches the
        # launch template's type, so pick the override the way AWS would vary it.
        # chosen once per instance, round-robin over the group's types, so a node's
        # type never changes when others come and go
        itype = self._types.get(inst.id)
        if itype is None:
            if ng.instance_types:
                n = self._round_robin.get(ng.arn, 0)
                self._round_robin[ng.arn] = n + 1
                itype = ng.instance_types[n % len(ng.instance_types)]
            else:
                itype = inst.instance_type
            self._types[inst.id] = itype
        zone = inst.placement.zone
        eks_labels = {
            "eks.amazonaws.com/nodegroup": ng.nodegroup_name,
            "eks.amazonaws.com/capacityType": ng.capacity_type,
            "eks.amazonaws.com/nodegroup-image": inst.image_id,
            "eks.amazonaws.com/sourceLaunchTemplateId": getattr(ng, "spotflow_launch_template_id", ""),
            "node.kubernetes.io/instance-type": itype,
            "beta.kubernetes.io/instance-type": itype,
            "topology.kubernetes.io/region": region,
            "topology.kubernetes.io/zone": zone,
            "failure-domain.beta.kubernetes.io/region": region,
            "failure-domain.beta.kubernetes.io/zone": zone,
            "k8s.io/cloud-provider-aws": "spotflow-localcloud",
        }
        eks_labels.update(ng.labels or {})
        taints = [{"key": t["key"], "value": t.get("value", ""), "effect": EFFECTS.get(t["effect"], t["effect"])}
                  for t in (ng.taints or [])]
        return {
            "labels": eks_labels,
            "taints": taints,
            "instance_id": inst.id,
            "provider_id": f"aws:///{zone}/{inst.id}",
            "private_ip": inst.private_ip,
            "subnet_id": inst.subnet_id,  # where the EFS CSI node plugin looks for a mount target
            "capacity": instance_capacity(itype),
            "cluster": cluster.name,
            "version": f"v{cluster.version}.0-eks" if cluster.version else self.k8s_version,
        }

    # --- reconcile -------------------------------------------------------
    def reconcile(self) -> None:
        wanted = self.desired_nodes()
        planes = self._active_planes()
        live = {id(p) for p in planes}
        for key in [k for k in self._real_nodes if k[0] not in live]:
            self._real_nodes.pop(key).stop()  # its cluster went away under it
        for plane in planes:
            with self._on(plane):
                self._reconcile_cluster(wanted.get(plane.name, {}))
                self._autoscalers.play(plane, self.api)

    def _reconcile_cluster(self, desired: dict[str, dict[str, Any]]) -> None:
        if self.real:
            return self._reconcile_real(desired)
        existing = {n.metadata.name: n for n in self.api.list_node().items
                    if (n.metadata.annotations or {}).get(SIM_ANNOTATION) == "true"}
        for name, spec in desired.items():
            node = existing.get(name)
            if node is None:
                self._create_node(name, spec)
            else:
                self._sync_node(node, spec)
        for name in set(existing) - set(desired):
            self._delete_node(name)
        self._play_kubelet(set(desired))

    def _create_node(self, name: str, spec: dict[str, Any]) -> None:
        LOG.info("node %s joins (%s)", name, spec["labels"]["eks.amazonaws.com/nodegroup"])
        labels = dict(spec["labels"], **{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
                                         "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                                         "beta.kubernetes.io/arch": "amd64"})
        body = {
            "metadata": {
                "name": name,
                "labels": labels,
                "annotations": {
                    SIM_ANNOTATION: "true",
                    MANAGED_LABELS: json.dumps(sorted(spec["labels"])),
                    MANAGED_TAINTS: json.dumps(spec["taints"]),
                    "node.alpha.kubernetes.io/ttl": "0",
                },
            },
            # The kubelet registers with the group's taints; not-ready until its first status.
            "spec": {"providerID": spec["provider_id"],
                     "taints": spec["taints"] + [{"key": NOT_READY, "effect": "NoSchedule"}]},
        }
        try:
            self.api.create_node(body)
        except ApiException as e:
            if e.status != 409:
                raise
        self._set_ready(name, spec)
        # what the node lifecycle controller does once the node is Ready
        node = self.api.read_node(name)
        taints = [t for t in (node.spec.taints or []) if t.key != NOT_READY]
        self._patch_taints(node, taints)

    def _set_ready(self, name: str, spec: dict[str, Any]) -> None:
        now = _now()
        cap = spec["capacity"]
        status = {
            "capacity": cap,
            "allocatable": allocatable(cap),
            "conditions": [
                {"type": t, "status": "False", "reason": f"KubeletHas{r}", "message": m,
                 "lastHeartbeatTime": now, "lastTransitionTime": now}
                for t, r, m in (("MemoryPressure", "SufficientMemory", "kubelet has sufficient memory available"),
                                ("DiskPressure", "NoDiskPressure", "kubelet has no disk pressure"),
                                ("PIDPressure", "SufficientPID", "kubelet has sufficient PID available"))
            ] + [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                  "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now}],
            "addresses": [{"type": "InternalIP", "address": spec["private_ip"]},
                          {"type": "Hostname", "address": name},
                          {"type": "InternalDNS", "address": name}],
            "nodeInfo": {"kubeletVersion": spec["version"], "kubeProxyVersion": spec["version"],
                         "containerRuntimeVersion": "containerd://1.7.27", "operatingSystem": "linux",
                         "architecture": "amd64", "osImage": "Amazon Linux 2023 (simulated)",
                         "kernelVersion": "6.1.0", "machineID": spec["instance_id"], "systemUUID": spec["instance_id"],
                         "bootID": spec["instance_id"]},
        }
        self.api.patch_node_status(name, {"status": status})

    def _patch_taints(self, node, taints: list) -> None:
        body = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": node.metadata.resource_version},
            {"op": "replace" if node.spec.taints is not None else "add", "path": "/spec/taints",
             "value": [_taint_dict(t) for t in taints]},
        ]
        self.api.patch_node(node.metadata.name, body)

    def _sync_node(self, node, spec: dict[str, Any]) -> None:
        """Bring EKS-managed labels and taints in line with the group; keep everyone else's."""
        ann = node.metadata.annotations or {}
        old_labels = set(json.loads(ann.get(MANAGED_LABELS, "[]")))
        old_taints = json.loads(ann.get(MANAGED_TAINTS, "[]"))
        labels = dict(node.metadata.labels or {})
        want_labels = spec["labels"]
        label_patch: dict[str, Any] = {k: v for k, v in want_labels.items() if labels.get(k) != v}
        label_patch.update({k: None for k in old_labels - set(want_labels)})
        managed_keys = {(t["key"], t["effect"]) for t in old_taints + spec["taints"]}
        current = [_taint_dict(t) for t in (node.spec.taints or [])]
        kept = [t for t in current if (t["key"], t["effect"]) not in managed_keys]
        new_taints = kept + spec["taints"]
        taints_changed = _taint_set(new_taints) != _taint_set(current)
        ann_patch = {}
        if sorted(want_labels) != sorted(old_labels):
            ann_patch[MANAGED_LABELS] = json.dumps(sorted(want_labels))
        if old_taints != spec["taints"]:
            ann_patch[MANAGED_TAINTS] = json.dumps(spec["taints"])
        if label_patch or ann_patch:
            # only the keys that change: a null "annotations" would wipe them all
            meta = {k: v for k, v in (("labels", label_patch), ("annotations", ann_patch)) if v}
            self.api.patch_node(node.metadata.name, {"metadata": meta})
            node = self.api.read_node(node.metadata.name)
        if taints_changed and old_taints != spec["taints"]:
            # only react to a change of the group's taints, never undo someone else's edit
            self._patch_taints(node, [t for t in new_taints])

    def _reconcile_real(self, desired: dict[str, dict[str, Any]]) -> None:
        """Each desired node is a running kubelet; one whose instance is gone is stopped and its Node deleted."""
        from .kubelet import RealNode

        plane = self._current.plane
        mine = {name for (pid, name) in self._real_nodes if pid == id(plane)}
        for name, spec in desired.items():
            if name not in mine:
                node = RealNode(plane.cfg, plane, name, spec)
                self._real_nodes[(id(plane), name)] = node
                node.start()
        for name in mine - set(desired):
            self._delete_node(name)
        self._cluster_dns(plane)

    def _cluster_dns(self, plane) -> None:
        """The cluster DNS's names: every Service's ClusterIP as <name>.<namespace>.svc.cluster.local, and the
        endpoint of each RDS DB instance the cluster's network reaches."""
        lines = sorted(f"{s.spec.cluster_ip} {s.metadata.name}.{s.metadata.namespace}.svc.cluster.local\n"
                       for s in self.api.list_service_for_all_namespaces().items
                       if s.spec.cluster_ip and s.spec.cluster_ip != "None")
        text = "".join(lines + self._publish_db_instances(plane))
        if plane.dns_hosts.exists() and plane.dns_hosts.read_text() != text:
            # whole or not at all: dnsmasq reads the file when it is renamed into its directory (it skips dotfiles)
            tmp = plane.dns_hosts.with_name(".hosts.new")
            tmp.write_text(text)
            tmp.replace(plane.dns_hosts)

    def _publish_db_instances(self, plane) -> list[str]:
        """Each DB instance in the cluster's VPC answers in the cluster's network at its endpoint as the RDS
        API gives it (name and port): an address of its own there (RDS_ADDRESSES), forwarded to its server on
        this machine. Returns the endpoint names for the cluster DNS. An instance without a DB subnet group
        (no VPC known) is reachable from every cluster."""
        from moto.eks.models import eks_backends

        from ..aws.rds_postgres import endpoints

        vpcs = {c.resources_vpc_config.get("vpcId") for regions in list(eks_backends.values())
                for eks in list(regions.values()) for c in list(eks.clusters.values()) if c.name == plane.name}
        wanted, names = {}, []
        for e in endpoints(plane.cfg).values():
            if e.get("vpc") is None or e["vpc"] in vpcs:
                address = str(RDS_ADDRESSES[e["slot"] + 1])
                wanted[(address, e["api_port"])] = (e["host"], e["port"])
                names.append(f"{address} {e['address']}\n")
        for inside in set(plane.network.published()) - set(wanted):
            plane.network.unpublish(inside)
        for inside, host in wanted.items():
            plane.network.publish(inside, host)
        return names

    def stop_real_nodes(self) -> None:
        """Stop every kubelet and containerd (the local cloud is going down)."""
        for node in list(self._real_nodes.values()):
            node.stop()
        self._real_nodes.clear()

    def _delete_node(self, name: str) -> None:
        LOG.info("node %s leaves", name)
        real = self._real_nodes.pop((id(self._current.plane), name), None) if self.real else None
        if real is not None:
            real.stop()  # the instance is gone: its kubelet first, or it would register the Node again
        try:
            self.api.delete_node(name)
        except ApiException as e:
            if e.status != 404:
                raise
        for pod in self.api.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={name}").items:
            self._finalise(pod)

    def _finalise(self, pod) -> None:
        try:
            self.api.delete_namespaced_pod(pod.metadata.name, pod.metadata.namespace, grace_period_seconds=0,
                                           body=client.V1DeleteOptions(grace_period_seconds=0))
        except ApiException as e:
            if e.status != 404:
                raise

    # --- the kubelet's part for pods ---------------------------------------
    def _play_kubelet(self, nodes: set[str]) -> None:
        for pod in self.api.list_pod_for_all_namespaces().items:
            node = pod.spec.node_name
            if not node or node not in nodes:
                continue
            if pod.metadata.deletion_timestamp is not None:
                self._finalise(pod)
                continue
            phase = pod.status.phase if pod.status else None
            if phase in ("Succeeded", "Failed"):
                continue
            owners = {o.kind for o in (pod.metadata.owner_references or [])}
            if "Job" in owners:
                self._set_pod_status(pod, "Succeeded")
            elif phase != "Running":
                self._set_pod_status(pod, "Running")

    def _set_pod_status(self, pod, phase: str) -> None:
        now = _now()
        ready = "True" if phase == "Running" else "False"
        statuses = []
        for c in pod.spec.containers:
            st = {"name": c.name, "image": c.image, "imageID": "", "restartCount": 0, "ready": phase == "Running",
                  "started": phase == "Running", "containerID": f"containerd://{pod.metadata.uid[:12]}{c.name}"}
            st["state"] = ({"running": {"startedAt": now}} if phase == "Running" else
                           {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}})
            statuses.append(st)
        init_statuses = [
            {"name": c.name, "image": c.image, "imageID": "", "restartCount": 0, "ready": True,
             "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}}
            for c in (pod.spec.init_containers or [])
        ]
        cond = lambda t, s: {"type": t, "status": s, "lastProbeTime": None, "lastTransitionTime": now}  # noqa: E731
        status = {
            "phase": phase,
            "conditions": [cond("Initialized", "True"), cond("Ready", ready), cond("ContainersReady", ready),
                           cond("PodScheduled", "True")],
            "hostIP": "10.0.0.1",
            "podIP": _pod_ip(pod.metadata.uid),
            "podIPs": [{"ip": _pod_ip(pod.metadata.uid)}],
            "startTime": now,
            "containerStatuses": statuses,
            "initContainerStatuses": init_statuses or None,
        }
        try:
            self.api.patch_namespaced_pod_status(pod.metadata.name, pod.metadata.namespace, {"status": status})
        except ApiException as e:
            if e.status not in (404, 409):
                raise

    # --- Spot interruption ---------------------------------------------------
    def interrupt(self, account_id: str, region: str, instance_ids: list[str], notice_seconds: float,
                  finished: Callable[[str], None] | None = None) -> None:
        """Reclaim instances as EC2 does: notice, cordon, evict, terminate; the ASG replaces them."""
        t = threading.Thread(target=self._interrupt, name="spot-interruption",
                             args=(account_id, region, instance_ids, notice_seconds, finished), daemon=True)
        t.start()

    def _interrupt(self, account_id, region, instance_ids, notice_seconds, finished) -> None:
        from moto.autoscaling.models import autoscaling_backends
        from moto.ec2.models import ec2_backends

        from ..aws.fis import instance_tags

        status = "completed"
        try:
            deadline = time.monotonic() + notice_seconds
            ec2 = ec2_backends[account_id][region]
            nodes = {}  # instance id -> (control plane, node name)
            for iid in instance_ids:
                plane = self.control_planes.get(instance_tags(ec2, iid).get("eks:cluster-name", ""))
                if plane is None or plane.state != "ACTIVE":
                    continue
                with self._on(plane):
                    for n in self.api.list_node().items:
                        if (n.spec.provider_id or "").rsplit("/", 1)[-1] == iid:
                            nodes[iid] = (plane, n.metadata.name)
                            LOG.info("spot interruption notice for %s (%s)", n.metadata.name, iid)
                            self.api.patch_node(n.metadata.name, {"spec": {"unschedulable": True}})
                            self._evict_all(n.metadata.name, deadline)
            remaining = deadline - time.monotonic()
            if remaining > 0:
                time.sleep(remaining)
            with self._lock:
                asg = autoscaling_backends[account_id][region]
                for iid in instance_ids:
                    if iid in nodes:
                        plane, name = nodes[iid]
                        with self._on(plane):
                            self._delete_node(name)
                    # The instance goes away; the group keeps its desired size
                    # and launches a replacement (capacity rebalancing).
                    try:
                        asg.terminate_instance(iid, should_decrement=False)
                    except Exception as e:
                        LOG.warning("terminate %s: %s", iid, e)
        except Exception:
            LOG.exception("spot interruption failed")
            status = "failed"
        if finished:
            finished(status)

    def _evict_all(self, node_name: str, deadline: float) -> None:
        pods = [p for p in self.api.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node_name}").items
                if not any(o.kind == "DaemonSet" for o in (p.metadata.owner_references or []))]
        pending = list(pods)
        while pending and time.monotonic() < deadline:
            still = []
            for pod in pending:
                body = {"apiVersion": "policy/v1beta1", "kind": "Eviction",
                        "metadata": {"name": pod.metadata.name, "namespace": pod.metadata.namespace}}
                try:
                    self.api.create_namespaced_pod_eviction(pod.metadata.name, pod.metadata.namespace, body)
                    LOG.info("evicted %s/%s", pod.metadata.namespace, pod.metadata.name)
                except ApiException as e:
                    if e.status == 429:  # a PodDisruptionBudget says not now
                        still.append(pod)
                    elif e.status != 404:
                        raise
            pending = still
            if pending:
                time.sleep(0.5)


def _node_name(inst, region: str) -> str:
    suffix = "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"
    return f"ip-{inst.private_ip.replace('.', '-')}.{suffix}"


def _pod_ip(uid: str) -> str:
    h = int(uid.replace("-", "")[:6], 16)
    return f"10.244.{(h >> 8) & 0xFF}.{h & 0xFF or 1}"


def _taint_dict(t) -> dict[str, Any]:
    if isinstance(t, dict):
        d = {"key": t["key"], "effect": t["effect"]}
        if t.get("value"):
            d["value"] = t["value"]
        if t.get("timeAdded") or t.get("time_added"):
            d["timeAdded"] = t.get("timeAdded") or t.get("time_added")
        return d
    d = {"key": t.key, "effect": t.effect}
    if t.value:
        d["value"] = t.value
    if t.time_added:
        d["timeAdded"] = t.time_added.strftime("%Y-%m-%dT%H:%M:%SZ") if hasattr(t.time_added, "strftime") else t.time_added
    return d


def _taint_set(taints) -> set:
    return {(t["key"], t.get("value") or "", t["effect"]) for t in taints}
