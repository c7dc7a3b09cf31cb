"""spotflow.eks.node_taint's main() against a fake CoreV1Api (see conftest.py)."""

from __future__ import annotations

import json

import pytest
from ansible_collections.spotflow.eks.plugins.module_utils import k8s
from ansible_collections.spotflow.eks.plugins.modules import node_taint

AUTH = {"host": "https://127.0.0.1:6443", "api_key": "k8s-aws-v1.secret-token", "ca_cert": "/nonexistent/ca.crt"}
SPOT = {"key": "spotInstance", "value": "true", "effect": "PreferNoSchedule"}
OTHER = {"key": "team", "value": "data", "effect": "NoSchedule", "timeAdded": "2024-01-01T00:00:00Z"}


def make_node(name, lifecycle, taints=None):
    node = {"metadata": {"name": name, "labels": {"lifecycle": lifecycle}}, "spec": {}}
    if taints:
        node["spec"]["taints"] = [dict(t) for t in taints]
    return node


@pytest.fixture
def api(monkeypatch, fake_core_v1):
    fake = fake_core_v1(nodes=[
        make_node("spot-b", "Ec2Spot", [OTHER]),
        make_node("spot-a", "Ec2Spot"),
        make_node("od-a", "OnDemand"),
    ])
    monkeypatch.setattr(node_taint, "core_v1_api", lambda module: fake)
    return fake


def args(**kw):
    base = dict(AUTH, label_selectors=["lifecycle=Ec2Spot"], taints=[SPOT])
    base.update(kw)
    return dict((k, v) for k, v in base.items() if v is not None)


def taints_of(api, name):
    return api.nodes[name]["spec"].get("taints", [])


