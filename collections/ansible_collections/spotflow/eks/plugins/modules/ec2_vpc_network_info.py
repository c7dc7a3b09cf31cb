#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ec2_vpc_network_info
version_added: 0.1.0
short_description: One read of a VPC and its network (zones, internet gateway, subnets, NAT gateways, route tables)
description:
  - Read-only. Finds the VPC by its C(Name) tag and primary CIDR block, the way
    M(amazon.aws.ec2_vpc_net) identifies it, and returns in one result what a
    role needs to decide what to converge in it. The Availability Zones of the
    region; the VPC with its DNS attributes; the internet gateways attached to
    it; its subnets; its NAT gateways that are C(pending) or C(available); and
    its route tables that carry every tag in O(route_table_tags).
  - Each list has the shape the matching amazon.aws info module returns
    (snake_case keys, tags as a dictionary, C(id) beside the resource ID), so
    filters written for those modules read it unchanged.
  - Without a matching VPC, or with more than one (which M(amazon.aws.ec2_vpc_net)
    refuses), every list that belongs to a VPC is empty.
  - Why it exists. A converged network read with amazon.aws takes six module
    runs (M(amazon.aws.aws_az_info), M(amazon.aws.ec2_vpc_net),
    M(amazon.aws.ec2_vpc_igw), M(amazon.aws.ec2_vpc_subnet_info),
    M(amazon.aws.ec2_vpc_nat_gateway_info), M(amazon.aws.ec2_vpc_route_table_info)).
    Each run costs about as much as its AWS calls, because every run starts Python
    and imports botocore again. One read lets a re-run call the converging
    modules only where something differs.
author:
  - Spotflow maintainers (@spotflow)
options:
  name:
    description: The VPC's C(Name) tag.
    type: str
    required: true
  cidr_block:
    description: The VPC's primary IPv4 CIDR block.
    type: str
    required: true
  availability_zone_filters:
    description:
      - Filters for C(DescribeAvailabilityZones), as M(amazon.aws.aws_az_info) takes them
        (C(state), C(zone-type), ...).
    type: dict
    default: {}
  route_table_tags:
    description: Only route tables with all of these tags (and values).
    type: dict
    default: {}
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
  platform:
    description: Talks to the AWS EC2 API.
    support: full
    platforms: aws
"""

EXAMPLES = r"""
- name: Read the network of the VPC spotflow-dev
  spotflow.eks.ec2_vpc_network_info:
    name: spotflow-dev
    cidr_block: 10.42.0.0/16
    availability_zone_filters:
      state: available
      zone-type: availability-zone
    route_table_tags:
      spotflow:component: eks_cluster
  register: network

- name: The private subnets
  ansible.builtin.debug:
    msg: "{{ network.subnets | rejectattr('map_public_ip_on_launch') | map(attribute='id') | list }}"
"""

RETURN = r"""
availability_zones:
  description: The region's Availability Zones, as M(amazon.aws.aws_az_info) returns them.
  returned: always
  type: list
  elements: dict
  sample: [{"zone_name": "us-east-1a", "zone_id": "use1-az1", "state": "available"}]
vpcs:
  description:
    - The VPCs with that C(Name) tag and CIDR block (one, normally), with C(id), tags as a dictionary
      and the booleans C(enable_dns_support) and C(enable_dns_hostnames).
  returned: always
  type: list
  elements: dict
  sample: [{"id": "vpc-0123456789abcdef0", "cidr_block": "10.42.0.0/16", "enable_dns_hostnames": true,
            "enable_dns_support": true, "tags": {"Name": "spotflow-dev"}}]
internet_gateways:
  description: The internet gateways attached to the VPC, with C(id) and tags as a dictionary.
  returned: always
  type: list
  elements: dict
  sample: [{"id": "igw-0123456789abcdef0", "attachments": [{"state": "available", "vpc_id": "vpc-0123456789abcdef0"}]}]
subnets:
  description: The subnets of the VPC, as M(amazon.aws.ec2_vpc_subnet_info) returns them.
  returned: always
  type: list
  elements: dict
  sample: [{"id": "subnet-0123456789abcdef0", "cidr_block": "10.42.0.0/19", "availability_zone": "us-east-1a"}]
