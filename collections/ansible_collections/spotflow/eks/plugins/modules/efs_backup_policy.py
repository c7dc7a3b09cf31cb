#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: efs_backup_policy
version_added: 0.1.0
short_description: Turn automatic backups of an Amazon EFS file system on or off
description:
  - Sets the backup policy of an EFS file system (C(PutBackupPolicy)), which
    enables or disables automatic backups with AWS Backup.
  - No collection has a module for it; M(community.aws.efs) does not manage the
    backup policy.
  - A file system without a backup policy (C(PolicyNotFound)) counts as C(DISABLED).
options:
  file_system_id:
    description: ID of the file system.
    type: str
    required: true
  enabled:
    description: Whether automatic backups are on.
    type: bool
    required: true
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
author:
  - Spotflow maintainers (@spotflow)
"""

EXAMPLES = r"""
- name: Turn on automatic backups
  spotflow.eks.efs_backup_policy:
    file_system_id: fs-0123456789abcdef0
    enabled: true
"""

RETURN = r"""
status:
  description: Backup policy status after the task (C(ENABLED), C(DISABLED), ...); predicted in check mode.
  returned: always
  type: str
  sample: ENABLED
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def current_status(module, client):
    try:
        return client.describe_backup_policy(aws_retry=True, FileSystemId=module.params["file_system_id"])["BackupPolicy"]["Status"]
    except is_boto3_error_code("PolicyNotFound"):
        return "DISABLED"
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="Failed to describe the backup policy of {0}".format(module.params["file_system_id"]))


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            file_system_id=dict(type="str", required=True),
            enabled=dict(type="bool", required=True),
        ),
        supports_check_mode=True,
    )
    client = module.client("efs", retry_decorator=AWSRetry.jittered_backoff())
    before = current_status(module, client)
    wanted = "ENABLED" if module.params["enabled"] else "DISABLED"
    # ENABLING / DISABLING are transitions towards ENABLED / DISABLED
    settled = {"ENABLING": "ENABLED", "DISABLING": "DISABLED"}.get(before, before)
    changed = settled != wanted
    result = dict(changed=changed, status=wanted if changed else before)
    if module._diff:
        result["diff"] = dict(before=dict(status=before), after=dict(status=result["status"]))
    if changed and not module.check_mode:
        try:
            response = client.put_backup_policy(
                aws_retry=True, FileSystemId=module.params["file_system_id"], BackupPolicy=dict(Status=wanted)
            )
            result["status"] = response["BackupPolicy"]["Status"]
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="Failed to set the backup policy of {0} to {1}".format(module.params["file_system_id"], wanted))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
