#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: localcloud_gp3_baseline
short_description: Make the local cloud report a gp3 DB instance's baseline IOPS and throughput (test shim)
description:
  - AWS reports C(Iops) and C(StorageThroughput) for every gp3 DB instance (3000 and 125
    below 400 GiB). moto 5.2.5 omits both unless they were set, and
    M(amazon.aws.rds_instance) then fails on every later run with C(KeyError 'StorageThroughput').
  - This shim sets the two values AWS would report, through C(ModifyDBInstance), on the
    local cloud only. Remove it once the local cloud's moto patches report them.
  - Never run it against AWS (it refuses without O(endpoint_url)).
options:
  db_instance_identifier:
    description: The instance.
    type: str
    required: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - Spotflow maintainers
"""

RETURN = r"""
storage_throughput:
  description: C(StorageThroughput) the instance reports afterwards.
  returned: always
  type: int
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule


def main():
    module = AnsibleAWSModule(argument_spec=dict(db_instance_identifier=dict(type="str", required=True)), supports_check_mode=True)
    if not module.params.get("endpoint_url"):
        module.fail_json(msg="localcloud_gp3_baseline only runs against the local cloud (endpoint_url)")
    client = module.client("rds")
    ident = module.params["db_instance_identifier"]
    try:
        instances = client.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"]
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") == "DBInstanceNotFound":
            module.exit_json(changed=False, storage_throughput=None)
        module.fail_json_aws(e, msg="describe_db_instances failed")
    instance = instances[0]
    if instance.get("StorageType") != "gp3" or "StorageThroughput" in instance:
        module.exit_json(changed=False, storage_throughput=instance.get("StorageThroughput"))
    if not module.check_mode:
        try:
            client.modify_db_instance(DBInstanceIdentifier=ident, StorageThroughput=125, Iops=3000, ApplyImmediately=True)
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="modify_db_instance failed")
    module.exit_json(changed=True, storage_throughput=125)


if __name__ == "__main__":
    main()
