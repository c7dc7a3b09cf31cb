#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: autoscaling_group_tags
version_added: 0.1.0
short_description: Set the tags of an existing Auto Scaling group, and nothing else
description:
  - Adds, updates and (by key prefix) removes tags of an existing Auto Scaling
    group with C(CreateOrUpdateTags) and C(DeleteTags). It never touches the
    group's size, launch template, mixed instances policy, health checks,
    suspended processes or metrics.
  - Written for the Auto Scaling group behind an EKS managed node group, whose
    C(k8s.io/cluster-autoscaler/node-template/...) tags tell the
    cluster-autoscaler what a node of an empty (size 0) group would look like.
  - Why not M(amazon.aws.autoscaling_group)? Given only O(tags), it still calls
    C(UpdateAutoScalingGroup) with its own defaults (health check grace period,
    cooldown, termination policies), resumes suspended processes, and crashes
    with C(KeyError 'LaunchTemplate') on a group that uses a mixed instances
    policy, as every EKS managed node group does, after it has already changed
    the tags. In check mode it always reports a change.
author:
  - Spotflow maintainers (@spotflow)
options:
  name:
    description: Name of the Auto Scaling group.
    type: str
    required: true
  tags:
    description:
      - Tags the group must carry. Other tags are left alone, except those
        matched by O(purge_prefixes).
    type: dict
    required: true
  purge_prefixes:
    description:
      - Remove tags whose key starts with one of these prefixes and that are not
        in O(tags). For example C(k8s.io/cluster-autoscaler/node-template/)
        removes the node-template tags of labels and taints that were dropped.
    type: list
    elements: str
    default: []
  propagate_at_launch:
    description: Whether the tags in O(tags) are copied to instances the group launches.
    type: bool
    default: false
notes:
  - Member of the action group C(spotflow.eks.aws).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: aws
"""

EXAMPLES = r"""
- name: Tell the cluster-autoscaler what a node of this empty group looks like
  spotflow.eks.autoscaling_group_tags:
    name: eks-spot-4vcpu16gb-1ac2b3c4
    tags:
      k8s.io/cluster-autoscaler/node-template/label/lifecycle: Ec2Spot
      k8s.io/cluster-autoscaler/node-template/taint/spotInstance: "true:PreferNoSchedule"
    purge_prefixes:
      - k8s.io/cluster-autoscaler/node-template/
"""

RETURN = r"""
tags:
  description: All tags of the group after the change (predicted in check mode).
  returned: always
  type: dict
  sample: {"eks:nodegroup-name": "spot", "k8s.io/cluster-autoscaler/node-template/label/lifecycle": "Ec2Spot"}
added:
  description: Keys that were (or would be) added or updated.
  returned: always
  type: list
  elements: str
removed:
  description: Keys that were (or would be) removed.
  returned: always
  type: list
  elements: str
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def plan(current, desired, purge_prefixes, propagate):
    """``(to_set, to_remove)``: tags to create or update, and keys to delete.

    ``current`` maps key -> (value, propagate_at_launch)."""
    to_set = dict(
        (key, value) for key, value in desired.items()
        if current.get(key) != (value, propagate)
    )
    to_remove = sorted(
        key for key in current
        if key not in desired and any(key.startswith(prefix) for prefix in purge_prefixes)
    )
    return to_set, to_remove


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            tags=dict(type="dict", required=True),
            purge_prefixes=dict(type="list", elements="str", default=[]),
            propagate_at_launch=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    name = module.params["name"]
    propagate = module.params["propagate_at_launch"]
    desired = dict((str(k), "" if v is None else str(v)) for k, v in module.params["tags"].items())
    purge_prefixes = [p for p in module.params["purge_prefixes"] if p]
    client = module.client("autoscaling", retry_decorator=AWSRetry.jittered_backoff())

    try:
        groups = client.describe_auto_scaling_groups(aws_retry=True, AutoScalingGroupNames=[name])["AutoScalingGroups"]
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to describe Auto Scaling group {0}".format(name))
    if not groups:
        module.fail_json(msg="Auto Scaling group {0} not found".format(name))

    current = dict((t["Key"], (t.get("Value", ""), bool(t.get("PropagateAtLaunch")))) for t in groups[0].get("Tags") or [])
    to_set, to_remove = plan(current, desired, purge_prefixes, propagate)
    after = dict((k, v[0]) for k, v in current.items() if k not in to_remove)
    after.update(to_set)
    changed = bool(to_set or to_remove)
    result = dict(changed=changed, tags=after, added=sorted(to_set), removed=to_remove)
    if module._diff:
        touched = set(to_set) | set(to_remove)
        result["diff"] = dict(
            before=dict((k, current[k][0]) for k in sorted(touched) if k in current),
            after=dict((k, after[k]) for k in sorted(touched) if k in after),
        )
    if module.check_mode or not changed:
        module.exit_json(**result)

    resource = dict(ResourceId=name, ResourceType="auto-scaling-group")
    try:
        if to_remove:
            client.delete_tags(aws_retry=True, Tags=[dict(resource, Key=k) for k in to_remove])
        if to_set:
            client.create_or_update_tags(
                aws_retry=True,
                Tags=[dict(resource, Key=k, Value=v, PropagateAtLaunch=propagate) for k, v in sorted(to_set.items())],
            )
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to update the tags of Auto Scaling group {0}".format(name))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
