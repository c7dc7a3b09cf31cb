"""One Kubernetes control plane per EKS cluster, as on AWS.

CreateCluster starts the cluster's own etcd, kube-apiserver,
kube-controller-manager and kube-scheduler (v1.20.2, built from Debian's
source package): its own ports, CA, service account issuer (the cluster's OIDC
issuer, so IRSA tokens carry the issuer IAM trusts) and token authenticator
path (``/authenticate/<cluster>``: a token is accepted only for the cluster
named in it). DescribeCluster answers with that endpoint and CA; the cluster
is CREATING until its apiserver serves and the default ServiceAccount exists.
DeleteCluster stops the processes and removes their state. Two clusters share
nothing in Kubernetes.

Everything listens on 127.0.0.1. Layout under ``STATE/clusters/<name>/``:
``pki/`` (CA, serving and client certificates, service account keys),
``etcd/``, ``pids/``, ``logs/``, ``admin.kubeconfig`` (system:masters, for the
local cloud itself and for tests) and the components' kubeconfigs.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .. import pki, procs
from ..config import Config
from ..net.network import GATEWAY, POD_CIDR, ClusterNetwork

LOG = logging.getLogger("localcloud.kube")

SERVICE_CIDR = "10.100.0.0/16"  # EKS's default service range for VPCs in 10.0.0.0/8
SERVICE_IP = "10.100.0.1"  # the `kubernetes` Service
FIRST_PORT_OFFSET = 500  # per-cluster ports start at port_base + 500
PORTS_PER_CLUSTER = 3  # apiserver, etcd client, etcd peer
MAX_CLUSTERS = 64
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
# with real nodes: one kube-proxy per cluster, in the cluster's network namespace, which all its nodes share
NODE_NETWORK_COMPONENTS = ("kube-proxy", "dns")
CLUSTER_DNS_IP = "10.100.0.10"  # the kube-dns Service (what kubelets put in pods' resolv.conf)


def cluster_dir(cfg: Config, name: str) -> Path:
    return cfg.state_dir / "clusters" / name


def admin_kubeconfig(cfg: Config, name: str) -> Path:
    """The local cloud's own (system:masters) kubeconfig for cluster ``name``."""
    return cluster_dir(cfg, name) / "admin.kubeconfig"


def _etcd_bin() -> str:
    return shutil.which("etcd") or "/usr/bin/etcd"


