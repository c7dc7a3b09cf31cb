"""Fixtures of the integration tests (the ``localcloud`` fixture is in tests/conftest.py)."""

from __future__ import annotations

import http.client
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def _operation(method: str, path: str, headers, body: bytes) -> str:
    """The AWS operation of a request: query/JSON protocols name it; REST (EKS, EFS) by method and path."""
    target = headers.get("X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    fields = urllib.parse.parse_qs(body.decode("utf-8", "replace")) if body else {}
    fields.update(urllib.parse.parse_qs(urllib.parse.urlsplit(path).query))
    if "Action" in fields:
        return fields["Action"][0]
    return ("Get" if method in ("GET", "HEAD") else method.title()) + " " + urllib.parse.urlsplit(path).path


@pytest.fixture
def aws_calls(localcloud):
    """A recording proxy in front of the local cloud's AWS endpoint: (url, calls)."""
    upstream = urllib.parse.urlsplit(localcloud.env["AWS_ENDPOINT_URL"])
    calls: list[str] = []

    class Proxy(BaseHTTPRequestHandler):
        def _forward(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            calls.append(_operation(self.command, self.path, self.headers, body))
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
            conn.request(self.command, self.path, body=body, headers=dict(self.headers.items()))  # Host is signed
            resp = conn.getresponse()
            data = resp.read()
            self.send_response(resp.status)
            for key, value in resp.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _forward

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", calls
    server.shutdown()
    server.server_close()
