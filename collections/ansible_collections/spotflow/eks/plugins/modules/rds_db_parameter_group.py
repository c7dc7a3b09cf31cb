#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: rds_db_parameter_group
version_added: 0.1.0
short_description: Create, update and delete an RDS DB parameter group
description:
  - Manages one DB parameter group, the parameters listed in O(parameters) and its tags.
  - Parameters not listed are left alone. Dynamic parameters are applied at once,
    static ones at the next reboot (C(ApplyMethod) from the parameter's C(ApplyType)).
  - It exists because M(amazon.aws.rds_instance_param_group) (11.4.0) does not fail on a
    parameter it cannot find in C(DescribeDBParameters); it returns the problem in
    C(errors) with C(changed=false) and leaves the parameter unset, so a play that
    asks for C(rds.force_ssl=1) would pass with SSL not enforced. It also treats an
    empty C(DescribeDBParameterGroups) answer as an existing group and fails with
    C(list index out of range) (moto 5.2.5 answers so for an unknown name; this
    module accepts that and AWS's C(DBParameterGroupNotFound)).
options:
  name:
    description: Name of the DB parameter group.
    type: str
    required: true
  state:
    description: C(present) creates or updates the group; C(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  family:
    description: DB parameter group family, e.g. C(postgres17). Required with O(state=present); fixed at creation.
    type: str
  description:
    description: Description, set at creation.
    type: str
  parameters:
    description: Parameter names and values (compared as strings).
    type: dict
    default: {}
  tags:
    description: Tags of the group.
    type: dict
  purge_tags:
    description: Remove tags not in O(tags) (tags starting with C(aws:) are never touched).
    type: bool
    default: true
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
- name: PostgreSQL 17 parameters forcing SSL
  spotflow.eks.rds_db_parameter_group:
    name: spotflow-dev-airflow-postgres17
    family: postgres17
    description: Airflow's PostgreSQL, SSL only
    parameters:
      rds.force_ssl: 1
    tags:
      spotflow:cluster: spotflow-dev
"""

RETURN = r"""
parameter_group:
  description: The group; empty after O(state=absent). In check mode, the predicted group.
  returned: always
  type: dict
  contains:
    name:
      description: Name.
      type: str
    arn:
      description: ARN (empty when check mode predicts a creation).
      type: str
    family:
      description: Family.
      type: str
    parameters:
      description: Current values of the managed parameters.
      type: dict
    tags:
      description: Tags.
      type: dict
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.amazon.aws.plugins.module_utils.tagging import compare_aws_tags

MAX_PARAMETERS_PER_CALL = 20


def get_group(module, client):
    name = module.params["name"]
    try:
        groups = client.describe_db_parameter_groups(aws_retry=True, DBParameterGroupName=name)["DBParameterGroups"]
    except is_boto3_error_code("DBParameterGroupNotFound"):
        return None
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="Failed to describe DB parameter group {0}".format(name))
    groups = [g for g in groups if g.get("DBParameterGroupName") == name]
    return groups[0] if groups else None


def get_parameters(module, client, name):
    try:
        paginator = client.get_paginator("describe_db_parameters")
        pages = paginator.paginate(DBParameterGroupName=name).build_full_result()
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to describe the parameters of DB parameter group {0}".format(name))
    return dict((p["ParameterName"], p) for p in pages.get("Parameters", []))


def get_tags(module, client, arn):
    try:
        return boto3_tag_list_to_ansible_dict(client.list_tags_for_resource(aws_retry=True, ResourceName=arn)["TagList"])
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to list the tags of {0}".format(arn))


def ensure_absent(module, client):
    group = get_group(module, client)
    if group is None:
        return dict(changed=False, parameter_group={})
    result = dict(changed=True, parameter_group={})
    if module._diff:
        result["diff"] = dict(before=dict(name=group["DBParameterGroupName"]), after={})
    if not module.check_mode:
        try:
            client.delete_db_parameter_group(aws_retry=True, DBParameterGroupName=group["DBParameterGroupName"])
        except is_boto3_error_code("DBParameterGroupNotFound"):
            pass
        except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
            module.fail_json_aws(e, msg="Failed to delete DB parameter group {0}".format(group["DBParameterGroupName"]))
    return result


def ensure_present(module, client):
    params = module.params
    name = params["name"]
    desired = dict((k, str(v)) for k, v in (params["parameters"] or {}).items())
    group = get_group(module, client)
    changed = False
    before = dict(name=name, family=None, parameters={}, tags={})

    if group is None:
        changed = True
        if module.check_mode:
            after = dict(name=name, arn="", family=params["family"], parameters=desired, tags=params["tags"] or {})
            result = dict(changed=True, parameter_group=after)
            if module._diff:
                result["diff"] = dict(before=before, after=after)
            return result
        create = dict(
            DBParameterGroupName=name,
            DBParameterGroupFamily=params["family"],
            Description=params["description"] or name,
        )
        if params["tags"]:
            create["Tags"] = ansible_dict_to_boto3_tag_list(params["tags"])
        try:
            group = client.create_db_parameter_group(aws_retry=True, **create)["DBParameterGroup"]
        except (BotoCoreError, ClientError) as e:
            module.fail_json_aws(e, msg="Failed to create DB parameter group {0}".format(name))
    elif group["DBParameterGroupFamily"] != params["family"]:
        module.fail_json(
            msg="DB parameter group {0} has family {1}, not {2}; the family cannot change: use another name".format(
                name, group["DBParameterGroupFamily"], params["family"]
            )
        )

    arn = group["DBParameterGroupArn"]
    current = get_parameters(module, client, name)
    before["family"] = group["DBParameterGroupFamily"]
    before["parameters"] = dict((k, current[k].get("ParameterValue")) for k in desired if k in current)

    updates = []
    for key, value in sorted(desired.items()):
        found = current.get(key, {})
        if found.get("ParameterValue") != value:
            method = "pending-reboot" if found.get("ApplyType") == "static" else "immediate"
            updates.append(dict(ParameterName=key, ParameterValue=value, ApplyMethod=method))
    if updates:
        changed = True
        if not module.check_mode:
            for start in range(0, len(updates), MAX_PARAMETERS_PER_CALL):
                try:
                    client.modify_db_parameter_group(
                        aws_retry=True, DBParameterGroupName=name, Parameters=updates[start:start + MAX_PARAMETERS_PER_CALL]
                    )
                except (BotoCoreError, ClientError) as e:
                    module.fail_json_aws(e, msg="Failed to set parameters of DB parameter group {0}".format(name))

    tags = get_tags(module, client, arn)
    before["tags"] = tags
    after_tags = tags
    if params["tags"] is not None:
        to_add, to_remove = compare_aws_tags(tags, params["tags"], params["purge_tags"])
        if to_add or to_remove:
            changed = True
            after_tags = dict((k, v) for k, v in tags.items() if k not in to_remove)
            after_tags.update(to_add)
            if not module.check_mode:
                try:
                    if to_remove:
                        client.remove_tags_from_resource(aws_retry=True, ResourceName=arn, TagKeys=to_remove)
                    if to_add:
                        client.add_tags_to_resource(aws_retry=True, ResourceName=arn, Tags=ansible_dict_to_boto3_tag_list(to_add))
                except (BotoCoreError, ClientError) as e:
                    module.fail_json_aws(e, msg="Failed to tag DB parameter group {0}".format(name))

    after = dict(name=name, arn=arn, family=group["DBParameterGroupFamily"], parameters=dict(before["parameters"], **desired), tags=after_tags)
    result = dict(changed=changed, parameter_group=after)
    if module._diff:
        result["diff"] = dict(before=before, after=after)
    return result


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            family=dict(type="str"),
            description=dict(type="str"),
            parameters=dict(type="dict", default={}),
            tags=dict(type="dict"),
            purge_tags=dict(type="bool", default=True),
        ),
        required_if=[["state", "present", ["family"]]],
        supports_check_mode=True,
    )
    client = module.client("rds", retry_decorator=AWSRetry.jittered_backoff())
    if module.params["state"] == "absent":
        module.exit_json(**ensure_absent(module, client))
    module.exit_json(**ensure_present(module, client))


if __name__ == "__main__":
    main()
