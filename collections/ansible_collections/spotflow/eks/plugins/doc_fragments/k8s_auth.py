# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Options for authenticating with the Kubernetes API, shared by every
# Kubernetes module of spotflow.eks (module_utils/k8s.py implements them).


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  host:
    description:
      - URL of the Kubernetes API server, for example the C(endpoint) of an EKS cluster.
      - Can also be set with the E(K8S_AUTH_HOST) environment variable.
    type: str
  api_key:
    description:
      - Bearer token used to authenticate with the API.
      - For EKS, a token from the P(spotflow.eks.eks_token#lookup) lookup. Tokens live 15 minutes, so template the
        lookup in O(api_key) or in C(module_defaults) rather than storing a token in a fact.
      - Can also be set with the E(K8S_AUTH_API_KEY) environment variable.
    type: str
  kubeconfig:
    description:
      - Path to a kubeconfig file, several paths joined by V(:), or the kubeconfig itself as a dict.
      - Read only when O(host) comes without a credential. Without O(kubeconfig), O(context) or O(host) and a
        credential, the in-cluster service account is tried, then E(KUBECONFIG) or C(~/.kube/config).
      - Can also be set with the E(K8S_AUTH_KUBECONFIG) environment variable.
    type: raw
  context:
    description:
      - Name of the context to use from the kubeconfig.
      - Can also be set with the E(K8S_AUTH_CONTEXT) environment variable.
    type: str
  username:
    description:
      - User name for HTTP basic authentication.
      - Accepted so that C(module_defaults) shared with kubernetes.core apply unchanged; EKS does not support basic
        authentication and Kubernetes 1.19 removed it.
      - Can also be set with the E(K8S_AUTH_USERNAME) environment variable.
    type: str
  password:
    description:
      - Password for HTTP basic authentication, see O(username).
      - Can also be set with the E(K8S_AUTH_PASSWORD) environment variable.
    type: str
  client_cert:
    description:
      - Path to a client certificate used to authenticate with the API.
      - Can also be set with the E(K8S_AUTH_CLIENT_CERT) or E(K8S_AUTH_CERT_FILE) environment variable.
    type: path
    aliases: [cert_file]
  client_key:
    description:
      - Path to the key of O(client_cert).
      - Can also be set with the E(K8S_AUTH_CLIENT_KEY) or E(K8S_AUTH_KEY_FILE) environment variable.
    type: path
    aliases: [key_file]
  ca_cert:
    description:
      - Path to the CA certificate that signed the API server's certificate, for EKS the decoded
        C(certificateAuthority.data) of the cluster.
      - Can also be set with the E(K8S_AUTH_CA_CERT) or E(K8S_AUTH_SSL_CA_CERT) environment variable.
    type: path
    aliases: [ssl_ca_cert]
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Defaults to what the kubeconfig says, else V(true).
      - Can also be set with the E(K8S_AUTH_VALIDATE_CERTS) or E(K8S_AUTH_VERIFY_SSL) environment variable.
    type: bool
    aliases: [verify_ssl]
  proxy:
    description:
      - URL of an HTTP proxy for the connection to the API.
      - The module does not read E(HTTP_PROXY) or E(HTTPS_PROXY).
      - Can also be set with the E(K8S_AUTH_PROXY) environment variable.
    type: str
  no_proxy:
    description:
      - Comma separated hosts, domains, IP addresses or CIDRs to reach without O(proxy).
      - Can also be set with the E(K8S_AUTH_NO_PROXY) environment variable.
    type: str
  proxy_headers:
    description:
      - Headers for the HTTP proxy.
    type: dict
    suboptions:
      proxy_basic_auth:
        description:
          - V(username:password) for the proxy's basic authentication.
          - Can also be set with the E(K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH) environment variable.
        type: str
      basic_auth:
        description:
          - V(username:password) for a basic authentication header.
          - Can also be set with the E(K8S_AUTH_PROXY_HEADERS_BASIC_AUTH) environment variable.
        type: str
      user_agent:
        description:
          - User agent sent to the proxy.
          - Can also be set with the E(K8S_AUTH_PROXY_HEADERS_USER_AGENT) environment variable.
        type: str
  persist_config:
    description:
      - Whether the Kubernetes client may write refreshed credentials back to the kubeconfig file.
      - Default V(false).
      - Can also be set with the E(K8S_AUTH_PERSIST_CONFIG) environment variable.
    type: bool
  impersonate_user:
    description:
      - User name to impersonate.
      - Can also be set with the E(K8S_AUTH_IMPERSONATE_USER) environment variable.
    type: str
  impersonate_groups:
    description:
      - Groups to impersonate.
      - Can also be set with the E(K8S_AUTH_IMPERSONATE_GROUPS) environment variable, comma separated.
    type: list
    elements: str
notes:
  - The authentication options have the names, aliases, meanings and E(K8S_AUTH_*) environment variables of
    kubernetes.core's, so one C(module_defaults) entry for C(group/spotflow.eks.k8s) serves kubernetes.core's
    modules and this one.
  - O(host) with a credential (O(api_key), O(client_cert) and O(client_key), or O(username) and O(password)) is used
    as is; otherwise O(kubeconfig) is loaded and the explicit options override what it says.
requirements:
  - kubernetes (the Python client) >= 24.2.0
"""
