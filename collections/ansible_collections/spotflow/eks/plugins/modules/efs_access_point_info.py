#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: efs_access_point_info
version_added: 0.1.0
short_description: Find Amazon EFS access points by file system and tags
description:
  - Read-only. Lists the access points of one EFS file system, or of the whole
    account, that carry every tag in O(tags). Access points being deleted are left out.
  - Neither amazon.aws nor community.aws can read access points (C(community.aws.efs_info)
    returns file systems and mount targets only). A role that runs alone uses this
    module to find the access points an earlier role created.
author:
  - Spotflow maintainers (@spotflow)
options:
  file_system_id:
    description:
      - ID of the file system. Left out, every access point of the account and region.
    type: str
  tags:
    description:
      - Only access points with all of these tags (and values).
    type: dict
    default: {}
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
    support: N/A
  platform:
    platforms: aws
"""

EXAMPLES = r"""
- name: The access points efs_storage made for a cluster
  spotflow.eks.efs_access_point_info:
    tags:
      spotflow:cluster: spotflow-dev
      spotflow:component: efs_storage
  register: found

- name: Their IDs by purpose (the spotflow:access-point tag)
  ansible.builtin.debug:
    msg: "{{ found.access_points | items2dict(key_name='name', value_name='access_point_id') }}"
"""

RETURN = r"""
access_points:
  description:
    - The access points found, sorted by C(Name) tag, as C(DescribeAccessPoints) returns
      them with snake_case keys and tags as a dictionary (the shape of
      M(spotflow.eks.efs_access_point)'s RV(spotflow.eks.efs_access_point#module:access_point)).
  returned: always
  type: list
  elements: dict
  sample:
    - access_point_id: fsap-0123456789abcdef0
      file_system_id: fs-0123456789abcdef0
      name: spotflow-dev-dags
      life_cycle_state: available
      root_directory: {"path": "/airflow/dags"}
      tags: {"Name": "spotflow-dev-dags", "spotflow:cluster": "spotflow-dev"}
"""

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.spotflow.eks.plugins.module_utils.aws import is_not_found
from ansible_collections.spotflow.eks.plugins.module_utils.aws import tags_to_str
from ansible_collections.spotflow.eks.plugins.module_utils.efs import access_point_to_result
from ansible_collections.spotflow.eks.plugins.module_utils.efs import list_access_points
from ansible_collections.spotflow.eks.plugins.module_utils.efs import tags_of


def matching(access_points, tags):
    wanted = (tags_to_str(tags) or {}).items()
    found = [ap for ap in access_points if wanted <= tags_of(ap).items()]
    return sorted((access_point_to_result(ap) for ap in found), key=lambda ap: (ap.get("name") or "", ap["access_point_id"]))


def main():
    argument_spec = dict(
        file_system_id=dict(type="str"),
        tags=dict(type="dict", default={}),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    client = module.client("efs", retry_decorator=AWSRetry.jittered_backoff())
    try:
        access_points = list_access_points(client, module.params.get("file_system_id"))
    except (BotoCoreError, ClientError) as e:
        if not is_not_found(e, ("FileSystemNotFound",)):  # FileSystemNotFound: a file system that is gone has no access points
            module.fail_json_aws(e, msg="Failed to list EFS access points")
        access_points = []
    module.exit_json(changed=False, access_points=matching(access_points, module.params["tags"]))


if __name__ == "__main__":
    main()
