"""spotflow.eks.instance_type_offer_errors: types the region lacks, and types the AMI type's CPU cannot run."""

from __future__ import annotations

from ansible_collections.spotflow.eks.plugins.filter.instance_type_offer_errors import instance_type_offer_errors

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