@dataclass
class ControlPlane:
    cfg: Config
    name: str
    slot: int
    issuer: str
    state: str = "CREATING"  # CREATING -> ACTIVE | FAILED; DELETING while it stops
    error: str = ""
    settled: threading.Event = field(default_factory=threading.Event)  # start() has finished, either way
    dir: Path = field(init=False)  # moves aside when the cluster is deleted (its name may be reused at once)

    def __post_init__(self):
        self.dir = cluster_dir(self.cfg, self.name)
        self.network = ClusterNetwork(network_name(self.cfg, self.slot))

    # --- where ------------------------------------------------------------
    @property
    def pki_dir(self) -> Path:
        return self.dir / "pki"

    @property
    def pid_dir(self) -> Path:
        return self.dir / "pids"

    @property
    def log_dir(self) -> Path:
        return self.dir / "logs"

    @property
    def apiserver_port(self) -> int:
        return self.cfg.port_base + FIRST_PORT_OFFSET + PORTS_PER_CLUSTER * self.slot

    @property
    def etcd_port(self) -> int:
        return self.apiserver_port + 1

    @property
    def etcd_peer_port(self) -> int:
        return self.apiserver_port + 2

    @property
    def egress_socket(self) -> Path:  # a Unix socket (1.20 wants TLS for a TCP proxy), short whatever the cluster's name
        return self.cfg.state_dir / "sockets" / f"egress-{self.slot}.sock"

    @property
    def endpoint(self) -> str:
        return f"https://{self.cfg.host}:{self.apiserver_port}"

    @property
    def dns_hosts(self) -> Path:
        """The cluster DNS's names; dnsmasq watches its directory (inotify), so it is written by rename."""
        return self.dir / "dns" / "hosts"

    @property
    def ca_file(self) -> Path:
        return self.pki_dir / "ca.crt"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.dir / "admin.kubeconfig"

    def ports(self) -> list[int]:
        return [self.apiserver_port, self.etcd_port, self.etcd_peer_port]

    # --- files ------------------------------------------------------------
    def prepare(self) -> None:
        """Certificates and kubeconfigs, synchronously (DescribeCluster answers with the CA at once)."""
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        pki.ensure_pki(self.pki_dir, ca_name=f"{self.name} (spotflow local EKS)", service_ip=SERVICE_IP)
        for who in ("admin", "controller-manager", "scheduler", "kube-proxy"):
            (self.dir / f"{who}.kubeconfig").write_text(pki.kubeconfig(
                self.endpoint, self.ca_file, self.pki_dir / f"{who}.crt", self.pki_dir / f"{who}.key", who))
        (self.dir / "authenticator.kubeconfig").write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "eks-authenticator", "cluster": {
                "server": f"http://{self.cfg.host}:{self.cfg.webhook_port}/authenticate/{self.name}"}}],
            "users": [{"name": "apiserver", "user": {}}],
            "contexts": [{"name": "webhook", "context": {"cluster": "eks-authenticator", "user": "apiserver"}}],
            "current-context": "webhook",
        }))
        # the apiserver reaches kubelets (logs, exec, port-forward) through the cluster network's proxy
        (self.dir / "egress.yaml").write_text(yaml.safe_dump({
            "apiVersion": "apiserver.k8s.io/v1beta1", "kind": "EgressSelectorConfiguration",
            "egressSelections": [{"name": "cluster", "connection": {
                "proxyProtocol": "HTTPConnect",
                "transport": {"uds": {"udsName": str(self.egress_socket)}}}}],
        }))

    def argv(self, component: str) -> list[str]:
        c, p, kb = self.cfg, self.pki_dir, self.cfg.k8s_bin_dir
        if component == "etcd":
            return [
                _etcd_bin(), "--name", self.name, "--data-dir", str(self.dir / "etcd"),
                "--listen-client-urls", f"http://{c.host}:{self.etcd_port}",
                "--advertise-client-urls", f"http://{c.host}:{self.etcd_port}",
                "--listen-peer-urls", f"http://{c.host}:{self.etcd_peer_port}",
                "--initial-advertise-peer-urls", f"http://{c.host}:{self.etcd_peer_port}",
                "--initial-cluster", f"{self.name}=http://{c.host}:{self.etcd_peer_port}",
                "--quota-backend-bytes", str(2 * 1024**3),
            ]
        if component == "kube-apiserver":
            return [
                str(kb / "kube-apiserver"),
                f"--etcd-servers=http://{c.host}:{self.etcd_port}",
                f"--bind-address={c.host}", f"--advertise-address={c.host}", f"--secure-port={self.apiserver_port}",
                "--insecure-port=0",
                f"--tls-cert-file={p / 'apiserver.crt'}", f"--tls-private-key-file={p / 'apiserver.key'}",
                f"--client-ca-file={self.ca_file}",
                f"--service-account-key-file={p / 'sa.pub'}",
                f"--service-account-signing-key-file={p / 'sa.key'}",
                f"--service-account-issuer={self.issuer}",
                "--authorization-mode=Node,RBAC", "--anonymous-auth=false",
                f"--authentication-token-webhook-config-file={self.dir / 'authenticator.kubeconfig'}",
                "--authentication-token-webhook-version=v1",
                "--authentication-token-webhook-cache-ttl=30s",
                f"--service-cluster-ip-range={SERVICE_CIDR}", "--endpoint-reconciler-type=none",
                "--allow-privileged=true", "--profiling=false", "--event-ttl=15m",
                f"--egress-selector-config-file={self.dir / 'egress.yaml'}",
                f"--kubelet-client-certificate={p / 'admin.crt'}", f"--kubelet-client-key={p / 'admin.key'}",
                "--kubelet-preferred-address-types=InternalIP",
            ]
        if component == "kube-controller-manager":
            return [
                str(kb / "kube-controller-manager"),
                f"--kubeconfig={self.dir / 'controller-manager.kubeconfig'}",
                # simulated nodes never heartbeat: the node lifecycle controller only runs for real kubelets
                "--controllers=*,-cloud-node-lifecycle,-service,-route"
                + ("" if self.cfg.nodes == "real" else ",-nodelifecycle"),
                f"--service-account-private-key-file={p / 'sa.key'}", f"--root-ca-file={self.ca_file}",
                "--use-service-account-credentials=true", "--leader-elect=false",
                "--secure-port=0", "--port=0", "--profiling=false",
            ]
        if component == "kube-proxy":
            return [
                "ip", "netns", "exec", self.network.name, str(kb / "kube-proxy"),
                f"--kubeconfig={self.dir / 'kube-proxy.kubeconfig'}", "--proxy-mode=iptables",
                f"--cluster-cidr={POD_CIDR}", f"--hostname-override={self.name}-network",
                # its node IP: else it asks for a Node of its hostname, retrying for about 35 s before it
                # programs any rule (no Service answers meanwhile)
                f"--bind-address={GATEWAY}",
                # no host-wide conntrack settings: this namespace is not the host
                "--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0s",
                "--conntrack-tcp-timeout-close-wait=0s",
                "--metrics-bind-address=127.0.0.1:10249", "--healthz-bind-address=127.0.0.1:10256",
            ]
        if component == "dns":
            # Debian has no CoreDNS: dnsmasq answers cluster.local names from a hosts file the node
            # simulator keeps (Services and the names the emulated AWS hands out); nothing else. It watches
            # the file's directory rather than being sent SIGHUP: a SIGHUP that arrives before dnsmasq has
            # set its handlers kills it, and the cluster DNS with it (a race right after the start)
            return [
                "ip", "netns", "exec", self.network.name, shutil.which("dnsmasq") or "/usr/sbin/dnsmasq",
                "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll", "--bind-interfaces",
                f"--listen-address={GATEWAY}", "--port=53", f"--hostsdir={self.dns_hosts.parent}", "--pid-file=",
                # stays root: it reads the hosts file again when it changes, under a state dir that may be private to root
                "--local=/cluster.local/", "--log-facility=-", "--user=root", "--cache-size=0",
            ]
        if component == "kube-scheduler":
            return [
                str(kb / "kube-scheduler"),
                f"--kubeconfig={self.dir / 'scheduler.kubeconfig'}",
                "--leader-elect=false", "--secure-port=0", "--port=0", "--profiling=false",
            ]
        raise ValueError(component)

    # --- lifecycle ----------------------------------------------------------
    def _admin_ssl(self):
        return procs.client_ssl(self.ca_file, self.pki_dir / "admin.crt", self.pki_dir / "admin.key")

    def _probe(self, component: str):
        if component == "etcd":
            return lambda: procs.http_ok(f"http://{self.cfg.host}:{self.etcd_port}/health")
        if component == "kube-apiserver":
            return lambda: procs.http_ok(f"{self.endpoint}/readyz", self._admin_ssl())
        return lambda: True

    def start(self) -> None:
        """Start the four processes in order and wait until the cluster can take workloads."""
        try:
            self._open_network()
            for comp in COMPONENTS:
                procs.spawn(self.pid_dir, self.log_dir, comp, self.argv(comp))
                procs.wait_until(self._probe(comp), 120, f"{self.name}: {comp}",
                                 alive=lambda comp=comp: procs.running_pid(self.pid_dir, comp) is not None,
                                 log=self.log_dir / f"{comp}.log")
            # the controller-manager makes the default ServiceAccount: pods can be created from then on
            sa = f"{self.endpoint}/api/v1/namespaces/default/serviceaccounts/default"
            procs.wait_until(lambda: procs.http_ok(sa, self._admin_ssl()), 120, f"{self.name}: default ServiceAccount")
            self._kubernetes_endpoints()
            if self.cfg.nodes == "real":
                self.dns_hosts.parent.mkdir(exist_ok=True)
                self.dns_hosts.write_text("")
                self._cluster_dns_service()
                for comp in NODE_NETWORK_COMPONENTS:
                    procs.spawn(self.pid_dir, self.log_dir, comp, self.argv(comp))
        except Exception as e:
            LOG.error("cluster %s: control plane failed: %s", self.name, e)
            self.state, self.error = "FAILED", str(e)
            self.stop_processes()
        else:
            if self.state == "CREATING":
                self.state = "ACTIVE"
                LOG.info("cluster %s: control plane ready on %s", self.name, self.endpoint)
        finally:
            self.settled.set()

    def _open_network(self) -> None:
        """The cluster's network namespace, and the ways into it (localcloud/net/network.py)."""
        net, host = self.network, self.cfg.host
        net.create()
        for port in (self.apiserver_port, self.cfg.registry_port, self.cfg.standin_port):  # same address inside as on the host
            net.forward((host, port), (host, port))
        net.forward((GATEWAY, 443), (host, self.apiserver_port))  # the `kubernetes` Service's endpoint
        net.connect_proxy(self.egress_socket)

    def _create(self, path: str, body: dict) -> None:
        """POST ``body`` to the cluster's API as the local cloud's admin (already there: fine)."""
        req = urllib.request.Request(f"{self.endpoint}{path}", data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req, timeout=10, context=self._admin_ssl()).close()
        except urllib.error.HTTPError as e:
            if e.code != 409:
                raise

    def _kubernetes_endpoints(self) -> None:
        """Where the `kubernetes` Service leads pods (the endpoint reconciler is off: the apiserver is on loopback)."""
        self._create("/api/v1/namespaces/default/endpoints", {
            "metadata": {"name": "kubernetes"},
            "subsets": [{"addresses": [{"ip": GATEWAY}], "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}]})

    def _cluster_dns_service(self) -> None:
        """kube-dns at 10.100.0.10, leading to the cluster's dnsmasq on the pods' gateway."""
        ports = [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]
        labels = {"k8s-app": "kube-dns", "kubernetes.io/name": "KubeDNS"}
        self._create("/api/v1/namespaces/kube-system/services", {
            "metadata": {"name": "kube-dns", "labels": labels},
            "spec": {"clusterIP": CLUSTER_DNS_IP, "ports": ports}})
        self._create("/api/v1/namespaces/kube-system/endpoints", {
            "metadata": {"name": "kube-dns", "labels": labels},
            "subsets": [{"addresses": [{"ip": GATEWAY}], "ports": ports}]})

    def stop_processes(self) -> None:
        for comp in NODE_NETWORK_COMPONENTS + tuple(reversed(COMPONENTS)):
            procs.stop(self.pid_dir, comp)

    def destroy(self) -> None:
        self.state = "DELETING"
        stop_nodes(self.dir)
        self.stop_processes()
        self.network.destroy()
        shutil.rmtree(self.dir, ignore_errors=True)


class ControlPlanes:
    """The control planes of the clusters the EKS API knows (one process: the AWS emulator)."""

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self._lock = threading.Lock()
        self._planes: dict[str, ControlPlane] = {}
        self._busy_slots: set[int] = set()

    def create(self, name: str, issuer: str) -> ControlPlane:
        """Prepare the cluster's certificates now and bring its processes up in the background."""
        with self._lock:
            if name in self._planes:
                raise ValueError(f"cluster {name} already has a control plane")
            free = [s for s in range(MAX_CLUSTERS) if s not in self._busy_slots]
            if not free:
                raise RuntimeError(f"the local cloud runs at most {MAX_CLUSTERS} clusters at once")
            plane = ControlPlane(self.cfg, name, free[0], issuer)
            self._busy_slots.add(plane.slot)
            self._planes[name] = plane
        plane.prepare()
        threading.Thread(target=plane.start, name=f"control-plane-{name}", daemon=True).start()
        return plane

    def get(self, name: str) -> ControlPlane | None:
        return self._planes.get(name)

    def all(self) -> list[ControlPlane]:
        return list(self._planes.values())

    def delete(self, name: str, wait: bool = False) -> None:
        """Stop the cluster's processes and remove its state (in the background unless ``wait``)."""
        with self._lock:
            plane = self._planes.pop(name, None)
            if plane is None:
                return
            # out of the way at once: a cluster of the same name may be created while this one stops
            aside = plane.dir.parent / f".deleted-{name}-{plane.slot}"
            shutil.rmtree(aside, ignore_errors=True)
            plane.dir.rename(aside)
            plane.dir = aside

        def run():
            plane.settled.wait(timeout=300)  # never race a start that is still under way
            plane.destroy()
            with self._lock:
                self._busy_slots.discard(plane.slot)

        if wait:
            run()
        else:
            threading.Thread(target=run, name=f"delete-control-plane-{name}", daemon=True).start()

    def stop_all(self) -> None:
        for plane in self.all():
            self.delete(plane.name, wait=True)


def stop_nodes(cluster_dir: Path) -> list[str]:
    """Stop, by pid, the kubelets and containerds of a cluster's real nodes (localcloud/nodes/kubelet.py)."""
    from ..nodes.kubelet import stop_node_processes

    nodes = cluster_dir / "nodes"
    if not nodes.is_dir():
        return []
    return [f"{cluster_dir.name}/{n.name}/{what}" for n in sorted(nodes.iterdir()) for what in stop_node_processes(n)]


def network_name(cfg: Config, slot: int) -> str:
    return f"spotflow-{cfg.port_base}-{slot}"


def sweep(cfg: Config) -> list[str]:
    """Stop, by their pid files, what a dead emulator left behind (nodes, control planes); remove
    their state and their network namespaces."""
    stopped = []
    root = cfg.state_dir / "clusters"
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        stopped += stop_nodes(d)
        for comp in NODE_NETWORK_COMPONENTS + tuple(reversed(COMPONENTS)):
            if procs.stop(d / "pids", comp):
                stopped.append(f"{d.name}/{comp}")
        shutil.rmtree(d, ignore_errors=True)
    for ns in Path("/run/netns").glob(network_name(cfg, 0)[:-1] + "*"):
        ClusterNetwork(ns.name).destroy()
        stopped.append(f"netns {ns.name}")
    return stopped
