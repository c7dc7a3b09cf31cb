#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ec2_instance_type_offering_info
version_added: 0.1.0
short_description: Where EC2 offers instance types (region, Availability Zones or zone IDs)
description:
  - Read-only. Lists the offerings of EC2 C(DescribeInstanceTypeOfferings) for the O(instance_types)
    given, per region, Availability Zone (name) or zone ID, optionally only in O(locations).
  - An instance type offered in the region can still be missing in one of its zones. EKS then refuses
    a managed node group whose subnets lie in such a zone (C(CreateNodegroup) answers
    C(InvalidRequestException) "Your requested instance type ... is not supported in your requested
    Availability Zone"), late in a run; this module lets a play find that out first (with the
    collection's filter C(spotflow.eks.instance_type_zone_errors)).
author:
  - Spotflow maintainers (@spotflow)
options:
  instance_types:
    description:
      - Instance type names (C(m7i.large)); wildcards as EC2's C(instance-type) filter takes them.
        Left out, every instance type (thousands of offerings per region).
    type: list
    elements: str
  location_type:
    description:
      - What a location is. C(availability-zone) gives zone names (C(us-east-1a)), which differ per
        account for the same physical zone; C(availability-zone-id) gives zone IDs (C(use1-az1)), the
        same in every account.
    type: str
    choices: [region, availability-zone, availability-zone-id]
    default: availability-zone
  locations:
    description:
      - Only these locations (region name, zone names or zone IDs, as O(location_type) says).
        Each is a key of RV(by_location), also when nothing is offered there.
    type: list
    elements: str
notes:
  - Member of the action group C(spotflow.eks.aws).
  - This module exists because neither C(amazon.aws) nor C(community.aws) has a module for
    C(DescribeInstanceTypeOfferings); M(amazon.aws.ec2_instance_type_info) describes instance types
    but not where they are offered.
  - A name that is no instance type is simply not offered anywhere (EC2 does not refuse it).
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
- name: Where are the node group's instance types offered, by zone?
  spotflow.eks.ec2_instance_type_offering_info:
    instance_types: [m7i.xlarge, m6i.xlarge]
    location_type: availability-zone
    locations: [us-east-1a, us-east-1b, us-east-1e]
  register: offered

- name: Types missing in us-east-1e
  ansible.builtin.debug:
    msg: "{{ ['m7i.xlarge', 'm6i.xlarge'] | difference(offered.by_location['us-east-1e']) }}"

- name: The same by zone ID, the same in every account
  spotflow.eks.ec2_instance_type_offering_info:
    instance_types: [m7i.large]
    location_type: availability-zone-id
  register: offered_by_id
"""

RETURN = r"""
offerings:
  description: One entry per instance type and location where it is offered, sorted by location, then type.
  returned: always
  type: list
  elements: dict
  contains:
    instance_type:
      description: Instance type name.
      type: str
    location:
      description: The region, zone name or zone ID (as O(location_type) asked).
      type: str
    location_type:
      description: O(location_type).
      type: str
  sample: [{"instance_type": "m7i.large", "location": "us-east-1a", "location_type": "availability-zone"}]
by_location:
  description:
    - Instance types offered, sorted, by location. With O(locations), every location given is a key
      (an empty list where none of the types is offered).
  returned: always
  type: dict
  sample: {"us-east-1a": ["m6i.xlarge", "m7i.xlarge"], "us-east-1e": ["m6i.xlarge"]}
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry


def offering_filters(instance_types, locations):
    """``Filters`` for DescribeInstanceTypeOfferings (none for what is left out)."""
    filters = []
    if instance_types is not None:
        filters.append({"Name": "instance-type", "Values": list(instance_types)})
    if locations is not None:
        filters.append({"Name": "location", "Values": list(locations)})
    return filters


def read_offerings(client, location_type, instance_types=None, locations=None):
    """Every offering, all pages, as snake_case dicts sorted by location and type."""
    if (instance_types is not None and not instance_types) or (locations is not None and not locations):
        return []  # an empty filter would match everything
    kwargs = dict(LocationType=location_type)
    filters = offering_filters(instance_types, locations)
    if filters:
        kwargs["Filters"] = filters
    seen = set()
    paginator = client.get_paginator("describe_instance_type_offerings")
    for page in paginator.paginate(**kwargs):
        for o in page.get("InstanceTypeOfferings") or []:
            seen.add((o["Location"], o["InstanceType"], o.get("LocationType", location_type)))
    return [dict(instance_type=t, location=loc, location_type=lt) for loc, t, lt in sorted(seen)]


def by_location(offerings, locations=None):
    """``{location: [types]}``; every one of ``locations`` is a key."""
    result = dict((loc, []) for loc in locations or [])
    for o in offerings:
        result.setdefault(o["location"], []).append(o["instance_type"])
    return dict((loc, sorted(set(types))) for loc, types in result.items())


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            instance_types=dict(type="list", elements="str"),
            location_type=dict(type="str", default="availability-zone",
                               choices=["region", "availability-zone", "availability-zone-id"]),
            locations=dict(type="list", elements="str"),
        ),
        supports_check_mode=True,
    )
    ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    p = module.params
    try:
        offerings = read_offerings(ec2, p["location_type"], p["instance_types"], p["locations"])
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to describe the instance type offerings ({0})".format(p["location_type"]))
    module.exit_json(changed=False, offerings=offerings, by_location=by_location(offerings, p["locations"]))


if __name__ == "__main__":
    main()
