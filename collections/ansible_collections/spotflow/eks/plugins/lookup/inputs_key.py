# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
name: inputs_key
author:
  - Spotflow maintainers (@spotflow)
short_description: A key for a role's inputs, so that a role validates them once per run
version_added: 0.1.0
description:
  - Returns the SHA-1 of a role's variables (every variable whose name starts
    with the prefix and an underscore, then a lowercase letter, as templated
    now) and of the inputs every Spotflow role shares (C(spotflow_region),
    C(spotflow_cluster_name), C(spotflow_aws_profile), C(spotflow_aws_access_key),
    and whether C(spotflow_aws_secret_key) is set, never its value).
  - The C(main.yml) of a role includes its C(validate.yml) only when this key differs
    from the one its last validation remembered, so the same inputs are not
    checked again when C(site.yml) enters the role a second time, and any
    changed input is.
  - Variables that select which part of the role runs and that no check reads
    (C(site.yml)'s pass switches, such as C(rds_postgres_wait)) are left out
    with O(exclude).
options:
  _terms:
    description: The role's variable prefix, such as C(rds_postgres).
    type: list
    elements: str
    required: true
  exclude:
    description: Variable names to leave out of the key.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Validate the inputs unless these very inputs were validated already
  ansible.builtin.include_tasks: validate.yml
  when: rds_postgres__validated | default('') != lookup('spotflow.eks.inputs_key', 'rds_postgres', exclude=['rds_postgres_wait'])
"""

RETURN = r"""
_raw:
  description: One SHA-1 hex digest.
  type: list
  elements: str
"""

import hashlib
import json
import re

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

SHARED = ("spotflow_region", "spotflow_cluster_name", "spotflow_aws_profile", "spotflow_aws_access_key")


def inputs_key(values):
    """SHA-1 of the JSON of ``values`` (a list), keys sorted."""
    return hashlib.sha1(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if variables is None:
            raise AnsibleError("spotflow.eks.inputs_key: no variables to read")
        self.set_options(var_options=variables, direct=kwargs)
        exclude = set(self.get_option("exclude"))
        keys = []
        for prefix in terms:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", str(prefix)):
                raise AnsibleError("spotflow.eks.inputs_key: %r is not a variable prefix" % (prefix,))
            pattern = re.compile(r"^%s_[a-z]" % re.escape(prefix))
            names = sorted(name for name in variables if pattern.match(name) and name not in exclude)
            names += [name for name in SHARED if name not in names]
            values = self._templar.template([variables.get(name) for name in names])
            secret_set = bool(self._templar.template(variables.get("spotflow_aws_secret_key")))
            keys.append(inputs_key([list(zip(names, values)), secret_set]))
        return keys
