"""Fixtures for the unit tests of spotflow.eks's Kubernetes modules.

``FakeCoreV1`` stands in for ``kubernetes.client.CoreV1Api``: it answers the
calls our modules make (with ``_preload_content=False``, as
``module_utils.k8s.call_json`` does), keeps resourceVersions, applies JSON
patches the way the apiserver does and answers 409 when the patch carries a
stale resourceVersion. Unit tests only; integration tests use a real apiserver.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from ansible.module_utils import _internal as module_utils_internal
from ansible.module_utils.testing import patch_module_args
from ansible_collections.spotflow.eks.plugins.module_utils.placement import matches, parse_selector
from kubernetes.client.exceptions import ApiException

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def play(tmp_path):
    """play(tasks, check_mode=False) -> (process, task results): ``tasks`` run on localhost by a real
    ansible-playbook with the project's ansible.cfg; the results as the json callback gives them."""

    def _play(tasks, check_mode=False):
        playbook = tmp_path / "play.yml"
        playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
        env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook)]
            + (["--check"] if check_mode else []),
            cwd=REPO, env=env, capture_output=True, text=True, check=False,
        )
        try:
            return proc, json.loads(proc.stdout)["plays"][0]["tasks"]
        except (ValueError, KeyError, IndexError):
            return proc, []

    return _play


@pytest.fixture
def json_server():
    """json_server(answer) -> (url, requests): a local HTTP server that answers each GET with the JSON of
    ``answer(path)`` -> (status, body) and records (path, headers) in ``requests``; stopped after the test."""
    servers = []

    def _start(answer):
        requests = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                requests.append((self.path, self.headers))
                status, body = answer(self.path)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return "http://127.0.0.1:{0}".format(server.server_address[1]), requests

    yield _start
    for server in servers:
        server.shutdown()
        server.server_close()


AUTH = {"host": "https://127.0.0.1:6443", "api_key": "k8s-aws-v1.secret-token", "ca_cert": "/nonexistent/ca.crt"}


def api_exception(status, reason, message):
    exc = ApiException(status=status, reason=reason)
    exc.body = json.dumps({"kind": "Status", "status": "Failure", "message": message, "code": status}).encode()
    return exc


class FakeResponse:
    def __init__(self, obj):
        self.data = json.dumps(obj).encode()
        self.released = False

    def release_conn(self):
        self.released = True


