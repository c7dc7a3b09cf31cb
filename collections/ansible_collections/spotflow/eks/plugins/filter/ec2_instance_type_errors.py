# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""spotflow.eks.ec2_instance_type_errors: EC2 instance type names that cannot exist, before any AWS call."""

from __future__ import annotations

import re

DOCUMENTATION = r"""
name: ec2_instance_type_errors
short_description: Messages for EC2 instance type names that cannot exist
version_added: 0.1.0
description:
  - Checks the shape of instance type names (C(family.size), for example C(m7i.large), C(c6in.32xlarge),
    C(m7i-flex.xlarge), C(x2iedn.metal)) without any AWS call, so a typo such as C(m5.huge) stops the
    pre-flight instead of a node group creation ten minutes later.
  - Whether a well-formed type is offered in the region is checked later against the EC2 API.
options:
  _input:
    description: Instance type names.
    type: list
    elements: str
    required: true
  name:
    description: The variable to name in the messages.
    type: str
    required: true
  fallback:
    description: The variable the values came from when O(name) was not set (named too).
    type: str
"""

EXAMPLES = r"""
- name: Refuse impossible instance types
  ansible.builtin.assert:
    that: __errors | length == 0
    fail_msg: "{{ __errors | join('; ') }}"
  vars:
    __errors: "{{ my_instance_types | spotflow.eks.ec2_instance_type_errors('my_instance_types') }}"
"""

RETURN = r"""
_value:
  description: One message per impossible name, naming the variable and the index; empty when all are fine.
  type: list
  elements: str
"""

# family (letters, digits, generation, attributes, optional -flex/-m2pro ...) . size
TYPE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)?\.(nano|micro|small|medium|large|[1-9][0-9]*xlarge|xlarge|metal(-[0-9]+xl)?)$")


def ec2_instance_type_errors(values, name, fallback=None):
    errors = []
    for index, value in enumerate(values or []):
        if not isinstance(value, str) or not TYPE.match(value):
            where = "{0}[{1}]".format(name, index) + (" (or {0}[{1}])".format(fallback, index) if fallback else "")
            errors.append("{0}: {1!r} is not an EC2 instance type (family.size, e.g. m7i.large, c6i.2xlarge, "
                          "m7g.metal; sizes nano, micro, small, medium, large, xlarge, <n>xlarge, metal)".format(where, value))
    return errors


class FilterModule:
    def filters(self):
        return {"ec2_instance_type_errors": ec2_instance_type_errors}