def patches(api):
    return [c for c in api.calls if c[0] == "patch_node"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_taints_selected_nodes(api, run, check_mode):
    result = run(node_taint, args(), check_mode=check_mode)
    assert result.rc == 0, result
    assert result["changed"] is True
    assert [n["name"] for n in result["nodes"]] == ["spot-a", "spot-b"]
    assert result["nodes"][0] == dict(name="spot-a", changed=True, taints_before=[], taints_after=[SPOT])
    assert result["nodes"][1] == dict(name="spot-b", changed=True, taints_before=[OTHER], taints_after=[OTHER, SPOT])
    assert api.calls[0] == ("list_node", (), {"label_selector": "lifecycle=Ec2Spot"})
    if check_mode:
        assert patches(api) == []
        assert taints_of(api, "spot-a") == []
    else:
        assert len(patches(api)) == 2
        assert taints_of(api, "spot-a") == [SPOT]
        assert taints_of(api, "spot-b") == [OTHER, SPOT]  # timeAdded of OTHER preserved
    assert taints_of(api, "od-a") == []
    assert "diff" not in result


@pytest.mark.parametrize("check_mode", [False, True])
def test_idempotent(api, run, check_mode):
    run(node_taint, args())
    api.calls.clear()
    result = run(node_taint, args(), check_mode=check_mode)
    assert result["changed"] is False
    assert all(not n["changed"] for n in result["nodes"])
    assert patches(api) == []


def test_patch_carries_resource_version(api, run):
    rv = api.nodes["spot-a"]["metadata"]["resourceVersion"]
    run(node_taint, args(name="spot-a", label_selectors=None))
    (call,) = patches(api)
    body = call[1][1]
    assert body[0] == {"op": "replace", "path": "/metadata/resourceVersion", "value": rv}
    assert body[1] == {"op": "add", "path": "/spec/taints", "value": [SPOT]}


@pytest.mark.parametrize("check_mode", [False, True])
def test_update_value_in_place(api, run, check_mode):
    run(node_taint, args())
    result = run(node_taint, args(taints=[dict(SPOT, value="false")]), check_mode=check_mode)
    assert result["changed"] is True
    node = [n for n in result["nodes"] if n["name"] == "spot-b"][0]
    assert node["taints_after"] == [OTHER, dict(SPOT, value="false")]
    expected = [OTHER, dict(SPOT, value="true" if check_mode else "false")]
    assert taints_of(api, "spot-b") == expected


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent(api, run, check_mode):
    run(node_taint, args())
    ignored_value = {"key": "spotInstance", "value": "ignored", "effect": "PreferNoSchedule"}
    result = run(node_taint, args(state="absent", taints=[ignored_value]),
                 check_mode=check_mode)
    assert result["changed"] is True
    assert [n["taints_after"] for n in result["nodes"]] == [[], [OTHER]]
    if not check_mode:
        assert "taints" not in api.nodes["spot-a"]["spec"]
        assert taints_of(api, "spot-b") == [OTHER]
        again = run(node_taint, args(state="absent", taints=[SPOT]))
        assert again["changed"] is False


@pytest.mark.parametrize("check_mode", [False, True])
def test_replace(api, run, check_mode):
    result = run(node_taint, args(name="spot-b", label_selectors=None, replace=True), check_mode=check_mode)
    assert result["changed"] is True
    assert result["nodes"] == [dict(name="spot-b", changed=True, taints_before=[OTHER], taints_after=[SPOT])]
    assert taints_of(api, "spot-b") == ([OTHER] if check_mode else [SPOT])


@pytest.mark.parametrize("check_mode", [False, True])
def test_diff(api, run, check_mode):
    result = run(node_taint, args(), check_mode=check_mode, diff=True)
    assert result["diff"] == [
        {"before_header": "node/spot-a", "after_header": "node/spot-a", "before": {"taints": []}, "after": {"taints": [SPOT]}},
        {"before_header": "node/spot-b", "after_header": "node/spot-b", "before": {"taints": [OTHER]},
         "after": {"taints": [OTHER, SPOT]}},
    ]
    again = run(node_taint, args(), diff=True)
    if not check_mode:
        assert again["diff"] == []


def test_conflict_is_retried_without_losing_the_concurrent_change(api, run):
    concurrent = {"key": "added-meanwhile", "effect": "NoSchedule"}
    state = {"done": False}

    def writer(fake):
        if not state["done"]:
            state["done"] = True
            fake.touch_node("spot-a", concurrent)

    api.before_patch.append(writer)
    result = run(node_taint, args(name="spot-a", label_selectors=None))
    assert result.rc == 0, result
    assert taints_of(api, "spot-a") == [concurrent, SPOT]
    assert result["nodes"][0]["taints_after"] == [concurrent, SPOT]
    assert result["nodes"][0]["taints_before"] == [concurrent]
    assert len(patches(api)) == 2
    assert [c[0] for c in api.calls] == ["read_node", "patch_node", "read_node", "patch_node"]


def test_conflict_gives_up_after_max_attempts(api, run):
    api.before_patch.append(lambda fake: fake.touch_node("spot-a"))
    result = run(node_taint, args(name="spot-a", label_selectors=None))
    assert result.rc == 1
    assert result["failed"] is True
    assert result["msg"].startswith("Failed to patch node 'spot-a': 409 Conflict: Operation cannot be fulfilled")
    assert "gave up after 5 attempts" in result["msg"]
    assert len(patches(api)) == node_taint.MAX_ATTEMPTS


def test_api_error_message(api, run, api_exception):
    api.errors["patch_node"] = api_exception(403, "Forbidden", 'nodes "spot-a" is forbidden: User "x" cannot patch resource')
    result = run(node_taint, args(name="spot-a", label_selectors=None))
    assert result.rc == 1
    assert result["msg"] == ("Failed to patch node 'spot-a': 403 Forbidden: "
                             'nodes "spot-a" is forbidden: User "x" cannot patch resource')
    assert result["status"] == 403


def test_list_error(api, run, api_exception):
    api.errors["list_node"] = api_exception(400, "Bad Request", "unable to parse requirement")
    result = run(node_taint, args(label_selectors=["a b"]))
    assert result.rc == 1
    assert result["msg"] == "Failed to get nodes: 400 Bad Request: unable to parse requirement"


def test_connection_error(api, run, api_exception):
    api.errors["list_node"] = api_exception(0, "MaxRetryError\nconnection refused", "")
    api.errors["list_node"].body = None
    result = run(node_taint, args())
    assert result.rc == 1
    assert "connection refused" in result["msg"]


@pytest.mark.parametrize("require_match", [False, True])
def test_no_match(api, run, require_match):
    result = run(node_taint, args(label_selectors=["lifecycle=Nothing"], require_match=require_match))
    if require_match:
        assert result.rc == 1
        assert result["msg"] == "No node matches the label selectors 'lifecycle=Nothing' and require_match is true."
    else:
        assert result.rc == 0
        assert result["changed"] is False and result["nodes"] == []


@pytest.mark.parametrize("require_match", [False, True])
def test_missing_named_node(api, run, require_match):
    result = run(node_taint, args(name="nope", label_selectors=None, require_match=require_match))
    if require_match:
        assert result.rc == 1
        assert result["msg"] == "Node 'nope' was not found and require_match is true."
    else:
        assert result.rc == 0 and result["nodes"] == []


def test_node_deleted_meanwhile_is_skipped_with_warning(api, run):
    api.before_patch.append(lambda fake: fake.nodes.pop("spot-a", None))
    result = run(node_taint, args())
    assert result.rc == 0
    assert [n["name"] for n in result["nodes"]] == ["spot-b"]
    # ansible-core 2.19+ returns warnings as structured summaries; look at their text
    assert "Node 'spot-a' disappeared while its taints were being set; skipped." in json.dumps(result["warnings"])


@pytest.mark.parametrize(
    "bad, fragment",
    [
        (dict(name="x"), "parameters are mutually exclusive: name|label_selectors"),
        (dict(label_selectors=None), "one of the following is required: name, label_selectors"),
        (dict(name=""), "parameters are mutually exclusive"),
        (dict(taints=[{"key": "a", "effect": "Sometimes"}]), "value of effect must be one of"),
        (dict(taints=[{"key": "a"}]), "missing required arguments: effect"),
        (dict(taints=[SPOT, dict(SPOT, value="x")]), "taints[0] and taints[1] both set key 'spotInstance'"),
        (dict(label_selectors=[""]), "label_selectors must hold at least one selector"),
    ],
)
def test_invalid_input(api, run, bad, fragment):
    result = run(node_taint, args(**bad))
    assert result.rc == 1
    assert fragment in result["msg"]
    assert patches(api) == []


def test_null_selector_never_selects_every_node(api, run):
    # a null option passes required_one_of (Ansible counts keys); it must not mean "all nodes"
    result = run(node_taint, dict(AUTH, label_selectors=None, taints=[SPOT]))
    assert result.rc == 1
    assert "label_selectors must hold at least one selector" in result["msg"]
    result = run(node_taint, dict(AUTH, name="", taints=[SPOT]))
    assert result.rc == 1
    assert result["msg"] == "name must not be empty"
    assert patches(api) == []


def test_api_key_is_not_logged(api, run):
    result = run(node_taint, args(_ansible_inject_invocation=True))
    assert "api_key" in result["invocation"]["module_args"]
    assert AUTH["api_key"] not in result.raw


def test_missing_kubernetes_library(monkeypatch, run):
    monkeypatch.setattr(k8s, "HAS_K8S", False)
    monkeypatch.setattr(k8s, "K8S_IMP_ERR", "Traceback: No module named 'kubernetes'")
    result = run(node_taint, args())
    assert result.rc == 1
    assert "Failed to import the required Python library (kubernetes)" in result["msg"]
