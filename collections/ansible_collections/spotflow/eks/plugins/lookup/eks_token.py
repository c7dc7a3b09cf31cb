# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: eks_token
author:
  - Spotflow maintainers (@spotflow)
short_description: Make an Amazon EKS bearer token from AWS credentials
version_added: 0.1.0
description:
  - Returns the bearer token EKS accepts, C(k8s-aws-v1.) followed by a presigned
    STS C(GetCallerIdentity) URL bound to the cluster name by the signed
    C(x-k8s-aws-id) header, exactly what C(aws eks get-token) prints.
  - Pure botocore, no aws CLI. Nothing is sent to AWS, presigning is local.
  - The token is valid for 15 minutes. Use the lookup in a variable or in
    C(module_defaults) so that every task templates a fresh one, rather than
    storing one with C(set_fact).
  - No module in amazon.aws, community.aws or kubernetes.core makes EKS tokens.
options:
  _terms:
    description: The EKS cluster name.
    required: true
    type: str
  region:
    description: AWS region of the cluster. Falls back to E(AWS_REGION) / E(AWS_DEFAULT_REGION).
    type: str
  endpoint_url:
    description:
      - STS endpoint to presign against. Defaults to the regional endpoint
        C(https://sts.<region>.amazonaws.com), which EKS requires.
      - Set it for an emulated AWS or a VPC endpoint.
    type: str
    aliases: [aws_endpoint_url]
  profile:
    description: Named AWS profile.
    type: str
  access_key:
    description: AWS access key id; default is botocore's credential chain.
    type: str
    aliases: [aws_access_key_id]
  secret_key:
    description: AWS secret access key.
    type: str
    aliases: [aws_secret_access_key]
  session_token:
    description: AWS session token.
    type: str
"""

EXAMPLES = r"""
- name: Talk to the cluster with a fresh token on every task
  kubernetes.core.k8s_info:
    host: "{{ cluster.endpoint }}"
    ca_cert: /path/to/ca.crt
    api_key: "{{ lookup('spotflow.eks.eks_token', 'airflow', region='eu-west-2') }}"
    kind: Node
"""

RETURN = r"""
_raw:
  description: One element, the bearer token.
  type: list
  elements: str
"""

import os

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

try:
    import botocore  # noqa: F401  pylint: disable=unused-import

    HAS_BOTOCORE = True
except ImportError:
    HAS_BOTOCORE = False

from ansible_collections.spotflow.eks.plugins.module_utils.eks_token import generate_token


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if not HAS_BOTOCORE:
            raise AnsibleLookupError("spotflow.eks.eks_token requires botocore")
        self.set_options(var_options=variables, direct=kwargs)
        if len(terms) != 1:
            raise AnsibleLookupError("spotflow.eks.eks_token takes exactly one term, the cluster name")
        region = self.get_option("region") or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if not region:
            raise AnsibleLookupError("spotflow.eks.eks_token needs region (or AWS_REGION)")
        try:
            token, _expiration = generate_token(
                terms[0],
                region,
                endpoint_url=self.get_option("endpoint_url"),
                profile=self.get_option("profile"),
                access_key=self.get_option("access_key"),
                secret_key=self.get_option("secret_key"),
                session_token=self.get_option("session_token"),
            )
        except Exception as e:  # botocore raises many types; report them all the same way
            raise AnsibleLookupError("Failed to make an EKS token for cluster {0!r}: {1}".format(terms[0], e))
        return [token]
