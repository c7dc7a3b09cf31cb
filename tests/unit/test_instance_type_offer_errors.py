"""spotflow.eks.instance_type_offer_errors: types the region lacks, and types the AMI type's CPU cannot run;
spotflow.eks.instance_type_zone_errors: types a zone of the node group's subnets lacks."""

from __future__ import annotations

import pytest
from ansible_collections.spotflow.eks.plugins.filter.instance_type_offer_errors import instance_type_offer_errors
from ansible_collections.spotflow.eks.plugins.filter.instance_type_offer_errors import instance_type_zone_errors

FOUND = [
    {"instance_type": "m5.large", "processor_info": {"supported_architectures": ["x86_64"]}},
    {"instance_type": "m7g.large", "processor_info": {"supported_architectures": ["arm64"]}},
]


def check(wanted, ami_type):
    return instance_type_offer_errors(FOUND, wanted, "types", ami_type, "ami", "eu-west-2")


def test_fitting_types_pass():
    assert check(["m5.large"], "AL2023_x86_64_STANDARD") == []
    assert check(["m7g.large"], "AL2023_ARM_64_STANDARD") == []
    assert check(["m5.large", "m7g.large"], "CUSTOM") == []  # a custom AMI is not judged


def test_arm64_ami_on_x86_types_is_refused_naming_both_variables():
    assert check(["m5.large", "m7g.large"], "AL2023_ARM_64_STANDARD") == [
        "types: ami AL2023_ARM_64_STANDARD runs on arm64 instance types only, not m5.large (x86_64)"]
    assert check(["m7g.large"], "BOTTLEROCKET_x86_64") == [
        "types: ami BOTTLEROCKET_x86_64 runs on x86_64 instance types only, not m7g.large (arm64)"]


def test_types_the_region_does_not_offer():
    assert check(["m5.large", "m8a.large"], "AL2023_x86_64_STANDARD") == ["types: not offered in eu-west-2: m8a.large"]


def _t(name, vcpus, mib, spot=True):
    return {"instance_type": name, "v_cpu_info": {"default_v_cpus": vcpus}, "memory_info": {"size_in_mi_b": mib},
            "supported_usage_classes": ["on-demand", "spot"] if spot else ["on-demand"],
            "processor_info": {"supported_architectures": ["x86_64"]}}


SPOT = [_t("m5.large", 2, 8192), _t("m5.xlarge", 4, 16384), _t("r5.xlarge", 4, 32768), _t("m5zn.xlarge", 4, 16384, spot=False)]


def spot_check(wanted, tolerance=0):
    return instance_type_offer_errors(SPOT, wanted, "g", "AL2023_x86_64_STANDARD", "ami", "us-east-1", spot=True,
                                      memory_tolerance=tolerance)


def test_a_spot_group_is_one_size_and_offered_as_spot():
    assert spot_check(["m5.xlarge"]) == []
    assert spot_check(["m5.large", "m5.xlarge"]) == ["g must have equal size: m5.large=2 vCPU/8 GiB, m5.xlarge=4 vCPU/16 GiB"]
    assert spot_check(["m5.xlarge", "r5.xlarge"], 50) == [
        "g must have equal size (memory within 50%): m5.xlarge=4 vCPU/16 GiB, r5.xlarge=4 vCPU/32 GiB"]
    assert spot_check(["m5.xlarge", "r5.xlarge"], 100) == []
    assert spot_check(["m5.xlarge", "m5zn.xlarge"]) == ["g: not offered as Spot: m5zn.xlarge"]


# ---------------------------------------------------------------- per zone of the node group's subnets

def _offers(location_type, **by_location):
    return [{"instance_type": t, "location": loc.replace("_", "-"), "location_type": location_type}
            for loc, types in by_location.items() for t in types]


# us-east-1e (use1-az3) lacks the newer generations, as on AWS
ZONE_OFFERS = _offers("availability-zone", us_east_1a=["m7i.xlarge", "m5.xlarge"], us_east_1b=["m7i.xlarge", "m5.xlarge"],
                      us_east_1e=["m5.xlarge"])
SUBNETS = [  # what amazon.aws.ec2_vpc_subnet_info returns (the keys that matter)
    {"id": "subnet-a", "subnet_id": "subnet-a", "availability_zone": "us-east-1a", "availability_zone_id": "use1-az6"},
    {"id": "subnet-b", "subnet_id": "subnet-b", "availability_zone": "us-east-1b", "availability_zone_id": "use1-az1"},
    {"id": "subnet-e", "subnet_id": "subnet-e", "availability_zone": "us-east-1e", "availability_zone_id": "use1-az3"},
    {"id": "subnet-e2", "subnet_id": "subnet-e2", "availability_zone": "us-east-1e", "availability_zone_id": "use1-az3"},
]


