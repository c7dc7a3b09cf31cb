"""The local cloud's processes: started in their own session, recorded in a pid
file (pid and start time, so a recycled pid is never mistaken for ours), and
stopped by that pid only, never by name."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22: starttime


def running_pid(pid_dir: Path, name: str) -> int | None:
    """The pid we started as ``name`` if that very process is still alive."""
    try:
        rec = json.loads((pid_dir / f"{name}.json").read_text())
    except (OSError, ValueError):
        return None
    if _start_time(rec["pid"]) == rec["start"]:
        try:
            state = Path(f"/proc/{rec['pid']}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return None
        if state != "Z":
            return rec["pid"]
    return None


def spawn(pid_dir: Path, log_dir: Path, name: str, argv: list[str], env: dict[str, str] | None = None,
          cwd: str | None = None) -> int:
    """Start ``argv`` in a new session, output to ``log_dir/name.log``; record its pid."""
    log_dir.mkdir(parents=True, exist_ok=True)
    pid_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd,
                                env=env if env is not None else dict(os.environ), start_new_session=True)
    (pid_dir / f"{name}.json").write_text(json.dumps({"pid": proc.pid, "start": _start_time(proc.pid), "argv": argv}))
    return proc.pid


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop(pid_dir: Path, name: str, timeout: float = 15.0) -> bool:
    """SIGTERM the process recorded as ``name``, SIGKILL after ``timeout``; True if it was running."""
    pid = running_pid(pid_dir, name)
    pidfile = pid_dir / f"{name}.json"
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and running_pid(pid_dir, name) == pid:
        _reap(pid)
        time.sleep(0.1)
    if running_pid(pid_dir, name) == pid:
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    _reap(pid)  # our child (no zombie left behind) or not: then init reaps it
    pidfile.unlink(missing_ok=True)
    return True


def recorded(pid_dir: Path) -> list[str]:
    """Names with a pid file in ``pid_dir`` (running or not)."""
    return sorted(p.stem for p in pid_dir.glob("*.json")) if pid_dir.is_dir() else []


def wait_until(ready, timeout: float, what: str, alive=None, log: Path | None = None) -> None:
    """Poll ``ready()`` until true; fail early when ``alive()`` says the process died."""
    deadline = time.monotonic() + timeout
    while not ready():
        if alive is not None and not alive():
            tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
            raise RuntimeError(f"{what} exited during start-up:\n{tail}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready after {timeout:.0f}s" + (f"; see {log}" if log else ""))
        time.sleep(0.2)


# --- readiness probes ---------------------------------------------------------------
def http_ok(url: str, ctx: ssl.SSLContext | None = None) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2, context=ctx) as r:
            return 200 <= r.status < 300
    except Exception:
        return False


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def client_ssl(ca: Path, cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.load_cert_chain(str(cert), str(key))
    return ctx
