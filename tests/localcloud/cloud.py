"""Start, stop and inspect the local cloud's processes (by pid, loopback only)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import pki
from .config import REPO_ROOT, Config


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


# --- process bookkeeping ----------------------------------------------------
def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: starttime


def _pidfile(cfg: Config, name: str) -> Path:
    return cfg.pid_dir / f"{name}.json"


def running_pid(cfg: Config, name: str) -> int | None:
    """The pid we started for ``name`` if that very process is still alive."""
    try:
        rec = json.loads(_pidfile(cfg, name).read_text())
    except (OSError, ValueError):
        return None
    if _start_time(rec["pid"]) == rec["start"]:
        stat = Path(f"/proc/{rec['pid']}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] != "Z":
            return rec["pid"]
    return None


def _spawn(cfg: Config, comp: Component) -> int:
    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    cfg.pid_dir.mkdir(parents=True, exist_ok=True)
    log = open(cfg.log_dir / f"{comp.name}.log", "ab")
    env = dict(os.environ)
    if comp.env:
        env.update(comp.env(cfg))
    proc = subprocess.Popen(comp.argv(cfg), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            cwd=str(REPO_ROOT), env=env, start_new_session=True)
    _pidfile(cfg, comp.name).write_text(json.dumps({"pid": proc.pid, "start": _start_time(proc.pid),
                                                    "argv": comp.argv(cfg)}))
    return proc.pid


def _stop(cfg: Config, name: str, timeout: float = 15.0) -> bool:
    pid = running_pid(cfg, name)
    if pid is None:
        _pidfile(cfg, name).unlink(missing_ok=True)
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running_pid(cfg, name) == pid:
        _reap(pid)
        time.sleep(0.1)
    if running_pid(cfg, name) == pid:
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        _reap(pid)
    _pidfile(cfg, name).unlink(missing_ok=True)
    return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


# --- readiness ------------------------------------------------------------------
def _http_ok(url: str, ctx: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=ctx) as r:
            return 200 <= r.status < 300
    except Exception:
        return False


def _admin_ssl(cfg: Config) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cfg.ca_file))
    ctx.load_cert_chain(str(cfg.pki_dir / "admin.crt"), str(cfg.pki_dir / "admin.key"))
    return ctx


def _apiserver_ready(cfg: Config) -> bool:
    return _http_ok(f"{cfg.apiserver_url}/readyz", _admin_ssl(cfg))


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _listening(cfg: Config) -> list[int]:
    ports = [cfg.moto_port, cfg.webhook_port, cfg.registry_port, cfg.etcd_port, cfg.etcd_peer_port, cfg.apiserver_port]
    return [p for p in ports if _port_open(cfg.host, p)]


# --- components -------------------------------------------------------------------
def _bin(cfg: Config, name: str) -> str:
    if name == "etcd":
        return shutil.which("etcd") or "/usr/bin/etcd"
    return str(cfg.k8s_bin_dir / name)


def _kubeconfig_for(cfg: Config, who: str) -> Path:
    return cfg.state_dir / f"{who}.kubeconfig"


def _registry_config(c: Config) -> Path:
    return c.state_dir / "registry.yml"


def _docker_ok() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0 if shutil.which("docker") else False


COMPONENTS: list[Component] = [
    # Docker's daemon, for image builds and the registry round trip; left
    # alone (and never stopped) when it already runs.
    Component(
        "dockerd",
        lambda c: [shutil.which("dockerd") or "/usr/sbin/dockerd", "--host", "unix:///var/run/docker.sock"],
        lambda c: _docker_ok(),
        timeout=60,
        skip_if=lambda c: running_pid(c, "dockerd") is None and _docker_ok(),
    ),
    # The local registry behind the emulated ECR (Debian's docker-registry).
    Component(
        "registry",
        lambda c: [shutil.which("docker-registry") or "/usr/bin/docker-registry", "serve", str(_registry_config(c))],
        lambda c: _http_ok(f"http://{c.host}:{c.registry_port}/v2/"),
        timeout=30,
    ),
    Component(
        "awsemu",
        lambda c: [sys.executable, "-m", "tests.localcloud.awsemu", "--config", str(c.state_dir / "config.json")],
        lambda c: _http_ok(f"{c.moto_url}/moto-api/") and _http_ok(f"http://{c.host}:{c.webhook_port}/healthz"),
        timeout=60,
    ),
    Component(
        "etcd",
        lambda c: [
            _bin(c, "etcd"), "--name", "localcloud", "--data-dir", str(c.etcd_data_dir),
            "--listen-client-urls", f"http://{c.host}:{c.etcd_port}",
            "--advertise-client-urls", f"http://{c.host}:{c.etcd_port}",
            "--listen-peer-urls", f"http://{c.host}:{c.etcd_peer_port}",
            "--initial-advertise-peer-urls", f"http://{c.host}:{c.etcd_peer_port}",
            "--initial-cluster", f"localcloud=http://{c.host}:{c.etcd_peer_port}",
            "--quota-backend-bytes", str(2 * 1024**3),
        ],
        lambda c: _http_ok(f"http://{c.host}:{c.etcd_port}/health"),
        timeout=30,
        env=lambda c: {"ETCD_UNSUPPORTED_ARCH": os.environ.get("ETCD_UNSUPPORTED_ARCH", "")},
    ),
    Component(
        "kube-apiserver",
        lambda c: [
            _bin(c, "kube-apiserver"),
            f"--etcd-servers=http://{c.host}:{c.etcd_port}",
            f"--bind-address={c.host}", f"--advertise-address={c.host}", f"--secure-port={c.apiserver_port}",
            "--insecure-port=0",
            f"--tls-cert-file={c.pki_dir / 'apiserver.crt'}", f"--tls-private-key-file={c.pki_dir / 'apiserver.key'}",
            f"--client-ca-file={c.ca_file}",
            f"--service-account-key-file={c.pki_dir / 'sa.pub'}",
            f"--service-account-signing-key-file={c.pki_dir / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc",
            "--authorization-mode=RBAC", "--anonymous-auth=false",
            f"--authentication-token-webhook-config-file={c.state_dir / 'webhook.kubeconfig'}",
            "--authentication-token-webhook-version=v1",
            "--authentication-token-webhook-cache-ttl=30s",
            "--service-cluster-ip-range=10.96.0.0/16", "--endpoint-reconciler-type=none",
            "--allow-privileged=true", "--profiling=false", "--event-ttl=15m",
        ],
        _apiserver_ready,
        timeout=90,
    ),
    Component(
        "kube-controller-manager",
        lambda c: [
            _bin(c, "kube-controller-manager"),
            f"--kubeconfig={_kubeconfig_for(c, 'controller-manager')}",
            # no kubelets heartbeat here: the node simulator plays them
            "--controllers=*,-nodelifecycle,-cloud-node-lifecycle,-service,-route",
            f"--service-account-private-key-file={c.pki_dir / 'sa.key'}", f"--root-ca-file={c.ca_file}",
            "--use-service-account-credentials=true", "--leader-elect=false",
            "--secure-port=0", "--port=0", "--profiling=false",
        ],
        lambda c: True,
        timeout=10,
    ),
    Component(
        "kube-scheduler",
        lambda c: [
            _bin(c, "kube-scheduler"),
            f"--kubeconfig={_kubeconfig_for(c, 'scheduler')}",
            "--leader-elect=false", "--secure-port=0", "--port=0", "--profiling=false",
        ],
        lambda c: True,
        timeout=10,
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
        if not (cfg.k8s_bin_dir / "kube-apiserver").exists():
            say("control plane not built yet: building (cached afterwards)")
            subprocess.run(["bash", str(REPO_ROOT / "tests/localcloud/scripts/build-control-plane.sh"), str(cfg.cache_dir)],
                           check=True)
        # a partial cloud is stopped and started afresh: moto keeps no state,
        # so Kubernetes must not either
        self._down(quiet=True)
        busy = _listening(cfg)
        if busy:
            raise LocalCloudError(f"ports already in use on {cfg.host}: {busy} (another local cloud? set SPOTFLOW_LOCALCLOUD_PORT_BASE)")
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(cfg.etcd_data_dir, ignore_errors=True)
        shutil.rmtree(cfg.state_dir / "registry", ignore_errors=True)
        pki.ensure_pki(cfg.pki_dir)
        self._write_files()
        for comp in COMPONENTS:
            if comp.skip_if and comp.skip_if(cfg):
                say(f"{comp.name}: already running (not ours, left alone)")
                continue
            say(f"starting {comp.name}")
            _spawn(cfg, comp)
            deadline = time.monotonic() + comp.timeout
            while not comp.ready(cfg):
                if running_pid(cfg, comp.name) is None:
                    tail = (cfg.log_dir / f"{comp.name}.log").read_text(errors="replace")[-3000:]
                    self._down(quiet=True)
                    raise LocalCloudError(f"{comp.name} exited during start-up:\n{tail}")
                if time.monotonic() > deadline:
                    self._down(quiet=True)
                    raise LocalCloudError(f"{comp.name} not ready after {comp.timeout}s; see {cfg.log_dir}/{comp.name}.log")
                time.sleep(0.2)
        self._wait_for_default_service_account()
        say(f"up in {time.monotonic() - t0:.1f}s: AWS {cfg.moto_url}, Kubernetes {cfg.apiserver_url}")

    def _write_files(self) -> None:
        cfg = self.cfg
        (cfg.state_dir / "config.json").write_text(cfg.to_json())
        for who in ("admin", "controller-manager", "scheduler"):
            _kubeconfig_for(cfg, who).write_text(
                pki.kubeconfig(cfg.apiserver_url, cfg.ca_file, cfg.pki_dir / f"{who}.crt", cfg.pki_dir / f"{who}.key", who))
        import yaml

        (cfg.state_dir / "webhook.kubeconfig").write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{"name": "eks-authenticator", "cluster": {"server": f"http://{cfg.host}:{cfg.webhook_port}/authenticate"}}],
            "users": [{"name": "apiserver", "user": {}}],
            "contexts": [{"name": "webhook", "context": {"cluster": "eks-authenticator", "user": "apiserver"}}],
            "current-context": "webhook",
        }))
        (cfg.state_dir / "registry").mkdir(exist_ok=True)
        _registry_config(cfg).write_text(yaml.safe_dump({
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(cfg.state_dir / "registry")}, "delete": {"enabled": True}},
            "http": {"addr": f"{cfg.host}:{cfg.registry_port}", "headers": {"X-Content-Type-Options": ["nosniff"]}},
        }))
        (cfg.state_dir / "env").write_text("".join(f"export {k}={v}\n" for k, v in cfg.env().items()))

    def _wait_for_default_service_account(self, timeout: float = 60) -> None:
        ctx = _admin_ssl(self.cfg)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if _http_ok(f"{self.cfg.apiserver_url}/api/v1/namespaces/default/serviceaccounts/default", ctx):
                return
            time.sleep(0.3)
        raise LocalCloudError("controller-manager did not create the default ServiceAccount")

    # --- down ---------------------------------------------------------------
    def down(self, quiet: bool = False) -> list[str]:
        with self._locked():
            return self._down(quiet)

    def _down(self, quiet: bool = False) -> list[str]:
        stopped = []
        for comp in reversed(COMPONENTS):
            if _stop(self.cfg, comp.name):
                stopped.append(comp.name)
        if not quiet:
            say(f"stopped: {', '.join(stopped) or 'nothing was running'}")
            deadline = time.monotonic() + 5
            while (left := _listening(self.cfg)) and time.monotonic() < deadline:
                time.sleep(0.2)
            if left:
                raise LocalCloudError(f"ports still listening after down: {left}")
        return stopped
