"""A real EKS node: a kubelet v1.20.2 and its own containerd, for one running instance.

Started as EKS's bootstrap starts a node: node name = the instance's private
DNS name, node IP = its private IP, ``--node-labels`` and
``--register-with-taints`` from the node group, the provider id of the
instance. Both processes live in the cluster's network namespace (see
localcloud/net/network.py) and in a mount namespace of the node's own
(node-mounts.sh): nothing of one node leaks into another (certificates, the
device-plugin socket, pod logs, CNI results, runc state), nor onto the host.
A third process, the EFS CSI node plugin (efs_csi.py; on EKS the add-on's
DaemonSet), shares only that mount namespace.

Everything of the node is under ``STATE/clusters/<cluster>/nodes/<name>/``:
``containerd.toml``, ``kubelet.yaml``, ``kubeconfig``, ``pki/`` (its client
certificate, CN ``system:node:<name>``; the kubelet's own serving certificate),
``cni/``, ``certs.d/`` (the local registry; the stand-in for every other),
``containerd/``, ``root/`` (its /run, /var/lib with the kubelet's root dir,
/var/log), ``pids/``, ``logs/``.

Capacity: a kubelet reports the machine it runs on (this machine's cores and
memory) and cannot be told otherwise; the node's instance type is in its labels.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from .. import pki, procs
from ..config import REPO_ROOT, Config
from ..kube.controlplane import CLUSTER_DNS_IP as CLUSTER_DNS

LOG = logging.getLogger("localcloud.nodes")

PAUSE_IMAGE = "localcloud/pause:3.2"
# in the node's own /run (node-mounts.sh): short, as a Unix socket path must be
NODE_SOCKET = "/run/containerd/containerd.sock"
# what a node's kubelet may not set on itself (k8s.io / kubernetes.io outside the allowed list)
_SELF_LABEL_FORBIDDEN = ("k8s.io/cloud-provider-aws",)


class RealNode:
    def __init__(self, cfg: Config, plane, name: str, spec: dict):
        self.cfg, self.plane, self.name, self.spec = cfg, plane, name, spec
        self.pod_range: dict[str, str] | None = None

    @property
    def dir(self) -> Path:  # follows the cluster's directory when a deleted cluster's moves aside
        return self.plane.dir / "nodes" / self.name

    @property
    def pid_dir(self) -> Path:
        return self.dir / "pids"

    @property
    def log_dir(self) -> Path:
        return self.dir / "logs"

    @property
    def ip(self) -> str:
        return self.spec["private_ip"]

    @property
    def socket(self) -> Path:
        """containerd's socket as the host sees it; the node's processes see it at NODE_SOCKET."""
        return self.dir / "root" / NODE_SOCKET.lstrip("/")

    # --- files --------------------------------------------------------------
    def _write_files(self) -> None:
        d, reg = self.dir, f"{self.cfg.host}:{self.cfg.registry_port}"
        for sub in ("cni/net.d", "cni/ipam", "certs.d", "root"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        # the host's cgroup v1 hierarchies, which node-mounts.sh mounts again under the namespace's /sys
        with open("/proc/self/mounts") as f:
            cgroups = sorted({f"{p[1]} {p[3]}" for p in (line.split() for line in f) if p[2] == "cgroup"})
        (d / "root" / "cgroup-mounts").write_text("".join(f"{c}\n" for c in cgroups))
        (d / "containerd.toml").write_text(f"""version = 2
root = "{d}/containerd/root"
state = "{d}/containerd/state"
[grpc]
  address = "{NODE_SOCKET}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/containerd/opt"
