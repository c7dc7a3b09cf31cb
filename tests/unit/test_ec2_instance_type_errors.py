"""spotflow.eks.ec2_instance_type_errors: impossible instance type names, refused without AWS."""

from __future__ import annotations

import pytest

from ansible_collections.spotflow.eks.plugins.filter.ec2_instance_type_errors import ec2_instance_type_errors

REAL = ["m7i.large", "c6in.32xlarge", "m7i-flex.xlarge", "x2iedn.metal", "t4g.nano", "u-6tb1.112xlarge",
        "mac2-m2pro.metal", "m5.metal-48xl", "c5.xlarge", "p5.48xlarge", "hpc7g.16xlarge", "r7a.medium", "t3.micro"]


def test_real_types_pass():
    assert ec2_instance_type_errors(REAL, "v") == []


@pytest.mark.parametrize("bad", ["m5.huge", "M5.large", "m5", "m5.0xlarge", "m5.large ", "", 5, None])
def test_impossible_names_are_named_with_variable_and_index(bad):
    assert ec2_instance_type_errors(["m5.large", bad], "types") == [
        f"types[1]: {bad!r} is not an EC2 instance type (family.size, e.g. m7i.large, c6i.2xlarge, m7g.metal; "
        "sizes nano, micro, small, medium, large, xlarge, <n>xlarge, metal)"]


def test_the_fallback_variable_is_named_too():
    (error,) = ec2_instance_type_errors(["m5.huge"], "groups[0].instance_types", "default_types")
    assert error.startswith("groups[0].instance_types[0] (or default_types[0]): 'm5.huge'")
