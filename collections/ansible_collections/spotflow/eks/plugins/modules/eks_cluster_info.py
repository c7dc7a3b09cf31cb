#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: eks_cluster_info
version_added: 0.1.0
short_description: Read an Amazon EKS cluster and the names of its node groups
description:
  - Describes one EKS cluster (C(DescribeCluster)) and lists its managed node groups
    (C(ListNodegroups)), without changing anything.
  - This module exists because neither C(amazon.aws) nor C(community.aws) has an
    C(eks_cluster_info) module. A cluster that does not exist is not an error.
    RV(exists) is then V(false), so roles can read the cluster in check mode on an
    empty account and rebuild their facts when run alone.
author:
  - Spotflow maintainers (@spotflow)
options:
  name:
    description:
      - Name of the cluster.
    type: str
    required: true
  list_nodegroups:
    description:
      - Also list the names of the cluster's managed node groups.
    type: bool
    default: true
notes:
  - Member of the action group C(spotflow.eks.aws), so C(module_defaults) for
    C(group/spotflow.eks.aws) sets the region, endpoint and credentials.
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Read-only, so it runs and reports real data in check mode.
  diff_mode:
    support: none
  platform:
    platforms: aws
"""

EXAMPLES = r"""
- name: Read the cluster
  spotflow.eks.eks_cluster_info:
    name: spotflow-dev
  register: cluster_info

- name: Fail unless the cluster is ready
  ansible.builtin.assert:
    that:
      - cluster_info.exists
      - cluster_info.cluster.status == 'ACTIVE'
"""

RETURN = r"""
exists:
  description: Whether the cluster exists.
  returned: always
  type: bool
  sample: true
cluster:
  description:
    - The cluster as C(DescribeCluster) returns it, with snake_case keys (tag keys kept);
      see M(spotflow.eks.eks_cluster) for the fields. Empty when it does not exist.
  returned: always
  type: dict
  sample: {"name": "spotflow-dev", "status": "ACTIVE", "version": "1.35"}
nodegroups:
  description: Names of the cluster's managed node groups, sorted. Empty when the cluster does not exist.
  returned: when O(list_nodegroups=true)
  type: list
  elements: str
  sample: [ng-on-demand, ng-spot]
"""

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.spotflow.eks.plugins.module_utils.aws import is_not_found
from ansible_collections.spotflow.eks.plugins.module_utils.aws import to_result


def describe(client, name):
    """``(cluster or None, [node group names])``; not-found is not an error."""
    try:
        cluster = client.describe_cluster(aws_retry=True, name=name)["cluster"]
    except ClientError as e:
        if is_not_found(e):
            return None
        raise
    return cluster


def nodegroup_names(client, name):
    names = []
    kwargs = {}
    while True:
        try:
            page = client.list_nodegroups(aws_retry=True, clusterName=name, **kwargs)
        except ClientError as e:
            if is_not_found(e):
                return []
            raise
        names.extend(page.get("nodegroups") or [])
        if not page.get("nextToken"):
            return sorted(names)
        kwargs["nextToken"] = page["nextToken"]


def main():
    argument_spec = dict(
        name=dict(type="str", required=True),
        list_nodegroups=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    client = module.client("eks", retry_decorator=AWSRetry.jittered_backoff())
    name = module.params["name"]
    try:
        cluster = describe(client, name)
        result = dict(changed=False, exists=cluster is not None, cluster=to_result(cluster))
        if module.params["list_nodegroups"]:
            result["nodegroups"] = nodegroup_names(client, name) if cluster else []
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to read EKS cluster {0}".format(name))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
