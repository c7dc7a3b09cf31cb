"""One network namespace per EKS cluster: the cluster's VPC as its nodes and pods see it.

Inside the namespace there is ``lo`` (carrying each node's private IP as a /32:
its kubelet binds there), a bridge ``cni0`` (the pods' gateway; each node hands
out addresses from its own slice of the pod range) and the pods' veths; nothing
else. There is no interface to the host and no default route, so nothing a node
or a pod does can reach an address off this machine, by construction; and
whatever kube-proxy writes into iptables, or any per-namespace sysctl, stays in
the namespace and goes with it.

The only ways across are sockets of the local cloud's own process, opened on
one side and connected on the other:

- ``forward()``: a port inside the namespace that leads to one on the host
  (the apiserver and the registry at the same 127.0.0.1 ports as on the host,
  so DescribeCluster's endpoint and ECR's repository URIs work there too; the
  gateway's 443 for the ``kubernetes`` Service);
- ``publish()``: an address of its own in the namespace (on ``lo``) whose port
  leads to a server on the host: how a service of the emulated AWS that lives
  in the cluster's VPC (an RDS DB instance's endpoint) is reached;
- ``connect_proxy()``: an HTTP CONNECT proxy on a Unix socket of the host, through
  which the cluster's apiserver reaches kubelets (logs, exec, port-forward),
  as EKS's control plane reaches nodes in your VPC.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import subprocess
import threading
from pathlib import Path
from typing import Callable

LOG = logging.getLogger("localcloud.net")

POD_CIDR = ipaddress.ip_network("10.244.0.0/16")
GATEWAY = "10.244.0.1"  # the bridge's address: the pods' default gateway
BRIDGE = "cni0"
MAX_NODES = 250  # node i hands out 10.244.<i+1>.2-254


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def in_namespace(path: str | None, fn: Callable[[], object]) -> object:
    """Run ``fn`` on a thread that entered the network namespace at ``path``
    (None: the host's); the sockets it makes stay in that namespace."""
    if path is None:
        return fn()
    box: dict[str, object] = {}

    def run():
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.setns(fd, os.CLONE_NEWNET)  # this thread only
            finally:
                os.close(fd)
            box["value"] = fn()
        except BaseException as e:  # handed to the caller
            box["error"] = e

    t = threading.Thread(target=run, name="netns-enter", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                s.shutdown(how)
            except OSError:
                pass


def _connect(addr: tuple[str, int]) -> socket.socket:
    """Connect within 10 s; then wait for data as long as the two ends do (a watch, ``logs -f`` or an
    idle database session sends nothing for minutes, and must not be cut)."""
    s = socket.create_connection(addr, timeout=10)
    s.settimeout(None)
    return s


def _splice(a: socket.socket, b: socket.socket) -> None:
    """Copy both ways until both sides are done, then close both."""
    t = threading.Thread(target=_pump, args=(b, a), daemon=True)
    t.start()
    _pump(a, b)
    t.join()
    a.close()
    b.close()


class _Listener:
    """Accept on a socket (made in whichever namespace) and hand each connection to ``handle``."""

    def __init__(self, sock: socket.socket, handle: Callable[[socket.socket], None], name: str):
        self.sock, self.handle, self.name = sock, handle, name
        self._closed = False
        threading.Thread(target=self._accept, name=name, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name=f"{self.name}-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            self.handle(conn)
        except Exception as e:
            LOG.debug("%s: %s", self.name, e)
            conn.close()

    def close(self) -> None:
        self._closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def _listen(addr: tuple[str, int] | Path) -> socket.socket:
    if isinstance(addr, Path):  # a Unix socket
        addr.parent.mkdir(parents=True, exist_ok=True)
        addr.unlink(missing_ok=True)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(addr))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(addr)
    s.listen(128)
    return s


class ClusterNetwork:
    """The network namespace of one EKS cluster, and the ways across that the local cloud opens."""

    def __init__(self, name: str):
        self.name = name
        self.path = f"/run/netns/{name}"
        self._listeners: list[_Listener] = []
        self._unix_paths: list[Path] = []
        self._lock = threading.Lock()
        self._node_slots: dict[str, int] = {}  # node IP -> slice of the pod range
        self._published: dict[tuple[str, int], tuple[tuple[str, int], _Listener]] = {}

    # --- the namespace ------------------------------------------------------
    def create(self) -> None:
        if Path(self.path).exists():
            self.destroy()
        _ip("netns", "add", self.name)
        _ip("-n", self.name, "link", "set", "lo", "up")
        _ip("-n", self.name, "link", "add", BRIDGE, "type", "bridge")
        _ip("-n", self.name, "addr", "add", f"{GATEWAY}/{POD_CIDR.prefixlen}", "dev", BRIDGE)
        _ip("-n", self.name, "link", "set", BRIDGE, "up")

    def destroy(self) -> None:
        self._published.clear()  # their listeners are in _listeners
        for listener in self._listeners:
            listener.close()
        self._listeners.clear()
        for path in self._unix_paths:
            path.unlink(missing_ok=True)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)

    def routes(self) -> list[str]:
        out = subprocess.run(["ip", "-n", self.name, "route", "show", "table", "all"], capture_output=True, text=True)
        return [line for line in out.stdout.splitlines() if line.strip()]

    # --- nodes -------------------------------------------------------------------
    def add_node(self, node_ip: str) -> dict[str, str]:
        """Give a node its private IP in the namespace; returns its slice of the pod range."""
        with self._lock:
            used = set(self._node_slots.values())
            slot = next(i for i in range(MAX_NODES) if i not in used)
            self._node_slots[node_ip] = slot
        _ip("-n", self.name, "addr", "replace", f"{node_ip}/32", "dev", "lo")
        third = slot + 1
        return {"subnet": str(POD_CIDR), "rangeStart": f"10.244.{third}.2", "rangeEnd": f"10.244.{third}.254",
                "gateway": GATEWAY, "podCIDR": f"10.244.{third}.0/24"}

    def remove_node(self, node_ip: str) -> None:
        subprocess.run(["ip", "-n", self.name, "addr", "del", f"{node_ip}/32", "dev", "lo"], capture_output=True)
        with self._lock:
            self._node_slots.pop(node_ip, None)

    # --- ways across ------------------------------------------------------------
    def forward(self, inside: tuple[str, int], host: tuple[str, int]) -> _Listener:
        """Connections to ``inside`` (in the namespace) lead to ``host`` (on the host's network)."""
        sock = in_namespace(self.path, lambda: _listen(inside))

        def handle(conn: socket.socket) -> None:
            _splice(conn, _connect(host))

        listener = _Listener(sock, handle, f"fwd-{self.name}-{inside[1]}")
        self._listeners.append(listener)
        return listener

    def published(self) -> dict[tuple[str, int], tuple[str, int]]:
        return {inside: host for inside, (host, _) in self._published.items()}

    def publish(self, inside: tuple[str, int], host: tuple[str, int]) -> None:
        """``inside`` (address, port) answers in the namespace, the address its own on ``lo``, and leads
        to ``host``; publishing it again to another ``host`` moves it."""
        if inside in self._published:
            if self._published[inside][0] == host:
                return
            self.unpublish(inside)
        _ip("-n", self.name, "addr", "replace", f"{inside[0]}/32", "dev", "lo")
        self._published[inside] = (host, self.forward(inside, host))

    def unpublish(self, inside: tuple[str, int]) -> None:
        _, listener = self._published.pop(inside)
        listener.close()
        self._listeners.remove(listener)
        if not any(addr == inside[0] for addr, _ in self._published):
            subprocess.run(["ip", "-n", self.name, "addr", "del", f"{inside[0]}/32", "dev", "lo"], capture_output=True)

    def connect_proxy(self, host_addr: Path) -> None:
        """An HTTP CONNECT proxy on the host's Unix socket ``host_addr``, whose connections are made in the namespace."""
        path = self.path

        def handle(conn: socket.socket) -> None:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk or len(head) > 16384:
                    conn.close()
                    return
                head += chunk
            request, rest = head.split(b"\r\n\r\n", 1)
            method, target, _ = request.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            if method != "CONNECT":
                conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                conn.close()
                return
            addr, port = target.rsplit(":", 1)
            try:
                upstream = in_namespace(path, lambda: _connect((addr.strip("[]"), int(port))))
            except OSError as e:
                conn.sendall(f"HTTP/1.1 502 Bad Gateway\r\n\r\n{e}".encode())
                conn.close()
                return
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            if rest:
                upstream.sendall(rest)
            _splice(conn, upstream)

        self._listeners.append(_Listener(_listen(host_addr), handle, f"connect-{self.name}"))
        self._unix_paths.append(host_addr)
