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

import logging
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .. import pki, procs
from ..config import Config

LOG = logging.getLogger("localcloud.kube")

SERVICE_CIDR = "10.100.0.0/16"  # EKS's default service range for VPCs in 10.0.0.0/8
SERVICE_IP = "10.100.0.1"  # the `kubernetes` Service
FIRST_PORT_OFFSET = 500  # per-cluster ports start at port_base + 500
PORTS_PER_CLUSTER = 3  # apiserver, etcd client, etcd peer
MAX_CLUSTERS = 64
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")


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
    def endpoint(self) -> str:
        return f"https://{self.cfg.host}:{self.apiserver_port}"

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
        for who in ("admin", "controller-manager", "scheduler"):
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
            ]
        if component == "kube-controller-manager":
            return [
                str(kb / "kube-controller-manager"),
                f"--kubeconfig={self.dir / 'controller-manager.kubeconfig'}",
                # no kubelets heartbeat here: the node simulator plays them
                "--controllers=*,-nodelifecycle,-cloud-node-lifecycle,-service,-route",
                f"--service-account-private-key-file={p / 'sa.key'}", f"--root-ca-file={self.ca_file}",
                "--use-service-account-credentials=true", "--leader-elect=false",
                "--secure-port=0", "--port=0", "--profiling=false",
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
            for comp in COMPONENTS:
                procs.spawn(self.pid_dir, self.log_dir, comp, self.argv(comp))
                procs.wait_until(self._probe(comp), 120, f"{self.name}: {comp}",
                                 alive=lambda comp=comp: procs.running_pid(self.pid_dir, comp) is not None,
                                 log=self.log_dir / f"{comp}.log")
            # the controller-manager makes the default ServiceAccount: pods can be created from then on
            sa = f"{self.endpoint}/api/v1/namespaces/default/serviceaccounts/default"
            procs.wait_until(lambda: procs.http_ok(sa, self._admin_ssl()), 120, f"{self.name}: default ServiceAccount")
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

    def stop_processes(self) -> None:
        for comp in reversed(COMPONENTS):
            procs.stop(self.pid_dir, comp)

    def destroy(self) -> None:
        self.state = "DELETING"
        self.stop_processes()
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


def sweep(cfg: Config) -> list[str]:
    """Stop, by their pid files, control-plane processes a dead emulator left behind; remove their state."""
    stopped = []
    root = cfg.state_dir / "clusters"
    for d in sorted(root.iterdir()) if root.is_dir() else []:
        for comp in reversed(COMPONENTS):
            if procs.stop(d / "pids", comp):
                stopped.append(f"{d.name}/{comp}")
        shutil.rmtree(d, ignore_errors=True)
    return stopped
