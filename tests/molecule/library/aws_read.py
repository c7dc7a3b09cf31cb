#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: aws_read
short_description: Call one read-only AWS API operation (test helper for molecule verify)
description:
  - Calls C(Describe*), C(List*) or C(Get*) operations for which no C(*_info)
    module exists or where the raw answer is what a test checks (EFS access points
    in every state, backup and lifecycle policies, EKS add-ons) and
    returns the response. Refuses any other operation. Test-only helper of the
    molecule scenarios; never used by the roles.
  - A missing resource (an error code ending in C(NotFound) or C(NotFoundException))
    is returned as O(not_found=true) instead of a failure.
options:
  service:
    description: boto3 service name, e.g. C(efs).
    type: str
    required: true
  operation:
    description: boto3 method name, e.g. C(describe_access_points).
    type: str
    required: true
  parameters:
    description: Keyword arguments of the call.
    type: dict
    default: {}
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - Spotflow maintainers
"""

RETURN = r"""
response:
  description: The response without C(ResponseMetadata); empty when not found.
  returned: always
  type: dict
not_found:
  description: Whether AWS answered that the resource does not exist.
  returned: always
  type: bool
"""

import json

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            service=dict(type="str", required=True),
            operation=dict(type="str", required=True),
            parameters=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    operation = module.params["operation"]
    if not operation.startswith(("describe_", "list_", "get_")):
        module.fail_json(msg="aws_read only calls describe_*, list_* and get_* operations, not {0}".format(operation))
    client = module.client(module.params["service"])
    try:
        response = getattr(client, operation)(**module.params["parameters"])
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        if code.endswith(("NotFound", "NotFoundException", "NotFoundFault")):
            module.exit_json(changed=False, response={}, not_found=True)
        module.fail_json_aws(e, msg="{0}.{1} failed".format(module.params["service"], operation))
    except BotoCoreError as e:
        module.fail_json_aws(e, msg="{0}.{1} failed".format(module.params["service"], operation))
    response.pop("ResponseMetadata", None)
    # datetimes and other non-JSON values become strings
    module.exit_json(changed=False, response=json.loads(json.dumps(response, default=str)), not_found=False)


if __name__ == "__main__":
    main()
