"""The Kubernetes client factory of spotflow.eks (module_utils/k8s.py)."""

from __future__ import annotations

import json

import kubernetes
import pytest
import yaml
from ansible_collections.spotflow.eks.plugins.module_utils import k8s


class FakeModule:
    def __init__(self, **params):
        self.params = dict((name, None) for name in k8s.AUTH_ARG_SPEC)
        self.params.update(params)

    def fail_json(self, **kwargs):
        raise AssertionError("fail_json: {0}".format(kwargs))


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    """No K8S_AUTH_* from the caller's environment, no real kubeconfig, an empty client cache."""
    import os

    for var in list(os.environ):
        if var.startswith("K8S_AUTH_"):
            monkeypatch.delenv(var)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr(k8s, "_CLIENTS", {})


def kubeconfig_dict():
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "one",
        "clusters": [
            {"name": "c1", "cluster": {"server": "https://one.example:6443", "insecure-skip-tls-verify": True}},
            {"name": "c2", "cluster": {"server": "https://two.example:6443", "insecure-skip-tls-verify": True}},
        ],
        "users": [{"name": "u1", "user": {"token": "token-one"}}, {"name": "u2", "user": {"token": "token-two"}}],
        "contexts": [{"name": "one", "context": {"cluster": "c1", "user": "u1"}},
                     {"name": "two", "context": {"cluster": "c2", "user": "u2"}}],
    }


def bearer(configuration):
    return configuration.auth_settings()["BearerToken"]["value"]


def test_auth_spec_matches_kubernetes_core():
    """Same option names, aliases, types and no_log as kubernetes.core, so shared module_defaults work."""
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC as CORE

    assert set(k8s.AUTH_ARG_SPEC) == set(CORE)
    for name, spec in CORE.items():
        ours = k8s.AUTH_ARG_SPEC[name]
        assert ours.get("type", "str") == spec.get("type", "str"), name
        assert ours.get("aliases") == spec.get("aliases"), name
        assert bool(ours.get("no_log")) == bool(spec.get("no_log")), name
    assert k8s.AUTH_ARG_SPEC["api_key"]["no_log"] is True


def test_env_fallbacks(monkeypatch):
    monkeypatch.setenv("K8S_AUTH_HOST", "https://env.example/")
    monkeypatch.setenv("K8S_AUTH_API_KEY", "env-token")
    monkeypatch.setenv("K8S_AUTH_VERIFY_SSL", "no")
    monkeypatch.setenv("K8S_AUTH_SSL_CA_CERT", "/env/ca.crt")
    monkeypatch.setenv("K8S_AUTH_CERT_FILE", "/env/cert")
    monkeypatch.setenv("K8S_AUTH_IMPERSONATE_GROUPS", "a, b,,")
    monkeypatch.setenv("K8S_AUTH_PROXY_HEADERS_USER_AGENT", "spotflow/1")
    auth = k8s.auth_settings({"host": None, "api_key": "param-token"})
    assert auth == {
        "host": "https://env.example",
        "api_key": "param-token",  # parameters win
        "validate_certs": False,
        "ca_cert": "/env/ca.crt",
        "client_cert": "/env/cert",
        "impersonate_groups": ["a", "b"],
        "proxy_headers": {"user_agent": "spotflow/1"},
    }


@pytest.mark.parametrize(
    "value, expected", [("true", True), ("1", True), ("yes", True), ("False", False), ("0", False), ("no", False)]
)
def test_env_bool(monkeypatch, value, expected):
    monkeypatch.setenv("K8S_AUTH_VALIDATE_CERTS", value)
    assert k8s.auth_settings({})["validate_certs"] is expected


