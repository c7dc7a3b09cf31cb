"""Start, stop and inspect the local cloud's processes (by pid, loopback only)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import procs
from .config import K8S_BINARIES, REPO_ROOT, Config
from .aws import rds_postgres
from .kube import controlplane


class LocalCloudError(RuntimeError):
    pass


def say(msg: str) -> None:
    print(f"[localcloud] {msg}", file=sys.stderr, flush=True)


@dataclass
class Component:
    name: str
    argv: Callable[[Config], list[str]]
    ready: Callable[[Config], bool]
    timeout: float = 60.0
    env: Callable[[Config], dict] | None = None
    # a shared system service (dockerd) is only started when nobody runs it
    skip_if: Callable[[Config], bool] | None = None


def running_pid(cfg: Config, name: str) -> int | None:
    return procs.running_pid(cfg.pid_dir, name)


def _containerd_cgroups() -> list[str]:
    return sorted(str(p) for p in Path("/sys/fs/cgroup").glob("*/k8s.io"))


def _listening(cfg: Config) -> list[int]:
    ports = [cfg.moto_port, cfg.webhook_port, cfg.registry_port, cfg.standin_port]
    return [p for p in ports if procs.port_open(cfg.host, p)]


# A cloud listens on ports from its base up to base + 999 (RDS at +800..): none may be an
# ephemeral port, which any outgoing connection on this machine may hold at the moment
# a server binds it (a PostgreSQL on 32800 failed so, "Address already in use").
PORT_SPAN = 1000


def _ephemeral_overlap(cfg: Config, path: Path = Path("/proc/sys/net/ipv4/ip_local_port_range")) -> str:
    """'' when the cloud's ports are outside the kernel's ephemeral range, else why not."""
    try:
        low, high = (int(v) for v in path.read_text().split())
    except (OSError, ValueError):
        return ""
    if cfg.port_base <= high and low <= cfg.port_base + PORT_SPAN - 1:
        return (f"SPOTFLOW_LOCALCLOUD_PORT_BASE={cfg.port_base} puts the local cloud's ports {cfg.port_base}-"
                f"{cfg.port_base + PORT_SPAN - 1} in this machine's ephemeral port range {low}-{high} "
                f"(net.ipv4.ip_local_port_range), where outgoing connections take ports: choose a base from 1024 "
                f"to {low - PORT_SPAN}")
    return ""


# --- components -------------------------------------------------------------------
def _registry_config(c: Config) -> Path:
    return c.state_dir / "registry.yml"


def _docker_ok() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0 if shutil.which("docker") else False


COMPONENTS: list[Component] = [
    # Docker's daemon, for image builds and the registry round trip; left
    # alone (and never stopped) when it already runs.
    Component(
        "dockerd",
        # no bridge, no iptables rules, no IP forwarding: it changes nothing of the host's network, so
        # nothing is left when it stops; builds use the host's network (ecr_image_build_network_mode)
        lambda c: [shutil.which("dockerd") or "/usr/sbin/dockerd", "--host", "unix:///var/run/docker.sock",
                   "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false"],
        lambda c: _docker_ok(),
        timeout=60,
        skip_if=lambda c: running_pid(c, "dockerd") is None and _docker_ok(),
    ),
    # The local registry behind the emulated ECR (Debian's docker-registry).
    Component(
        "registry",
        lambda c: [shutil.which("docker-registry") or "/usr/bin/docker-registry", "serve", str(_registry_config(c))],
        lambda c: procs.http_ok(f"http://{c.host}:{c.registry_port}/v2/"),
        timeout=30,
    ),
    Component(
        "awsemu",
        lambda c: [sys.executable, "-m", "localcloud.aws.server", "--config", str(c.state_dir / "config.json")],
        lambda c: procs.http_ok(f"{c.moto_url}/moto-api/") and procs.http_ok(f"http://{c.host}:{c.webhook_port}/healthz"),
        timeout=60,
    ),
]


class LocalCloud:
    def __init__(self, cfg: Config | None = None):
        self.cfg = cfg or Config()

    # --- status -------------------------------------------------------------
    def status(self) -> dict[str, int | str | None]:
        return {c.name: running_pid(self.cfg, c.name) or ("external" if c.skip_if and c.skip_if(self.cfg) else None)
                for c in COMPONENTS}

    def healthy(self) -> bool:
        return all(self.status().values()) and all(c.ready(self.cfg) for c in COMPONENTS)

    # --- up -----------------------------------------------------------------
    def _locked(self):
        """One up/down at a time per state dir (tests and people may race)."""
        import contextlib
        import fcntl

        @contextlib.contextmanager
        def lock():
            self.cfg.state_dir.mkdir(parents=True, exist_ok=True)
            with open(self.cfg.state_dir / ".lock", "w") as f:
                fcntl.flock(f, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(f, fcntl.LOCK_UN)

        return lock()

    def up(self) -> None:
        with self._locked():
            self._up()

    def _up(self) -> None:
        cfg = self.cfg
        if self.healthy():
            say("already up")
            return
        t0 = time.monotonic()
        if not all((cfg.k8s_bin_dir / b).exists() for b in K8S_BINARIES):
            say("Kubernetes not built yet: building (cached afterwards)")
            subprocess.run(["bash", str(REPO_ROOT / "localcloud/scripts/build-kubernetes.sh"), str(cfg.cache_dir)],
                           check=True)
        # a partial cloud is stopped and started afresh: moto keeps no state,
        # so Kubernetes must not either
        self._down(quiet=True)
        overlap = _ephemeral_overlap(cfg)
        if overlap:
            raise LocalCloudError(overlap)
        busy = _listening(cfg)
        if busy:
            raise LocalCloudError(f"ports already in use on {cfg.host}: {busy} (another local cloud? set SPOTFLOW_LOCALCLOUD_PORT_BASE)")
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(cfg.state_dir / "registry", ignore_errors=True)
        self._write_files()
        # containerd puts containers' cgroups under <hierarchy>/k8s.io: remember which were there before us
        (cfg.state_dir / "cgroups-before.json").write_text(json.dumps(_containerd_cgroups()))
        for comp in COMPONENTS:
            if comp.skip_if and comp.skip_if(cfg):
                say(f"{comp.name}: already running (not ours, left alone)")
                continue
            say(f"starting {comp.name}")
            env = dict(os.environ, **(comp.env(cfg) if comp.env else {}))
            procs.spawn(cfg.pid_dir, cfg.log_dir, comp.name, comp.argv(cfg), env=env, cwd=str(REPO_ROOT))
            try:
                procs.wait_until(lambda: comp.ready(cfg), comp.timeout, comp.name,
                                 alive=lambda: running_pid(cfg, comp.name) is not None,
                                 log=cfg.log_dir / f"{comp.name}.log")
            except RuntimeError as e:
                self._down(quiet=True)
                raise LocalCloudError(str(e)) from None
        if cfg.nodes == "real":
            # the pause image and the tests' toolbox, into this cloud's (fresh) registry
            subprocess.run(["bash", str(REPO_ROOT / "localcloud/images/build-node-images.sh")], check=True,
                           env=dict(os.environ, SPOTFLOW_REGISTRY=f"{cfg.host}:{cfg.registry_port}",
                                    SPOTFLOW_CACHE=str(cfg.cache_dir)))
        say(f"up in {time.monotonic() - t0:.1f}s: AWS {cfg.moto_url} (each EKS cluster gets its own Kubernetes; "
            f"{cfg.nodes} nodes)")

    def _write_files(self) -> None:
        cfg = self.cfg
        (cfg.state_dir / "config.json").write_text(cfg.to_json())
        import yaml

        (cfg.state_dir / "registry").mkdir(exist_ok=True)
        _registry_config(cfg).write_text(yaml.safe_dump({
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(cfg.state_dir / "registry")}, "delete": {"enabled": True}},
            "http": {"addr": f"{cfg.host}:{cfg.registry_port}", "headers": {"X-Content-Type-Options": ["nosniff"]}},
        }))
        (cfg.state_dir / "env").write_text("".join(f"export {k}={v}\n" for k, v in cfg.env().items()))

    # --- down ---------------------------------------------------------------
    def down(self, quiet: bool = False) -> list[str]:
        with self._locked():
            return self._down(quiet)

    def _down(self, quiet: bool = False) -> list[str]:
        stopped = []
        for comp in reversed(COMPONENTS):
            # the AWS emulator stops its clusters' control planes before it exits
            if procs.stop(self.cfg.pid_dir, comp.name, timeout=120 if comp.name == "awsemu" else 15):
                stopped.append(comp.name)
        stopped += controlplane.sweep(self.cfg)  # whatever a killed emulator left
        stopped += rds_postgres.sweep(self.cfg)  # its DB instances' PostgreSQL servers too
        before = self.cfg.state_dir / "cgroups-before.json"
        if before.exists():
            for d in set(_containerd_cgroups()) - set(json.loads(before.read_text())):
                try:
                    os.rmdir(d)  # empty once every container is gone
                except OSError as e:
                    say(f"cgroup {d} not removed: {e}")
            before.unlink()
        if not quiet:
            say(f"stopped: {', '.join(stopped) or 'nothing was running'}")
            deadline = time.monotonic() + 5
            while (left := _listening(self.cfg)) and time.monotonic() < deadline:
                time.sleep(0.2)
            if left:
                raise LocalCloudError(f"ports still listening after down: {left}")
        return stopped
