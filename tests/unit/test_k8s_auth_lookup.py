"""spotflow.eks.k8s_auth: the Kubernetes tasks of one run share one answer (60 s), kept in a private file.

Each task runs in a process of its own; before the cache every task imported
botocore, described the cluster and signed a token again (about 0.4 s a task).
The EKS API here is a small local server that counts DescribeCluster calls.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from ansible_collections.spotflow.eks.plugins.lookup import k8s_auth


@pytest.fixture
def eks_api():
    """A local EKS DescribeCluster endpoint: (url, list of the paths it was asked)."""
    asked = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            asked.append(self.path)
            name = self.path.rsplit("/", 1)[-1]
            body = json.dumps({"cluster": {
                "name": name, "endpoint": "https://{0}.example".format(name),
                "certificateAuthority": {"data": base64.b64encode(b"CA of " + name.encode()).decode()},
            }}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:{0}".format(server.server_address[1]), asked
    server.shutdown()
    server.server_close()


def test_the_tasks_of_one_run_share_one_answer(play, eks_api, tmp_path, monkeypatch):
    url, asked = eks_api
    local_tmp = tmp_path / "local-tmp"
    monkeypatch.setenv("ANSIBLE_LOCAL_TEMP", str(local_tmp))
    args = ("cluster_name={0}, region='us-east-1', endpoint_url='{1}', access_key='AKIDEXAMPLE', "
            "secret_key='s3cret', ca_dir='{2}'").format("{0}", url, tmp_path / "ca")
    tasks = [
        {"name": "first", "ansible.builtin.set_fact": {"a1": "{{ lookup('spotflow.eks.k8s_auth', %s) }}" % args.format("'demo'")}},
        {"name": "second", "ansible.builtin.set_fact": {"a2": "{{ lookup('spotflow.eks.k8s_auth', %s) }}" % args.format("'demo'")}},
        {"name": "other", "ansible.builtin.set_fact": {"a3": "{{ lookup('spotflow.eks.k8s_auth', %s) }}" % args.format("'other'")}},
        {"name": "same", "ansible.builtin.assert": {"that": [
            "a1 == a2", "a1.host == 'https://demo.example'", "a1.api_key is match('k8s-aws-v1[.]')",
            "a3.host == 'https://other.example'", "lookup('file', a1.ca_cert) == 'CA of demo'"]}},
    ]
    for run in (1, 2):
        proc, results = play(tasks)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert [r["hosts"]["localhost"].get("failed", False) for r in results] == [False] * 4
        # one DescribeCluster per cluster and run: a new run asks again
        assert sorted(asked) == sorted(["/clusters/demo", "/clusters/other"] * run)
        # the per-run directory, and the answers in it, are gone with the run
        assert list(local_tmp.rglob("spotflow-k8s-auth-*")) == []


def test_an_answer_is_kept_60_seconds_privately(tmp_path, monkeypatch):
    ca = tmp_path / "ca.crt"
    ca.write_text("CA")
    path = str(tmp_path / "entry.json")
    answer = {"host": "https://demo.example", "ca_cert": str(ca), "api_key": "k8s-aws-v1.x"}
    k8s_auth._write_private(path, json.dumps(dict(answer, created=time.time())).encode())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert k8s_auth._read_cache(path) == answer
    created = json.loads(open(path).read())["created"]
    monkeypatch.setattr(k8s_auth.time, "time", lambda: created + k8s_auth.CACHE_SECONDS + 1)
    assert k8s_auth._read_cache(path) is None


@pytest.mark.parametrize("content", ["{not json", "[]", '{"created": 0}'])
def test_a_broken_answer_is_asked_again(tmp_path, content):
    path = tmp_path / "entry.json"
    path.write_text(content)
    assert k8s_auth._read_cache(str(path)) is None
    assert k8s_auth._read_cache(str(tmp_path / "missing.json")) is None