nat_gateways:
  description: The NAT gateways of the VPC that are C(pending) or C(available), with tags as a dictionary.
  returned: always
  type: list
  elements: dict
  sample: [{"nat_gateway_id": "nat-0123456789abcdef0", "subnet_id": "subnet-0123456789abcdef0", "state": "available"}]
route_tables:
  description:
    - The VPC's route tables with every tag of O(route_table_tags), as
      M(amazon.aws.ec2_vpc_route_table_info) returns them (C(id), routes and associations snake_case),
      without what that module adds to each route (C(interface_id), and C(null) for every target a route lacks).
  returned: always
  type: list
  elements: dict
  sample: [{"id": "rtb-0123456789abcdef0", "routes": [{"destination_cidr_block": "0.0.0.0/0", "gateway_id": "igw-0123"}]}]
"""

try:
    from botocore.exceptions import BotoCoreError, ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict
from ansible_collections.amazon.aws.plugins.module_utils.transformation import ansible_dict_to_boto3_filter_list


def _snake(resource, id_key=None):
    """snake_case keys, tags as a dict, and ``id`` beside the resource ID (as the amazon.aws info modules)."""
    out = camel_dict_to_snake_dict(dict((k, v) for k, v in resource.items() if k != "Tags"))
    out["tags"] = boto3_tag_list_to_ansible_dict(resource.get("Tags") or [])
    if id_key:
        out["id"] = resource[id_key]
    return out


def _all(client, operation, key, **kwargs):
    items = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page.get(key) or [])
    return items


def read_network(client, name, cidr_block, zone_filters=None, route_table_tags=None):
    """Everything the module returns, read with one client."""
    zones = client.describe_availability_zones(Filters=ansible_dict_to_boto3_filter_list(zone_filters or {}))
    result = dict(availability_zones=[camel_dict_to_snake_dict(z) for z in zones.get("AvailabilityZones") or []],
                  vpcs=[], internet_gateways=[], subnets=[], nat_gateways=[], route_tables=[])
    vpcs = _all(client, "describe_vpcs", "Vpcs",
                Filters=ansible_dict_to_boto3_filter_list({"tag:Name": name, "cidr-block": cidr_block}))
    for vpc in vpcs:
        found = _snake(vpc, "VpcId")
        for attribute, key in (("enableDnsSupport", "enable_dns_support"), ("enableDnsHostnames", "enable_dns_hostnames")):
            answer = client.describe_vpc_attribute(VpcId=vpc["VpcId"], Attribute=attribute)
            found[key] = bool((answer.get(attribute[0].upper() + attribute[1:]) or {}).get("Value"))
        result["vpcs"].append(found)
    if len(vpcs) != 1:
        return result
    in_vpc = [{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]}]
    igws = _all(client, "describe_internet_gateways", "InternetGateways",
                Filters=[{"Name": "attachment.vpc-id", "Values": [vpcs[0]["VpcId"]]}])
    result["internet_gateways"] = [_snake(g, "InternetGatewayId") for g in igws]
    result["subnets"] = [_snake(s, "SubnetId") for s in _all(client, "describe_subnets", "Subnets", Filters=in_vpc)]
    nats = _all(client, "describe_nat_gateways", "NatGateways", Filter=in_vpc)
    result["nat_gateways"] = [_snake(n) for n in nats if n.get("State") in ("pending", "available")]
    table_filters = in_vpc + ansible_dict_to_boto3_filter_list(dict(("tag:" + k, v) for k, v in (route_table_tags or {}).items()))
    tables = _all(client, "describe_route_tables", "RouteTables", Filters=table_filters)
    result["route_tables"] = [_route_table(t) for t in tables]
    return result


def _route_table(table):
    out = _snake(table, "RouteTableId")
    for assoc in out.get("associations") or []:
        assoc["id"] = assoc.get("route_table_association_id")
    return out


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            cidr_block=dict(type="str", required=True),
            availability_zone_filters=dict(type="dict", default={}),
            route_table_tags=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    ec2 = module.client("ec2", retry_decorator=AWSRetry.jittered_backoff())
    p = module.params
    try:
        result = read_network(ec2, p["name"], p["cidr_block"], p["availability_zone_filters"], p["route_table_tags"])
    except (BotoCoreError, ClientError) as e:
        module.fail_json_aws(e, msg="Failed to read the VPC {0} ({1}) and its network".format(p["name"], p["cidr_block"]))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
