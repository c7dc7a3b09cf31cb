"""Unit tests of spotflow.eks.ec2_vpc_network_info: the VPC found by Name tag and CIDR (as ec2_vpc_net finds it),
its DNS attributes, every list in the amazon.aws info modules' shape (snake_case, tags as a dict, ``id``), NAT
gateways that are gone left out, route tables filtered by tag, nothing inside a VPC read when there is not exactly
one, check mode, and API errors failing the task."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.spotflow.eks.plugins.modules import ec2_vpc_network_info as mod

TAGS = [{"Key": "Name", "Value": "spotflow"}, {"Key": "spotflow:component", "Value": "eks_cluster"}]
VPC = {"VpcId": "vpc-1", "CidrBlock": "10.42.0.0/16", "State": "available", "Tags": TAGS}


class FakeEC2:
    """The EC2 calls the module makes, answering with ``vpcs`` and what is inside vpc-1; every request kept.
    Paginated calls come back in pages of one item."""

    def __init__(self, vpcs=(VPC,), error=None):
        self.vpcs = list(vpcs)
        self.error = error
        self.requests = []
        self.items = {
            "describe_vpcs": ("Vpcs", self.vpcs),
            "describe_internet_gateways": ("InternetGateways", [
                {"InternetGatewayId": "igw-1", "Attachments": [{"State": "available", "VpcId": "vpc-1"}], "Tags": TAGS}]),
            "describe_subnets": ("Subnets", [
                {"SubnetId": "subnet-a", "CidrBlock": "10.42.0.0/19", "AvailabilityZone": "us-east-1a",
                 "MapPublicIpOnLaunch": False, "State": "available", "Tags": TAGS},
                {"SubnetId": "subnet-b", "CidrBlock": "10.42.192.0/20", "AvailabilityZone": "us-east-1a",
                 "MapPublicIpOnLaunch": True, "State": "available"}]),
            "describe_nat_gateways": ("NatGateways", [
                {"NatGatewayId": "nat-1", "SubnetId": "subnet-b", "State": "available", "Tags": TAGS},
                {"NatGatewayId": "nat-0", "SubnetId": "subnet-b", "State": "deleted"},
                {"NatGatewayId": "nat-2", "SubnetId": "subnet-b", "State": "pending"}]),
            "describe_route_tables": ("RouteTables", [
                {"RouteTableId": "rtb-1", "VpcId": "vpc-1", "Tags": TAGS,
                 "Associations": [{"RouteTableAssociationId": "rtbassoc-1", "SubnetId": "subnet-a", "Main": False,
                                   "AssociationState": {"State": "associated"}}],
                 "Routes": [{"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-1", "State": "active"}]}]),
        }

    def _ask(self, operation, **kwargs):
        self.requests.append((operation, kwargs))
        if self.error:
            raise ClientError({"Error": {"Code": self.error, "Message": "nope"}}, operation)

    def describe_availability_zones(self, **kwargs):
        self._ask("describe_availability_zones", **kwargs)
        return {"AvailabilityZones": [{"ZoneName": "us-east-1a", "ZoneId": "use1-az1", "State": "available"}]}

    def describe_vpc_attribute(self, VpcId, Attribute):
        self._ask("describe_vpc_attribute", VpcId=VpcId, Attribute=Attribute)
        return {"VpcId": VpcId, Attribute[0].upper() + Attribute[1:]: {"Value": Attribute == "enableDnsSupport"}}

    def get_paginator(self, operation):
        fake = self
        key, items = self.items[operation]

        class Paginator:
            def paginate(self, **kwargs):
                fake._ask(operation, **kwargs)
                for item in items or [None]:
                    yield {key: [item] if item else []}

        return Paginator()


def use(client, monkeypatch):
    monkeypatch.setattr(AnsibleAWSModule, "client", lambda self, service, retry_decorator=None, **kw: client)
    return client


ARGS = {"name": "spotflow", "cidr_block": "10.42.0.0/16", "availability_zone_filters": {"state": "available"},
        "route_table_tags": {"spotflow:component": "eks_cluster"}}


@pytest.mark.parametrize("check_mode", [False, True])
def test_one_read_of_a_vpc_and_its_network(monkeypatch, run, check_mode):
    ec2 = use(FakeEC2(), monkeypatch)
    result = run(mod, ARGS, check_mode=check_mode)
    assert result.rc == 0 and result["changed"] is False
    assert result["availability_zones"] == [{"zone_name": "us-east-1a", "zone_id": "use1-az1", "state": "available"}]
    assert result["vpcs"] == [{"id": "vpc-1", "vpc_id": "vpc-1", "cidr_block": "10.42.0.0/16", "state": "available",
                               "tags": {"Name": "spotflow", "spotflow:component": "eks_cluster"},
                               "enable_dns_support": True, "enable_dns_hostnames": False}]
    assert [g["id"] for g in result["internet_gateways"]] == ["igw-1"]
    assert result["internet_gateways"][0]["attachments"] == [{"state": "available", "vpc_id": "vpc-1"}]
    assert [(s["id"], s["map_public_ip_on_launch"], s["tags"]) for s in result["subnets"]] == [
        ("subnet-a", False, {"Name": "spotflow", "spotflow:component": "eks_cluster"}), ("subnet-b", True, {})]
    assert [n["nat_gateway_id"] for n in result["nat_gateways"]] == ["nat-1", "nat-2"]  # the deleted one left out
    table = result["route_tables"][0]
    assert table["id"] == "rtb-1" and table["tags"]["Name"] == "spotflow"
    assert table["routes"] == [{"destination_cidr_block": "0.0.0.0/0", "nat_gateway_id": "nat-1", "state": "active"}]
    assert table["associations"][0] == {"id": "rtbassoc-1", "route_table_association_id": "rtbassoc-1",
                                        "subnet_id": "subnet-a", "main": False, "association_state": {"state": "associated"}}
    asked = dict((op, kwargs) for op, kwargs in ec2.requests if op != "describe_vpc_attribute")
    assert asked["describe_availability_zones"] == {"Filters": [{"Name": "state", "Values": ["available"]}]}
    assert sorted(asked["describe_vpcs"]["Filters"], key=lambda f: f["Name"]) == [
        {"Name": "cidr-block", "Values": ["10.42.0.0/16"]}, {"Name": "tag:Name", "Values": ["spotflow"]}]
    assert asked["describe_internet_gateways"] == {"Filters": [{"Name": "attachment.vpc-id", "Values": ["vpc-1"]}]}
    assert asked["describe_subnets"] == {"Filters": [{"Name": "vpc-id", "Values": ["vpc-1"]}]}
    assert asked["describe_nat_gateways"] == {"Filter": [{"Name": "vpc-id", "Values": ["vpc-1"]}]}
    assert asked["describe_route_tables"] == {"Filters": [{"Name": "vpc-id", "Values": ["vpc-1"]},
                                                          {"Name": "tag:spotflow:component", "Values": ["eks_cluster"]}]}


@pytest.mark.parametrize("vpcs", [[], [VPC, dict(VPC, VpcId="vpc-2")]])
def test_without_exactly_one_vpc_nothing_inside_one_is_read(monkeypatch, run, vpcs):
    ec2 = use(FakeEC2(vpcs=vpcs), monkeypatch)
    result = run(mod, ARGS)
    assert [v["id"] for v in result["vpcs"]] == [v["VpcId"] for v in vpcs]
    assert result["availability_zones"] and not any(result[k] for k in ("internet_gateways", "subnets", "nat_gateways",
                                                                         "route_tables"))
    assert {op for op, _ in ec2.requests} <= {"describe_availability_zones", "describe_vpcs", "describe_vpc_attribute"}


def test_api_errors_fail_naming_the_vpc(monkeypatch, run):
    use(FakeEC2(error="UnauthorizedOperation"), monkeypatch)
    result = run(mod, ARGS)
    assert result.rc == 1 and result["failed"]
    assert "spotflow (10.42.0.0/16)" in result["msg"] and "UnauthorizedOperation" in result["msg"]
