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
    only, and tasks that do not talk to Kubernetes never call it.
  - Within one run of C(ansible-playbook), the answer is kept for 60 seconds in
    Ansible's per-run local temporary directory (C(DEFAULT_LOCAL_TMP), private
    to the user and removed when the run ends). Each task runs in a process of its
    own, so a cache in memory never reached the next task. A token is valid
    for 15 minutes, so a reused one still has more than 14 left. The
    Kubernetes tasks of a run then share a token instead of each importing
    botocore, describing the cluster and signing again (about 0.4 s a task).
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
import json
import os
import time

from ansible import constants as C
from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.spotflow.eks.plugins.module_utils.eks_token import generate_token

# How long one run reuses an answer. A token is valid for 15 minutes.
CACHE_SECONDS = 60


def _cache_path(opt):
    key = json.dumps([opt[k] for k in sorted(opt)]).encode("utf-8")
    return os.path.join(C.DEFAULT_LOCAL_TMP, "spotflow-k8s-auth-{0}.json".format(hashlib.sha256(key).hexdigest()[:32]))


def _read_cache(path):
    try:
        with open(path, "rb") as f:
            entry = json.loads(f.read())
        if 0 <= time.time() - entry["created"] < CACHE_SECONDS and os.path.exists(entry["ca_cert"]):
            return {"host": entry["host"], "ca_cert": entry["ca_cert"], "api_key": entry["api_key"]}
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _write_private(path, data):
    """Write ``data`` (bytes) to ``path`` atomically, readable by this user only."""
    tmp = "{0}.tmp{1}".format(path, os.getpid())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)  # a full disk leaves nothing half-written behind
        except OSError:
            pass
        raise


def _ask_aws(opt, ca_dir):
    """Describe the cluster, write its CA under ``ca_dir``, make a token."""
    try:  # imported here: a reused answer needs no botocore (0.2-0.3 s to import)
        import botocore.session
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise AnsibleLookupError("spotflow.eks.k8s_auth requires botocore")
    session = botocore.session.Session(profile=opt["profile"])
    if opt["access_key"] and opt["secret_key"]:
        session.set_credentials(opt["access_key"], opt["secret_key"])
    try:
        eks = session.create_client("eks", region_name=opt["region"], endpoint_url=opt["endpoint_url"])
        cluster = eks.describe_cluster(name=opt["cluster_name"])["cluster"]
        sts = session.create_client("sts", region_name=opt["region"],
                                    endpoint_url=opt["endpoint_url"] or "https://sts.{0}.amazonaws.com".format(opt["region"]))
        token, _exp = generate_token(opt["cluster_name"], opt["region"], client=sts)
    except (BotoCoreError, ClientError) as e:
        raise AnsibleLookupError("Failed to reach EKS cluster {0!r}: {1}".format(opt["cluster_name"], e))
    ca = base64.b64decode(cluster["certificateAuthority"]["data"])
    os.makedirs(ca_dir, exist_ok=True)
    ca_file = os.path.join(ca_dir, "{0}-{1}.crt".format(opt["cluster_name"], hashlib.sha256(ca).hexdigest()[:16]))
    if not os.path.exists(ca_file):
        _write_private(ca_file, ca)
    return {"host": cluster["endpoint"], "ca_cert": ca_file, "api_key": token}


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        # inventory values may themselves be templates (lookup('env', ...))
        shared = {k: self._templar.template(v) for k, v in (variables or {}).items() if k.startswith("spotflow_")}
        self.set_options(var_options=shared, direct=kwargs)
        opt = {k: self.get_option(k) for k in ("cluster_name", "region", "endpoint_url", "access_key", "secret_key", "profile")}
        for required in ("cluster_name", "region"):
            if not opt[required]:
                raise AnsibleLookupError("spotflow.eks.k8s_auth needs {0} (or spotflow_{0})".format(required))
        ca_dir = os.path.expanduser(self.get_option("ca_dir"))
        path = _cache_path(dict(opt, ca_dir=ca_dir))
        answer = _read_cache(path)
        if answer is None:
            answer = _ask_aws(opt, ca_dir)
            try:
                _write_private(path, json.dumps(dict(answer, created=time.time())).encode("utf-8"))
            except OSError:
                pass  # a cache that cannot be written costs only the next task's 0.4 s
        return [answer]
