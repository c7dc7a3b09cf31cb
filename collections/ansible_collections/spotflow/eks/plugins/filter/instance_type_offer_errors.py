# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""spotflow.eks.instance_type_offer_errors: instance types the region lacks or the AMI type cannot boot."""

from __future__ import annotations

DOCUMENTATION = r"""
name: instance_type_offer_errors
short_description: Messages for instance types a region does not offer or an EKS AMI type cannot run on
version_added: 0.1.0
description:
  - Takes the C(instance_types) that M(amazon.aws.ec2_instance_type_info) found and checks the wanted
    names against them. Each must be offered in the region, and its CPU architecture must be the one of
    the node group's AMI type (C(*_x86_64_*) needs x86_64, C(*_ARM_64_*) arm64; C(CUSTOM) is not judged).
  - An arm64 AMI on x86 instances (or the reverse) is accepted by C(CreateNodegroup) and only fails
    when the instances never join, many minutes later.
  - With O(spot) and O(memory_tolerance), also the rules of a Spot node group (offered as Spot, one size).
options:
  _input:
    description: The C(instance_types) list returned by M(amazon.aws.ec2_instance_type_info).
    type: list
    elements: dict
    required: true
  wanted:
    description: The instance type names the node group asks for.
    type: list
    elements: str
    required: true
  name:
    description: The variable that lists them (named in the messages).
    type: str
    required: true
  ami_type:
    description: The node group's EKS AMI type.
    type: str
    required: true
  ami_name:
    description: The variable that holds the AMI type (named in the messages).
    type: str
    required: true
  region:
    description: The region (named in the messages).
    type: str
    required: true
  spot:
    description: Each type must also be offered as Spot (C(supported_usage_classes)).
    type: bool
    default: false
  memory_tolerance:
    description:
      - When set, all types must have the same vCPU count and a memory within this percentage of the
        smallest (a Spot group whose types differ in size makes cluster-autoscaler's guesses wrong).
    type: int
"""

EXAMPLES = r"""
- name: Check the instance types against the region and the AMI type
  ansible.builtin.assert:
    that: __errors | length == 0
    fail_msg: "{{ __errors | join('; ') }}"
  vars:
    __errors: >-
      {{ found.instance_types | spotflow.eks.instance_type_offer_errors(my_types, 'my_types',
           my_ami_type, 'my_ami_type', 'eu-west-2') }}
"""

RETURN = r"""
_value:
  description: One message per problem; empty when every type is offered and fits the AMI type.
  type: list
  elements: str
"""


def ami_architecture(ami_type):
    """``arm64``, ``x86_64``, or None when the AMI type does not say (CUSTOM)."""
    upper = (ami_type or "").upper()
    if "ARM_64" in upper:
        return "arm64"
    if "X86_64" in upper:
        return "x86_64"
    return None


def _size(t):
    return int((t.get("v_cpu_info") or {}).get("default_v_cpus") or 0), int((t.get("memory_info") or {}).get("size_in_mi_b") or 0)


def instance_type_offer_errors(found, wanted, name, ami_type, ami_name, region, spot=False, memory_tolerance=None):
    types = dict((t.get("instance_type"), t) for t in found or [])
    wanted = list(wanted or [])
    missing = [t for t in wanted if t not in types]
    if missing:
        return ["{0}: not offered in {1}: {2}".format(name, region, ", ".join(missing))]
    errors = []
    if memory_tolerance is not None and wanted:
        sizes = [_size(types[t]) for t in wanted]
        vcpus, mems = [size[0] for size in sizes], [size[1] for size in sizes]
        if len(set(vcpus)) > 1 or (max(mems) - min(mems)) * 100 > int(memory_tolerance) * min(mems):
            within = " (memory within {0}%)".format(memory_tolerance) if int(memory_tolerance) > 0 else ""
            errors.append("{0} must have equal size{1}: {2}".format(name, within, ", ".join(
                "{0}={1} vCPU/{2:g} GiB".format(t, v, m / 1024.0) for t, (v, m) in zip(wanted, sizes))))
    if spot:
        no_spot = [t for t in wanted if "spot" not in (types[t].get("supported_usage_classes") or ["spot"])]
        if no_spot:
            errors.append("{0}: not offered as Spot: {1}".format(name, ", ".join(no_spot)))
    arch = ami_architecture(ami_type)
    archs = dict((t, (types[t].get("processor_info") or {}).get("supported_architectures") or []) for t in wanted)
    wrong = ["{0} ({1})".format(t, "/".join(archs[t])) for t in wanted if arch and arch not in archs[t]]
    if wrong:
        errors.append("{0}: {1} {2} runs on {3} instance types only, not {4}".format(
            name, ami_name, ami_type, arch, ", ".join(wrong)))
    return errors


class FilterModule:
    def filters(self):
        return {"instance_type_offer_errors": instance_type_offer_errors}