[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "{d}/containerd/runtime-v1"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{reg}/{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{d}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{d}/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{d}/certs.d"
""")
        # the local registry (ECR's repositories) by its own address; every other registry leads to the
        # stand-in (localcloud/images/standin.py): nothing is ever pulled from outside
        standin = f"{self.cfg.host}:{self.cfg.standin_port}"
        for host, server in ((reg, reg), ("_default", standin)):
            (d / "certs.d" / host).mkdir(parents=True, exist_ok=True)
            (d / "certs.d" / host / "hosts.toml").write_text(
                f'server = "http://{server}"\n\n[host."http://{server}"]\n  capabilities = ["pull", "resolve"]\n')
        rng = self.pod_range
        (d / "cni/net.d/10-spotflow.conflist").write_text(json.dumps({
            "cniVersion": "0.4.0", "name": "spotflow",
            "plugins": [{"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": False, "hairpinMode": True,
                         "ipam": {"type": "host-local", "dataDir": str(d / "cni/ipam"),
                                  "ranges": [[{k: rng[k] for k in ("subnet", "rangeStart", "rangeEnd", "gateway")}]],
                                  "routes": [{"dst": "0.0.0.0/0"}]}}],
        }, indent=2))
        crt, key = pki.issue_client(self.plane.pki_dir, d / "pki", "kubelet-client", f"system:node:{self.name}", "system:nodes")
        (d / "kubeconfig").write_text(pki.kubeconfig(self.plane.endpoint, self.plane.ca_file, crt, key, f"system:node:{self.name}"))
        (d / "resolv.conf").write_text(f"nameserver {CLUSTER_DNS}\n")
        (d / "kubelet.yaml").write_text(yaml.safe_dump({
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "address": self.ip, "port": 10250, "readOnlyPort": 0,
            "healthzBindAddress": self.ip, "healthzPort": 10248,
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                               "x509": {"clientCAFile": str(self.plane.ca_file)}},
            "authorization": {"mode": "Webhook"},
            "cgroupDriver": "cgroupfs", "cgroupsPerQOS": False, "enforceNodeAllocatable": [],
            "failSwapOn": False, "makeIPTablesUtilChains": False,
            "clusterDNS": [CLUSTER_DNS], "clusterDomain": "cluster.local", "resolvConf": str(d / "resolv.conf"),
            "podCIDR": rng["podCIDR"],
            "serializeImagePulls": False, "maxPods": 110,
            # one machine's disk is shared by every node: never evict for it
            "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "nodeStatusUpdateFrequency": "10s",
        }))

    def _kubelet_argv(self) -> list[str]:
        labels = {k: v for k, v in self.spec["labels"].items() if k not in _SELF_LABEL_FORBIDDEN}
        taints = ",".join(f"{t['key']}={t.get('value', '')}:{t['effect']}" for t in self.spec["taints"])
        argv = [
            str(self.cfg.k8s_bin_dir / "kubelet"),
            f"--config={self.dir / 'kubelet.yaml'}", f"--kubeconfig={self.dir / 'kubeconfig'}",
            "--container-runtime=remote", f"--container-runtime-endpoint=unix://{NODE_SOCKET}",
            f"--hostname-override={self.name}", f"--node-ip={self.ip}", f"--provider-id={self.spec['provider_id']}",
            # --root-dir and --cert-dir stay /var/lib/kubelet[/pki]: the node's own (node-mounts.sh), and short
            # enough for the Unix sockets the kubelet makes there
            "--node-labels=" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
            "--v=1",
        ]
        if taints:
            argv.append(f"--register-with-taints={taints}")
        return argv

    # --- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        """containerd, then the kubelet in the same namespaces; returns once containerd serves."""
        shutil.rmtree(self.dir, ignore_errors=True)
        self.pod_range = self.plane.network.add_node(self.ip)
        self._write_files()
        # an AWS SDK inside (the kubelet's ECR credential provider) must never reach for EC2 metadata
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(self.dir),
               "AWS_EC2_METADATA_DISABLED": "true"}
        mounts = str(REPO_ROOT / "localcloud/nodes/node-mounts.sh")
        procs.spawn(self.pid_dir, self.log_dir, "containerd",
                    ["ip", "netns", "exec", self.plane.network.name, "sh", mounts, str(self.dir / "root"),
                     "containerd", "--config", str(self.dir / "containerd.toml")], env=env)
        procs.wait_until(self.socket.exists, 30, f"{self.name}: containerd",
                         alive=lambda: procs.running_pid(self.pid_dir, "containerd") is not None,
                         log=self.log_dir / "containerd.log")
        target = str(procs.running_pid(self.pid_dir, "containerd"))
        # the EFS CSI node plugin (efs_csi.py): the node's mount namespace, so its mounts are the kubelet's and
        # containerd's; the host's network, where it asks the AWS emulator what the real driver asks EFS
        procs.spawn(self.pid_dir, self.log_dir, "efs-csi-node",
                    ["nsenter", "--target", target, "--mount", "--", sys.executable, "-m", "localcloud.nodes.efs_csi",
                     "--config", str(self.cfg.state_dir / "config.json"), "--node-id", self.spec["instance_id"],
                     "--region", self.spec["labels"]["topology.kubernetes.io/region"],
                     "--subnet", self.spec["subnet_id"]],
                    env=dict(env, PYTHONPATH=str(REPO_ROOT)))
        procs.spawn(self.pid_dir, self.log_dir, "kubelet",
                    ["nsenter", "--target", target, "--mount", "--net", "--"] + self._kubelet_argv(), env=env)
        LOG.info("node %s: kubelet started (%s, pods %s)", self.name, self.ip, self.pod_range["podCIDR"])

    def stop(self) -> None:
        """The instance is gone: kubelet, every container, containerd; nothing of the node stays."""
        stop_node_processes(self.dir)
        self.plane.network.remove_node(self.ip)
        shutil.rmtree(self.dir, ignore_errors=True)


def stop_node_processes(node_dir: Path) -> list[str]:
    """Stop a node by its pid files: the kubelet, then every container (through its containerd), the EFS CSI
    node plugin, then containerd. The plugin's mounts are in the node's mount namespace: they go with it."""
    stopped = []
    pids = node_dir / "pids"
    if procs.stop(pids, "kubelet", timeout=10):
        stopped.append("kubelet")
    containerd = procs.running_pid(pids, "containerd")
    if containerd is not None:
        _kill_containers(containerd)
    if procs.stop(pids, "efs-csi-node", timeout=5):
        stopped.append("efs-csi-node")
    if procs.stop(pids, "containerd", timeout=10):
        stopped.append("containerd")
    return stopped


def _kill_containers(containerd_pid: int) -> None:
    def ctr(*args: str) -> subprocess.CompletedProcess:  # in the node's mount namespace, where its socket is
        return subprocess.run(["nsenter", "--target", str(containerd_pid), "--mount", "--net", "--",
                               "ctr", "--address", NODE_SOCKET, "--namespace", "k8s.io", *args],
                              capture_output=True, text=True, timeout=30)

    tasks = ctr("tasks", "ls", "-q").stdout.split()
    for t in tasks:
        ctr("tasks", "kill", "--signal", "SIGKILL", t)
    deadline = time.monotonic() + 10
    for t in tasks:
        while ctr("tasks", "delete", t).returncode != 0 and time.monotonic() < deadline:
            time.sleep(0.2)
    for c in ctr("containers", "ls", "-q").stdout.split():
        ctr("containers", "delete", c)
