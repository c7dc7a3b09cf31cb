# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one Kubernetes client factory of spotflow.eks.

Every Kubernetes module of the collection builds its client with
:func:`get_api_client` (or :func:`core_v1_api`) and nothing else. The options
are kubernetes.core's common auth options, with the same names, aliases,
meanings and ``K8S_AUTH_*`` environment fallbacks, so that one
``module_defaults: group/spotflow.eks.k8s: {...}`` (an action group extending
``kubernetes.core.k8s``) feeds kubernetes.core's modules and ours alike.

Precedence, as in kubernetes.core:

1. ``host`` plus a credential (``api_key``, ``username``/``password`` or
   ``client_cert``/``client_key``): nothing else is loaded. An EKS token from
   the ``spotflow.eks.eks_token`` lookup is just a bearer token (``api_key``).
2. ``kubeconfig`` and/or ``context``: that kubeconfig (a path, several paths
   joined by ``:``, or a dict).
3. Otherwise the in-cluster service account, then ``$KUBECONFIG`` or
   ``~/.kube/config``.

Explicit options always override what a kubeconfig says.
"""

from __future__ import annotations

import hashlib
import json
import os
import traceback

from ansible.module_utils.basic import missing_required_lib
from ansible.module_utils.common.text.converters import to_native, to_text

K8S_IMP_ERR = None
try:
    import kubernetes
    import kubernetes.client
    import kubernetes.config
    import urllib3

    # ApiException is re-exported: modules catch it from here, with a stand-in when the library is missing
    from kubernetes.client.exceptions import ApiException  # noqa: F401  pylint: disable=unused-import

    HAS_K8S = True
except ImportError:
    HAS_K8S = False
    K8S_IMP_ERR = traceback.format_exc()

    class ApiException(Exception):  # type: ignore[no-redef]
        """Stand-in so that ``except ApiException`` works without the library (never raised)."""

        status = None
        reason = None
        body = None


# kubernetes.core.plugins.module_utils.args_common.AUTH_ARG_SPEC, option for
# option: the same names, aliases and types, so that shared module_defaults
# never hit "Unsupported parameters".
AUTH_PROXY_HEADERS_SPEC = dict(
    proxy_basic_auth=dict(type="str", no_log=True),
    basic_auth=dict(type="str", no_log=True),
    user_agent=dict(type="str"),
)

AUTH_ARG_SPEC = dict(
    kubeconfig=dict(type="raw"),
    context=dict(type="str"),
    host=dict(type="str"),
    api_key=dict(type="str", no_log=True),
    username=dict(type="str"),
    password=dict(type="str", no_log=True),
    validate_certs=dict(type="bool", aliases=["verify_ssl"]),
    ca_cert=dict(type="path", aliases=["ssl_ca_cert"]),
    client_cert=dict(type="path", aliases=["cert_file"]),
    client_key=dict(type="path", aliases=["key_file"], no_log=False),
    proxy=dict(type="str"),
    no_proxy=dict(type="str"),
    proxy_headers=dict(type="dict", options=AUTH_PROXY_HEADERS_SPEC),
    persist_config=dict(type="bool"),
    impersonate_user=dict(type="str"),
    impersonate_groups=dict(type="list", elements="str"),
)

# option name -> attribute of kubernetes.client.Configuration (None: not one)
_CONFIGURATION_ATTRIBUTE = dict(
    host="host",
    api_key="api_key",
    username="username",
    password="password",
    validate_certs="verify_ssl",
    ca_cert="ssl_ca_cert",
    client_cert="cert_file",
    client_key="key_file",
    proxy="proxy",
    no_proxy="no_proxy",
    proxy_headers="proxy_headers",
)

# option name -> environment variables read when the option is not set, first
# wins. The same names kubernetes.core reads: K8S_AUTH_<option> and
# K8S_AUTH_<kubernetes client attribute>.
AUTH_ENV = dict(
    kubeconfig=["K8S_AUTH_KUBECONFIG"],
    context=["K8S_AUTH_CONTEXT"],
    host=["K8S_AUTH_HOST"],
    api_key=["K8S_AUTH_API_KEY"],
    username=["K8S_AUTH_USERNAME"],
    password=["K8S_AUTH_PASSWORD"],
    validate_certs=["K8S_AUTH_VALIDATE_CERTS", "K8S_AUTH_VERIFY_SSL"],
    ca_cert=["K8S_AUTH_CA_CERT", "K8S_AUTH_SSL_CA_CERT"],
    client_cert=["K8S_AUTH_CLIENT_CERT", "K8S_AUTH_CERT_FILE"],
    client_key=["K8S_AUTH_CLIENT_KEY", "K8S_AUTH_KEY_FILE"],
    proxy=["K8S_AUTH_PROXY"],
    no_proxy=["K8S_AUTH_NO_PROXY"],
    persist_config=["K8S_AUTH_PERSIST_CONFIG"],
    impersonate_user=["K8S_AUTH_IMPERSONATE_USER"],
    impersonate_groups=["K8S_AUTH_IMPERSONATE_GROUPS"],
)

_FALSE_STRINGS = ("0", "false", "no", "off", "n", "f")


class K8sClientError(Exception):
    """The client could not be configured; the message says why."""


def _env_value(option, environ):
    for var in AUTH_ENV.get(option, ()):
        value = environ.get(var)
        if value is not None and value != "":
            spec_type = AUTH_ARG_SPEC[option].get("type")
            if spec_type == "bool":
                return value.strip().lower() not in _FALSE_STRINGS
            if spec_type == "list":
                return [item.strip() for item in value.split(",") if item.strip()]
            return value
    return None


def auth_settings(params, environ=None):
    """The effective auth options: module parameters, else ``K8S_AUTH_*`` variables.

    Returns a dict keyed by option name (``host``, ``api_key``, ...); options
    set nowhere are absent.
    """
    environ = os.environ if environ is None else environ
    auth = {}
    for option in AUTH_ARG_SPEC:
        value = params.get(option)
        if value is None and option == "proxy_headers":
            headers = {}
            for key, spec in AUTH_PROXY_HEADERS_SPEC.items():
                env_value = environ.get("K8S_AUTH_PROXY_HEADERS_{0}".format(key.upper()))
                if env_value is not None:
                    headers[key] = env_value
            value = headers or None
        elif value is None:
            value = _env_value(option, environ)
        if value is not None:
            auth[option] = value
    if isinstance(auth.get("proxy_headers"), dict):
        headers = dict((k, v) for k, v in auth["proxy_headers"].items() if v is not None)
        if headers:
            auth["proxy_headers"] = headers
        else:
            auth.pop("proxy_headers")
    if auth.get("host"):
        auth["host"] = auth["host"].rstrip("/")
    return auth


def _load_kubeconfig(configuration, auth):
    kubeconfig = auth.get("kubeconfig")
    kwargs = dict(
        context=auth.get("context"),
        client_configuration=configuration,
        persist_config=bool(auth.get("persist_config")),
    )
    if isinstance(kubeconfig, dict):
        kubernetes.config.load_kube_config_from_dict(config_dict=kubeconfig, **kwargs)
    elif kubeconfig is None or isinstance(kubeconfig, str):
        # the library reads $KUBECONFIG once, at import; read it now
        kubeconfig = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        kubeconfig = os.pathsep.join(os.path.expanduser(p) for p in kubeconfig.split(os.pathsep))
        kubernetes.config.load_kube_config(config_file=kubeconfig, **kwargs)
    else:
        raise K8sClientError("kubeconfig must be a path or a dict, not {0}".format(type(kubeconfig).__name__))


def build_configuration(auth):
    """A fresh ``kubernetes.client.Configuration`` for ``auth`` (from :func:`auth_settings`).

    Never touches the kubernetes library's global default configuration.
    """
    configuration = kubernetes.client.Configuration()

    def have(*names):
        return all(auth.get(name) for name in names)

    try:
        if have("host") and (have("api_key") or have("username", "password") or have("client_cert", "client_key")):
            pass  # enough to talk to the API, load nothing else
        elif have("kubeconfig") or have("context"):
            _load_kubeconfig(configuration, auth)
        else:
            try:
                kubernetes.config.load_incluster_config(client_configuration=configuration)
            except kubernetes.config.ConfigException:
                _load_kubeconfig(configuration, auth)
    except K8sClientError:
        raise
    except Exception as e:  # ConfigException, a missing or malformed kubeconfig, a bad dict...
        raise K8sClientError(
            "Could not load a Kubernetes configuration: {0}. Set host with api_key (for EKS, a token "
            "from the spotflow.eks.eks_token lookup) and ca_cert, or kubeconfig.".format(to_native(e).rstrip(". "))
        )

    for option, attribute in _CONFIGURATION_ATTRIBUTE.items():
        value = auth.get(option)
        if value is None:
            continue
        if option == "api_key":
            # An explicit token wins over anything a kubeconfig set, including
            # an exec plugin's refresh hook. Both keys: kubernetes>=36 reads
            # 'BearerToken', older clients 'authorization'.
            configuration.api_key = {"authorization": "Bearer {0}".format(value), "BearerToken": "Bearer {0}".format(value)}
            configuration.api_key_prefix = {}
            configuration.refresh_api_key_hook = None
        elif option == "proxy_headers":
            configuration.proxy_headers = urllib3.util.make_headers(**value)
        else:
            setattr(configuration, attribute, value)

    if configuration.verify_ssl is False:
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    return configuration


class _RepeatableHeader(str):
    """A header name that may appear several times in one dict (Impersonate-Group).

    Equal only to itself, so several of them live side by side in the dicts
    the kubernetes client and urllib3 build from the default headers.
    """

    _lowered = None

    def __hash__(self):
        return id(self)

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other

    def lower(self):
        if self._lowered is None:
            lowered = str.lower(self)
            self._lowered = self if str.__eq__(lowered, self) else _RepeatableHeader(lowered)
        return self._lowered


def _headers(auth):
    headers = []
    if auth.get("impersonate_user"):
        headers.append(("Impersonate-User", auth["impersonate_user"]))
    for group in auth.get("impersonate_groups") or []:
        headers.append((_RepeatableHeader("Impersonate-Group"), group))
    return headers


def _digest(auth):
    material = json.dumps(
        dict((k, v) for k, v in auth.items()),
        sort_keys=True,
        default=to_text,
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


_CLIENTS = {}


def get_api_client(module):
    """The ``kubernetes.client.ApiClient`` for ``module``'s auth options; cached per settings.

    Fails the module (``fail_json``) when the kubernetes library is missing or
    no configuration can be built. Never returns None.
    """
    if not HAS_K8S:
        module.fail_json(msg=missing_required_lib("kubernetes"), exception=K8S_IMP_ERR)
    auth = auth_settings(module.params)
    key = _digest(auth)
    client = _CLIENTS.get(key)
    if client is None:
        try:
            configuration = build_configuration(auth)
        except K8sClientError as e:
            module.fail_json(msg=to_native(e))
        client = kubernetes.client.ApiClient(configuration)
        for name, value in _headers(auth):
            client.default_headers[name] = value
        _CLIENTS[key] = client
    return client


def core_v1_api(module):
    """``kubernetes.client.CoreV1Api`` over :func:`get_api_client`."""
    return kubernetes.client.CoreV1Api(get_api_client(module))


def call_json(method, *args, **kwargs):
    """Call a generated API method and return the response as plain JSON data.

    Skips the client's model deserialization: the result is exactly what the
    apiserver sent (camelCase keys, RFC 3339 times), the same shape as
    kubernetes.core.k8s_info returns. Raises ``ApiException`` like the method.
    """
    kwargs["_preload_content"] = False
    response = method(*args, **kwargs)
    try:
        data = response.data
    finally:
        release = getattr(response, "release_conn", None)
        if release is not None:
            release()
    return json.loads(to_text(data, errors="surrogate_or_strict"))


def get_json(client, path, query_params=None):
    """GET ``path`` (``/api/v1/...``, ``/apis/<group>/<version>/...``) on ``client`` and return the JSON data.

    For paths no generated API method covers, such as a kind known only by its
    group version. Raises ``ApiException`` like a generated method.
    """
    return call_json(
        client.call_api, path, "GET",
        query_params=list(query_params or []),
        header_params={"Accept": "application/json"},
        auth_settings=["BearerToken"],
        _return_http_data_only=True,
    )


def api_error_message(exc):
    """``'<status> <reason>: <apiserver message>'`` for an ``ApiException``, or the exception text."""
    status = getattr(exc, "status", None)
    reason = getattr(exc, "reason", None)
    if not status:
        # status 0: urllib3 failed (refused, TLS, timeout); reason carries the text
        return to_native(reason or exc)
    message = None
    body = getattr(exc, "body", None)
    if body:
        try:
            message = json.loads(to_text(body)).get("message")
        except (ValueError, AttributeError, TypeError):
            message = to_text(body).strip() or None
    text = "{0} {1}".format(status, reason or "").strip()
    if message:
        text = "{0}: {1}".format(text, message)
    return text
