"""Helpers for tests that use the local cloud (see tests/conftest.py)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import boto3

from .cloud import LocalCloud
from .config import REPO_ROOT
from .kube import controlplane

NODE_ROLE_ARN = "arn:aws:iam::123456789012:role/localcloud-test-node"
CLUSTER_ROLE_ARN = "arn:aws:iam::123456789012:role/localcloud-test-cluster"
RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)", re.M)


def recap(stdout: str) -> dict[str, int]:
    """Totals of the PLAY RECAP lines of an ansible-playbook run."""
    totals = dict(ok=0, changed=0, unreachable=0, failed=0, skipped=0, rescued=0, ignored=0)
    found = False
    for m in RECAP.finditer(stdout):
        found = True
        for k, v in zip(totals, m.groups()[1:]):
            totals[k] += int(v)
    if not found:
        raise AssertionError("no PLAY RECAP in output:\n" + stdout[-3000:])
    return totals


class Handle:
    """What a test gets from the ``localcloud`` fixture."""

    def __init__(self, cloud: LocalCloud):
        self.cloud = cloud
        self.cfg = cloud.cfg
        self.env = cloud.cfg.env()
        self._vpc: dict[str, Any] | None = None

    # --- clients ------------------------------------------------------------
    def boto3(self, service: str):
        return boto3.client(service, endpoint_url=self.env["AWS_ENDPOINT_URL"], region_name=self.cfg.region,
                            aws_access_key_id=self.cfg.access_key, aws_secret_access_key=self.cfg.secret_key)

    def kubeconfig(self, cluster: str) -> str:
        """The local cloud's own (system:masters) kubeconfig for EKS cluster ``cluster``."""
        return str(controlplane.admin_kubeconfig(self.cfg, cluster))

    def k8s(self, cluster: str):
        """A kubernetes ApiClient for ``cluster`` with the local cloud's admin certificate."""
        from kubernetes import config

        return config.new_client_from_config(config_file=self.kubeconfig(cluster))

    def eks_token(self, cluster: str) -> str:
        sys.path.insert(0, str(REPO_ROOT / "collections"))
        from ansible_collections.spotflow.eks.plugins.module_utils.eks_token import generate_token

        return generate_token(cluster, self.cfg.region, endpoint_url=self.env["AWS_ENDPOINT_URL"],
                              access_key=self.cfg.access_key, secret_key=self.cfg.secret_key)[0]

    # --- AWS fixtures ---------------------------------------------------------
    def vpc(self) -> dict[str, Any]:
        """One VPC with three subnets in three AZs, shared by the tests."""
        if self._vpc is None:
            ec2 = self.boto3("ec2")
            found = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["localcloud-test"]}])["Vpcs"]
            if found:
                vpc_id = found[0]["VpcId"]
                subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]]
            else:
                vpc_id = ec2.create_vpc(CidrBlock="10.99.0.0/16", TagSpecifications=[
                    {"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "localcloud-test"}]}])["Vpc"]["VpcId"]
                subnets = [
                    ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.99.{i}.0/24", AvailabilityZone=f"{self.cfg.region}{z}")["Subnet"]["SubnetId"]
                    for i, z in enumerate("abc")
                ]
            self._vpc = {"vpc_id": vpc_id, "subnet_ids": sorted(subnets)}
        return self._vpc

    def ensure_cluster(self, name: str, version: str = "1.35", wait: bool = True, timeout: float = 120,
                       authentication_mode: str = "API") -> dict[str, Any]:
        """The cluster ``name``, created if missing (access entries on, the caller bootstrapped as admin,
        as the eks_cluster role creates clusters); with ``wait``, once it is ACTIVE (its Kubernetes serves)."""
        eks = self.boto3("eks")
        try:
            cluster = eks.describe_cluster(name=name)["cluster"]
        except eks.exceptions.ResourceNotFoundException:
            cluster = eks.create_cluster(name=name, version=version, roleArn=CLUSTER_ROLE_ARN,
                                         resourcesVpcConfig={"subnetIds": self.vpc()["subnet_ids"]},
                                         accessConfig={"authenticationMode": authentication_mode})["cluster"]
        deadline = time.monotonic() + timeout
        while wait and cluster["status"] != "ACTIVE":
            if cluster["status"] == "FAILED" or time.monotonic() > deadline:
                raise AssertionError(f"cluster {name} is {cluster['status']}, not ACTIVE")
            time.sleep(0.5)
            cluster = eks.describe_cluster(name=name)["cluster"]
        return cluster

    def make_nodegroup(self, cluster: str, name: str, capacity_type: str = "SPOT", labels: dict | None = None,
                       taints: list | None = None, size: int = 2, instance_types: list | None = None,
                       timeout: float = 60) -> list[str]:
        """Create a managed node group (and its cluster); return its Ready nodes' names."""
        self.ensure_cluster(cluster)
        eks = self.boto3("eks")
        eks.create_nodegroup(
            clusterName=cluster, nodegroupName=name, nodeRole=NODE_ROLE_ARN, subnets=self.vpc()["subnet_ids"],
            scalingConfig={"minSize": 0, "maxSize": max(size, 1) * 2, "desiredSize": size},
            instanceTypes=instance_types or ["m5.large", "m5a.large", "m6i.large"], capacityType=capacity_type,
            labels=labels or {}, taints=taints or [])
        return self.wait_for_nodes(cluster, name, size, timeout)

    def nodes_of(self, cluster: str, nodegroup: str) -> list:
        from kubernetes import client

        v1 = client.CoreV1Api(self.k8s(cluster))
        return v1.list_node(label_selector=f"eks.amazonaws.com/nodegroup={nodegroup}").items

    def wait_for_nodes(self, cluster: str, nodegroup: str, count: int, timeout: float = 60) -> list[str]:
        deadline = time.monotonic() + timeout
        while True:
            nodes = self.nodes_of(cluster, nodegroup)
            ready = [n for n in nodes if not n.spec.unschedulable and any(
                c.type == "Ready" and c.status == "True" for c in (n.status.conditions or []))
                and not any(t.key == "node.kubernetes.io/not-ready" for t in (n.spec.taints or []))]
            if len(ready) == count and len(nodes) == count:
                return sorted(n.metadata.name for n in ready)
            if time.monotonic() > deadline:
                raise AssertionError(f"node group {nodegroup}: {len(ready)}/{len(nodes)} nodes ready, wanted {count}")
            time.sleep(0.5)

    def delete_nodegroup(self, cluster: str, name: str, timeout: float = 60) -> None:
        eks = self.boto3("eks")
        try:
            eks.delete_nodegroup(clusterName=cluster, nodegroupName=name)
        except eks.exceptions.ResourceNotFoundException:
            return
        self.wait_for_nodes(cluster, name, 0, timeout)

    def delete_cluster(self, name: str) -> None:
        eks = self.boto3("eks")
        try:
            for ng in eks.list_nodegroups(clusterName=name)["nodegroups"]:
                self.delete_nodegroup(name, ng)
            eks.delete_cluster(name=name)
        except eks.exceptions.ResourceNotFoundException:
            pass

    # --- Ansible ----------------------------------------------------------------
    def run_playbook(self, path: str | Path, extra_vars: dict | None = None, check: bool = False, diff: bool = False,
                     tags: str | None = None, inventory: str | Path | None = None, timeout: float = 1800,
                     extra_args: list[str] | None = None) -> subprocess.CompletedProcess:
        """Run ansible-playbook from the repo root with the local cloud's environment."""

        argv = [str(Path(sys.executable).parent / "ansible-playbook"), str(path)]
        if inventory:
            argv += ["-i", str(inventory)]
        if extra_vars:
            argv += ["-e", json.dumps(extra_vars)]
        if check:
            argv.append("--check")
        if diff:
            argv.append("--diff")
        if tags:
            argv += ["--tags", tags]
        argv += extra_args or []
        env = dict(os.environ, **self.env, ANSIBLE_CONFIG=str(REPO_ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_NOCOLOR="1", PYTHONUNBUFFERED="1")
        proc = subprocess.run(argv, cwd=str(REPO_ROOT), env=env, capture_output=True, text=True, timeout=timeout)
        proc.recap = recap(proc.stdout) if "PLAY RECAP" in proc.stdout else None  # type: ignore[attr-defined]
        return proc


# --- an isolated local cloud ------------------------------------------------------
HOST_SYSCTLS = ["vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops", "net/ipv4/conf/all/route_localnet",
                "net/ipv4/ip_forward"]


def host_sysctls() -> dict[str, str]:
    return {k: Path(f"/proc/sys/{k}").read_text().strip() for k in HOST_SYSCTLS}


def host_network() -> dict[str, list[str]]:
    """The host's links and its iptables rules and chains (filter and nat), in a comparable form."""
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    rules = {t: subprocess.run(["iptables", "-t", t, "-S"], capture_output=True, text=True).stdout.splitlines()
             for t in ("filter", "nat")}
    return {"links": sorted(line.split(":")[1].strip() for line in links.splitlines()), **rules}


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def netns() -> list[str]:
    return sorted(p.name for p in Path("/run/netns").glob("*")) if Path("/run/netns").is_dir() else []


@contextlib.contextmanager
def _environ(env: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def isolated_env(state: Path, port_base: int, nodes: str = "real") -> dict[str, str]:
    """The variables that name an isolated local cloud (also for ``python -m localcloud`` as a subprocess)."""
    return {"SPOTFLOW_LOCALCLOUD_STATE": str(state), "SPOTFLOW_LOCALCLOUD_PORT_BASE": str(port_base),
            "SPOTFLOW_LOCALCLOUD_NODES": nodes}


@contextlib.contextmanager
def isolated(state: Path, port_base: int, nodes: str = "real") -> Iterator[Handle]:
    """A local cloud of the caller's own (state dir, ports, node kind), up for the ``with`` block. The
    process's environment names it only while it starts and stops: inside the block it is the session's
    again, so a session fixture first made there (the ``localcloud`` one) never takes this cloud for its
    own; use the Handle. A cloud already up there (``python -m localcloud up`` with ``isolated_env``) is
    taken as it is (``up`` is idempotent) and stopped the same way. On the way out, proof that ``down``
    left nothing behind: no process of its pid files, network namespace, mount under its state dir,
    listening port, changed host sysctl, link or iptables rule."""
    from .config import Config

    env = isolated_env(state, port_base, nodes)
    sysctls_before, host_net_before = host_sysctls(), host_network()
    with _environ(env):
        cloud = LocalCloud(Config())
    try:
        with _environ(env):
            cloud.up()
        yield Handle(cloud)
    finally:
        pids = {str(p): json.loads(p.read_text())["pid"] for p in state.rglob("pids/*.json")}
        with _environ(env):
            cloud.down()
    left = [f"{where} (pid {pid})" for where, pid in pids.items() if alive(pid)]
    assert not left, f"still running after down: {left}"
    assert not [n for n in netns() if n.startswith(f"spotflow-{port_base}-")]
    with open("/proc/self/mountinfo") as f:
        assert str(state) not in f.read()
    for port in (port_base, port_base + 1, port_base + 2, port_base + 500):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open"
    assert host_sysctls() == sysctls_before
    assert host_network() == host_net_before  # no bridge, chain or rule of ours (nor of a dockerd we started)
