#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: eks_nodegroup_info
version_added: 0.1.0
short_description: Describe the managed node groups of an Amazon EKS cluster
description:
  - Lists the managed node groups of a cluster (or takes the names given) and
    describes each (C(DescribeNodegroup)), without changing anything.
  - This module exists because neither C(amazon.aws) nor C(community.aws) has an
    EKS node group info module; Spotflow's verification compares what EKS holds
    (labels, taints, capacity type, sizes) with the Kubernetes nodes.
  - A cluster that does not exist gives an empty list, so it also works in check
    mode on an empty account.
author:
  - Spotflow maintainers (@spotflow)
options:
  cluster_name:
    description: Name of the EKS cluster.
    type: str
    required: true
  names:
    description: Node groups to describe; all of the cluster's when left out.
    type: list
    elements: str
notes:
  - Member of the action group C(spotflow.eks.aws).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
attributes:
  check_mode:
    description: Read-only; runs and reports real data in check mode.
    support: full
  diff_mode:
    description: Nothing is changed, so there is nothing to show.
    support: none
"""

EXAMPLES = r"""
- name: Describe every node group of the cluster
  spotflow.eks.eks_nodegroup_info:
    cluster_name: spotflow
  register: groups

- name: Show the Spot groups
  ansible.builtin.debug:
    msg: "{{ groups.nodegroups | selectattr('capacity_type', 'equalto', 'SPOT') | map(attribute='nodegroup_name') }}"
"""

RETURN = r"""
nodegroups:
  description:
    - The node groups as C(DescribeNodegroup) returns them, snake_cased
      (label and tag keys kept), sorted by name.
  returned: always
  type: list
  elements: dict
  sample: [{"nodegroup_name": "ng-spot", "capacity_type": "SPOT", "instance_types": ["m7i.xlarge"],
            "labels": {"lifecycle": "Ec2Spot"}, "taints": [{"key": "spotInstance", "value": "true",
            "effect": "PREFER_NO_SCHEDULE"}], "scaling_config": {"min_size": 0, "max_size": 10, "desired_size": 2}}]
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.spotflow.eks.plugins.module_utils.aws import is_not_found


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(cluster_name=dict(type="str", required=True), names=dict(type="list", elements="str")),
        supports_check_mode=True,
    )
    eks = module.client("eks", retry_decorator=AWSRetry.jittered_backoff())
    cluster = module.params["cluster_name"]
    try:
        names = module.params["names"]
        if names is None:
            names = []
            paginator = eks.get_paginator("list_nodegroups")
            for page in paginator.paginate(clusterName=cluster):
                names += page["nodegroups"]
        groups = []
        for name in sorted(names):
            try:
                ng = eks.describe_nodegroup(aws_retry=True, clusterName=cluster, nodegroupName=name)["nodegroup"]
            except ClientError as e:
                if is_not_found(e):
                    continue
                raise
            groups.append(camel_dict_to_snake_dict(ng, ignore_list=["labels", "tags"]))
    except ClientError as e:
        if is_not_found(e):
            module.exit_json(changed=False, nodegroups=[])
        module.fail_json_aws(e, msg="Failed to describe the node groups of cluster {0}".format(cluster))
    except BotoCoreError as e:
        module.fail_json_aws(e, msg="Failed to describe the node groups of cluster {0}".format(cluster))
    module.exit_json(changed=False, nodegroups=groups)


if __name__ == "__main__":
    main()
