"""The registry every image the local cloud cannot have comes from: the stand-in.

No public registry is reachable here, yet the roles deploy images from them
(cluster-autoscaler from registry.k8s.io, for one). Real nodes' containerd
sends every registry other than the local one (and docker.io) here
(``certs.d/_default``), and this read-only Registry API v2 answers any
``<name>:<tag>`` with one image: ``localcloud/pause:3.2`` of the local
registry, whose binary, run under another name (``./cluster-autoscaler ...``),
logs ``spotflow local cloud STAND-IN for ...``, answers HTTP 200 on the
stood-in program's health address (cluster-autoscaler's ``--address``, :8085)
so its probes pass, and does nothing else until it is stopped. So such a pod
runs, clearly labelled, instead of failing to pull.

Images stood in for today: registry.k8s.io/autoscaling/cluster-autoscaler
(eks_cluster). Anything else a pod asks for from outside gets the same.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = logging.getLogger("localcloud.images")

STANDIN_REPO = "localcloud/pause"
STANDIN_TAG = "3.2"
MANIFEST_TYPES = ", ".join([
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
])
_PATH = re.compile(r"^/v2/(?P<name>.+)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)$")


def serve(host: str, port: int, registry: str) -> ThreadingHTTPServer:
    """Serve the stand-in on ``host:port``, from the local registry at ``registry`` (host:port)."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            LOG.debug(fmt, *args)

        def _relay(self, head: bool) -> None:
            m = _PATH.match(self.path)
            if self.path.rstrip("/") == "/v2":
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if not m:
                self.send_error(404)
                return
            if m["kind"] == "manifests":
                LOG.info("stand-in served for %s:%s", m["name"], m["ref"])
                url = f"http://{registry}/v2/{STANDIN_REPO}/manifests/{STANDIN_TAG}"
            else:
                url = f"http://{registry}/v2/{STANDIN_REPO}/blobs/{m['ref']}"
            req = urllib.request.Request(url, method="HEAD" if head else "GET", headers={"Accept": MANIFEST_TYPES})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    body = b"" if head else r.read()
                    self.send_response(r.status)
                    for h in ("Content-Type", "Docker-Content-Digest", "Content-Length"):
                        if r.headers.get(h):
                            self.send_header(h, r.headers[h])
                    self.end_headers()
                    self.wfile.write(body)
            except urllib.error.HTTPError as e:
                self.send_error(e.code)

        def do_GET(self):
            self._relay(head=False)

        def do_HEAD(self):
            self._relay(head=True)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="standin-registry", daemon=True).start()
    return server