def test_host_and_token_load_no_kubeconfig(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("no kubeconfig must be loaded")

    monkeypatch.setattr(kubernetes.config, "load_kube_config", boom)
    monkeypatch.setattr(kubernetes.config, "load_incluster_config", boom)
    configuration = k8s.build_configuration(
        k8s.auth_settings({"host": "https://eks.example/", "api_key": "k8s-aws-v1.abc", "ca_cert": "/ca.crt"}))
    assert configuration.host == "https://eks.example"
    assert bearer(configuration) == "Bearer k8s-aws-v1.abc"
    assert configuration.ssl_ca_cert == "/ca.crt"
    assert configuration.verify_ssl is True


def test_kubeconfig_file_and_context(tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kubeconfig_dict()))
    configuration = k8s.build_configuration(k8s.auth_settings({"kubeconfig": str(path)}))
    assert configuration.host == "https://one.example:6443"
    assert bearer(configuration) == "Bearer token-one"
    configuration = k8s.build_configuration(k8s.auth_settings({"kubeconfig": str(path), "context": "two"}))
    assert configuration.host == "https://two.example:6443"
    assert bearer(configuration) == "Bearer token-two"


def test_explicit_options_override_kubeconfig(tmp_path):
    configuration = k8s.build_configuration(
        k8s.auth_settings({"kubeconfig": kubeconfig_dict(), "api_key": "mine", "validate_certs": True}))
    assert configuration.host == "https://one.example:6443"
    assert bearer(configuration) == "Bearer mine"
    assert configuration.verify_ssl is True


def test_default_kubeconfig_from_env(monkeypatch, tmp_path):
    path = tmp_path / "kc"
    path.write_text(yaml.safe_dump(kubeconfig_dict()))
    monkeypatch.setenv("KUBECONFIG", str(path))
    configuration = k8s.build_configuration(k8s.auth_settings({}))
    assert configuration.host == "https://one.example:6443"


def test_global_default_configuration_untouched(tmp_path):
    before = kubernetes.client.Configuration.get_default_copy().host
    k8s.build_configuration(k8s.auth_settings({"kubeconfig": kubeconfig_dict()}))
    assert kubernetes.client.Configuration.get_default_copy().host == before


def test_nothing_configured_is_a_clear_error():
    with pytest.raises(k8s.K8sClientError) as err:
        k8s.build_configuration(k8s.auth_settings({}))
    assert str(err.value).startswith("Could not load a Kubernetes configuration: ")
    assert "api_key" in str(err.value)


def test_get_api_client_fails_module_on_bad_config():
    module = FakeModule(kubeconfig="/no/such/file")
    with pytest.raises(AssertionError) as err:
        k8s.get_api_client(module)
    assert "Could not load a Kubernetes configuration" in str(err.value)


def test_client_is_cached_per_settings():
    a = k8s.get_api_client(FakeModule(host="https://h", api_key="t1"))
    b = k8s.get_api_client(FakeModule(host="https://h", api_key="t1"))
    c = k8s.get_api_client(FakeModule(host="https://h", api_key="t2"))
    assert a is b
    assert a is not c
    assert isinstance(k8s.core_v1_api(FakeModule(host="https://h", api_key="t1")).api_client, kubernetes.client.ApiClient)


def test_request_carries_token_and_impersonation_headers(json_server):
    url, requests = json_server(lambda path: (200, {"kind": "NodeList", "apiVersion": "v1", "items": []}))
    module = FakeModule(host=url, api_key="k8s-aws-v1.tok", impersonate_user="alice", impersonate_groups=["g1", "g2"])
    data = k8s.call_json(k8s.core_v1_api(module).list_node)
    assert data["kind"] == "NodeList"
    headers = requests[-1][1]
    assert headers["Authorization"] == "Bearer k8s-aws-v1.tok"
    assert headers["Impersonate-User"] == "alice"
    assert headers.get_all("Impersonate-Group") == ["g1", "g2"]


def test_api_error_message():
    exc = kubernetes.client.exceptions.ApiException(status=409, reason="Conflict")
    exc.body = json.dumps({"message": "the object has been modified"})
    assert k8s.api_error_message(exc) == "409 Conflict: the object has been modified"
    exc.body = b"not json"
    assert k8s.api_error_message(exc) == "409 Conflict: not json"
    exc.body = None
    assert k8s.api_error_message(exc) == "409 Conflict"
    refused = kubernetes.client.exceptions.ApiException(status=0, reason="MaxRetryError: connection refused")
    assert k8s.api_error_message(refused) == "MaxRetryError: connection refused"
    assert k8s.api_error_message(ValueError("plain")) == "plain"