class FakeCoreV1:
    def __init__(self, nodes=(), pods=()):
        self._rv = 100
        self.nodes = {}
        for node in nodes:
            node = copy.deepcopy(node)
            node.setdefault("spec", {})
            node["metadata"]["resourceVersion"] = self._next_rv()
            self.nodes[node["metadata"]["name"]] = node
        self.pods = [copy.deepcopy(p) for p in pods]
        self.calls = []
        self.errors = {}  # method name -> ApiException raised on every call
        self.before_patch = []  # callables run before a patch is applied (concurrent writers)
        self.pod_updates = []  # list of pod lists returned by successive pod listings

    def _next_rv(self):
        self._rv += 1
        return str(self._rv)

    def _call(self, name, *args, **kwargs):
        assert kwargs.pop("_preload_content", True) is False, "modules must use call_json"
        self.calls.append((name, args, kwargs))
        if name in self.errors:
            raise self.errors[name]
        return kwargs

    # nodes ---------------------------------------------------------------
    def list_node(self, **kwargs):
        kwargs = self._call("list_node", **kwargs)
        requirements = parse_selector(kwargs.get("label_selector") or "")
        items = [n for n in self.nodes.values() if matches(requirements, n["metadata"].get("labels"))]
        return FakeResponse({"kind": "NodeList", "items": items})

    def read_node(self, name, **kwargs):
        self._call("read_node", name, **kwargs)
        if name not in self.nodes:
            raise api_exception(404, "Not Found", 'nodes "{0}" not found'.format(name))
        return FakeResponse(self.nodes[name])

    def patch_node(self, name, body, **kwargs):
        self._call("patch_node", name, body, **kwargs)
        for hook in list(self.before_patch):
            hook(self)
        if name not in self.nodes:
            raise api_exception(404, "Not Found", 'nodes "{0}" not found'.format(name))
        node = copy.deepcopy(self.nodes[name])
        assert isinstance(body, list), "node_taint sends JSON patches"
        for op in body:
            parts = op["path"].strip("/").split("/")
            target = node
            for part in parts[:-1]:
                target = target[part]
            if op["op"] == "test":
                assert target[parts[-1]] == op["value"]
            elif op["op"] in ("add", "replace"):
                target[parts[-1]] = copy.deepcopy(op["value"])
            else:
                raise AssertionError("unexpected op {0}".format(op))
        if node["metadata"]["resourceVersion"] != self.nodes[name]["metadata"]["resourceVersion"]:
            raise api_exception(409, "Conflict", 'Operation cannot be fulfilled on nodes "{0}": the object has been '
                                "modified; please apply your changes to the latest version and try again".format(name))
        if not node["spec"].get("taints"):
            node["spec"].pop("taints", None)  # the apiserver omits empty lists
        node["metadata"]["resourceVersion"] = self._next_rv()
        self.nodes[name] = node
        return FakeResponse(node)

    def touch_node(self, name, taint=None):
        """What a concurrent writer does: change the node, bump its resourceVersion."""
        node = self.nodes[name]
        if taint:
            node["spec"].setdefault("taints", []).append(taint)
        node["metadata"]["resourceVersion"] = self._next_rv()

    # pods ----------------------------------------------------------------
    def _pods(self, namespace, kwargs):
        if self.pod_updates:
            self.pods = self.pod_updates.pop(0)
        requirements = parse_selector(kwargs.get("label_selector") or "")
        items = [p for p in self.pods if matches(requirements, p["metadata"].get("labels"))
                 and (namespace is None or p["metadata"]["namespace"] == namespace)]
        for selector in filter(None, (kwargs.get("field_selector") or "").split(",")):
            field, value = selector.split("=")
            assert field == "spec.nodeName", "the fake knows spec.nodeName only"
            items = [p for p in items if (p.get("spec") or {}).get("nodeName") == value]
        return FakeResponse({"kind": "PodList", "items": items})

    def list_namespaced_pod(self, namespace, **kwargs):
        kwargs = self._call("list_namespaced_pod", namespace, **kwargs)
        return self._pods(namespace, kwargs)

    def list_pod_for_all_namespaces(self, **kwargs):
        kwargs = self._call("list_pod_for_all_namespaces", **kwargs)
        return self._pods(None, kwargs)


class ModuleResult(dict):
    """The JSON a module printed, plus ``rc`` (0 exit_json, 1 fail_json)."""


def run_module(module, args, capsys, check_mode=False, diff=False):
    args = dict(args)
    if check_mode:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    # A module runs in a process of its own, where ansible.module_utils knows it is not the controller. Here
    # importing any controller code (a filter or lookup under test) marks this whole process as the controller,
    # and module.warn() would then print to the controller's display instead of returning the warning.
    with patch_module_args(args), pytest.MonkeyPatch.context() as mp:
        mp.setattr(module_utils_internal, "is_controller", False)
        with pytest.raises(SystemExit) as exit_info:
            module.main()
    out = capsys.readouterr().out
    result = ModuleResult(json.loads(out))
    result.rc = exit_info.value.code
    result.raw = out
    return result


@pytest.fixture
def run(capsys):
    def _run(module, args, check_mode=False, diff=False):
        return run_module(module, args, capsys, check_mode=check_mode, diff=diff)

    return _run


@pytest.fixture
def fake_core_v1():
    """The ``FakeCoreV1`` class."""
    return FakeCoreV1


@pytest.fixture(name="api_exception")
def api_exception_fixture():
    """``api_exception(status, reason, message)`` -> an ``ApiException`` with a Status body."""
    return api_exception


@pytest.fixture
def auth_args():
    """Auth options as a play would pass them."""
    return dict(AUTH)