def test_every_type_offered_in_every_zone_passes():
    assert instance_type_zone_errors(ZONE_OFFERS, ["m5.xlarge"], "g.instance_types", SUBNETS) == []
    assert instance_type_zone_errors(ZONE_OFFERS, ["m7i.xlarge", "m5.xlarge"], "g", SUBNETS[:2]) == []
    assert instance_type_zone_errors(ZONE_OFFERS, ["m7i.xlarge"], "g", []) == []  # no subnets, nothing to judge


def test_a_type_missing_in_one_zone_is_refused_even_when_others_of_the_group_are_offered_there():
    """EKS refuses the group (also a Spot group of several types): 'offered in some zone' is not enough."""
    assert instance_type_zone_errors(ZONE_OFFERS, ["m7i.xlarge", "m5.xlarge"], "spot_nodegroup_groups[0].instance_types",
                                     SUBNETS) == [
        "spot_nodegroup_groups[0].instance_types: m7i.xlarge is not offered in us-east-1e (zone of subnet-e, subnet-e2);"
        " every type must be offered in every zone of the node group's subnets"]


def test_a_type_offered_nowhere_names_every_zone_once_per_type():
    errors = instance_type_zone_errors(ZONE_OFFERS, ["m8a.xlarge", "m8a.xlarge"], "t", SUBNETS[:3])
    assert errors == ["t: m8a.xlarge is not offered in us-east-1a (zone of subnet-a), us-east-1b (zone of subnet-b), "
                      "us-east-1e (zone of subnet-e); every type must be offered in every zone of the node group's subnets"]


def test_zone_ids_are_compared_with_the_subnets_zone_ids():
    by_id = _offers("availability-zone-id", use1_az6=["m7i.xlarge"], use1_az1=["m7i.xlarge"], use1_az3=[])
    assert instance_type_zone_errors(by_id, ["m7i.xlarge"], "t", SUBNETS[:2]) == []
    assert instance_type_zone_errors(by_id, ["m7i.xlarge"], "t", SUBNETS[2:3]) == [
        "t: m7i.xlarge is not offered in use1-az3 (zone of subnet-e); every type must be offered in every zone of the "
        "node group's subnets"]
    # by zone name these offerings match nothing: the location type must be the subnets' key that is compared
    assert instance_type_zone_errors(by_id, ["m7i.xlarge"], "t", SUBNETS[:1], location_type="availability-zone") != []


def test_subnets_as_a_mapping_or_as_zones_to_be():
    assert instance_type_zone_errors(ZONE_OFFERS, ["m7i.xlarge"], "t", {"subnet-x": "us-east-1a", "subnet-y": "us-east-1e"}) == [
        "t: m7i.xlarge is not offered in us-east-1e (zone of subnet-y); every type must be offered in every zone of the "
        "node group's subnets"]
    # check mode on an empty account: the zones the VPC will have
    assert instance_type_zone_errors(ZONE_OFFERS, ["m7i.xlarge"], "t", ["us-east-1a", "us-east-1e"]) == [
        "t: m7i.xlarge is not offered in us-east-1e; every type must be offered in every zone of the node group's subnets"]
    # no offerings at all (an empty answer): every type is missing everywhere
    assert len(instance_type_zone_errors([], ["m5.xlarge", "m7i.xlarge"], "t", ["us-east-1a"])) == 2


@pytest.mark.parametrize("offerings, subnets, kwargs, match", [
    (_offers("region", us_east_1=["m5.xlarge"]), ["us-east-1a"], {}, "say nothing about zones"),
    (ZONE_OFFERS + _offers("availability-zone-id", use1_az6=["m5.xlarge"]), ["us-east-1a"], {}, "several location types"),
    (ZONE_OFFERS, [{"id": "subnet-q", "availability_zone_id": "use1-az6"}], {}, "subnet-q has no availability_zone"),
])
def test_offerings_that_cannot_be_judged_are_a_programming_error(offerings, subnets, kwargs, match):
    with pytest.raises(ValueError, match=match):
        instance_type_zone_errors(offerings, ["m5.xlarge"], "t", subnets, **kwargs)
