# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: k8s_auth
author:
  - Spotflow maintainers (@spotflow)
short_description: Connection settings for an EKS cluster, for kubernetes.core and spotflow.eks modules
version_added: 0.1.0
description:
  - Returns one dict with C(host), C(ca_cert) and C(api_key) for the EKS
    cluster, to be used as C(module_defaults) for C(group/spotflow.eks.k8s)
    (which extends C(kubernetes.core.k8s)).
  - C(host) and the CA come from the EKS C(DescribeCluster) API; the CA is
    written to a content-addressed file under O(ca_dir). C(api_key) is a fresh
    EKS token from the same credentials (see P(spotflow.eks.eks_token#lookup)).
  - Used as a C(module_defaults) value, the lookup runs for each Kubernetes task
    only, so tokens never outlive their 15 minutes, and tasks that do not talk
    to Kubernetes never call it.
  - The same code path serves real EKS and the local cloud; only the AWS
    endpoint and credentials differ.
options:
  cluster_name:
    description: EKS cluster name.
    type: str
    required: true
    vars:
      - name: spotflow_cluster_name
  region:
    description: AWS region.
    type: str
    required: true
    vars:
      - name: spotflow_region
  endpoint_url:
    description: AWS endpoint (all services); unset on AWS.
    type: str
    vars:
      - name: spotflow_aws_endpoint_url
  access_key:
    description: AWS access key id; unset means botocore's credential chain.
    type: str
    vars:
      - name: spotflow_aws_access_key
  secret_key:
    description: AWS secret access key.
    type: str
    vars:
      - name: spotflow_aws_secret_key
  profile:
    description: Named AWS profile.
    type: str
    vars:
      - name: spotflow_aws_profile
  ca_dir:
    description: Directory for the cluster CA files.
    type: path
    default: ~/.cache/spotflow/ca
"""

EXAMPLES = r"""
- name: Every Kubernetes task of this block reaches the EKS cluster
  module_defaults:
    group/spotflow.eks.k8s: "{{ lookup('spotflow.eks.k8s_auth') }}"
  block:
    - name: List the Spot nodes
      kubernetes.core.k8s_info:
        kind: Node
        label_selectors: [eks.amazonaws.com/capacityType=SPOT]
"""

RETURN = r"""
_raw:
  description: One dict with C(host), C(ca_cert) (a path) and C(api_key) (an EKS token).
  type: list
  elements: dict
"""

import base64
import hashlib
import os
import time

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

try:
    import botocore.session
    from botocore.exceptions import BotoCoreError, ClientError

    HAS_BOTOCORE = True
except ImportError:
    HAS_BOTOCORE = False

from ansible_collections.spotflow.eks.plugins.module_utils.eks_token import generate_token

# DescribeCluster answers per (cluster, region, endpoint, key): endpoint and CA
# never change for a cluster's life, so one call per minute is plenty.
_CACHE = {}
_CACHE_SECONDS = 60


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if not HAS_BOTOCORE:
            raise AnsibleLookupError("spotflow.eks.k8s_auth requires botocore")
        # inventory values may themselves be templates (lookup('env', ...))
        shared = {k: self._templar.template(v) for k, v in (variables or {}).items() if k.startswith("spotflow_")}
        self.set_options(var_options=shared, direct=kwargs)
        opt = {k: self.get_option(k) for k in ("cluster_name", "region", "endpoint_url", "access_key", "secret_key", "profile")}
        for required in ("cluster_name", "region"):
            if not opt[required]:
                raise AnsibleLookupError("spotflow.eks.k8s_auth needs {0} (or spotflow_{0})".format(required))
        session = botocore.session.Session(profile=opt["profile"])
        if opt["access_key"] and opt["secret_key"]:
            session.set_credentials(opt["access_key"], opt["secret_key"])
        key = (opt["cluster_name"], opt["region"], opt["endpoint_url"], opt["access_key"])
        try:
            cached = _CACHE.get(key)
            if cached is None or time.monotonic() - cached[0] > _CACHE_SECONDS:
                eks = session.create_client("eks", region_name=opt["region"], endpoint_url=opt["endpoint_url"])
                cluster = eks.describe_cluster(name=opt["cluster_name"])["cluster"]
                cached = (time.monotonic(), cluster["endpoint"], cluster["certificateAuthority"]["data"])
                _CACHE[key] = cached
            _t, endpoint, ca_b64 = cached
            sts = session.create_client("sts", region_name=opt["region"],
                                        endpoint_url=opt["endpoint_url"] or "https://sts.{0}.amazonaws.com".format(opt["region"]))
            token, _exp = generate_token(opt["cluster_name"], opt["region"], client=sts)
        except (BotoCoreError, ClientError) as e:
            raise AnsibleLookupError("Failed to reach EKS cluster {0!r}: {1}".format(opt["cluster_name"], e))
        ca = base64.b64decode(ca_b64)
        ca_dir = os.path.expanduser(self.get_option("ca_dir"))
        os.makedirs(ca_dir, exist_ok=True)
        ca_file = os.path.join(ca_dir, "{0}-{1}.crt".format(opt["cluster_name"], hashlib.sha256(ca).hexdigest()[:16]))
        if not os.path.exists(ca_file):
            tmp = ca_file + ".tmp{0}".format(os.getpid())
            with open(tmp, "wb") as f:
                f.write(ca)
            os.replace(tmp, ca_file)
        return [{"host": endpoint, "ca_cert": ca_file, "api_key": token}]
