#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name (plugins/action/checks.py), on the controller.

from __future__ import annotations

DOCUMENTATION = r"""
module: checks
short_description: Many assertions, each with its own message, in one task
version_added: 0.1.0
author: Spotflow maintainers (@spotflow)
description:
  - Evaluates O(checks) in order on the controller, like one M(ansible.builtin.assert) task per check, and fails at the
    first check that does not hold with that check's message.
  - A check's O(checks[].vars) and O(checks[].fail_msg) are templated only when the check is reached, so a message may
    rely on what the checks before it proved, as with separate tasks.
  - Why not one M(ansible.builtin.assert) per check, as before? Every task costs the controller a worker process and
    its callbacks, about 60 ms here. The roles' input validation ran 76 assert tasks (88 tasks in all, about 5 s) in
    a no-op re-run of C(site.yml). M(ansible.builtin.assert) with a list in C(that) has one message for all its conditions, and
    a message must name the variable that is wrong.
  - Makes no API call and changes nothing.
options:
  checks:
    description: The checks, evaluated in this order.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: What the check is about; returned as RV(check) when it fails.
        type: str
      that:
        description: Conditionals (as in M(ansible.builtin.assert)); the check holds when all of them are true.
        type: raw
        required: true
      fail_msg:
        description: The message when the check does not hold; it should name the variable, what was given and what is
          allowed.
        type: str
        required: true
      vars:
        description: Variables for this check only, over the task's (templated when used, like a task's C(vars)).
        type: dict
      when:
        description: Conditionals; the check is skipped unless all are true.
        type: raw
attributes:
  check_mode:
    support: full
    description: Evaluates the same in check mode.
  diff_mode:
    support: none
    description: Changes nothing.
  platform:
    support: full
    platforms: all
    description: Runs on the controller.
  action:
    support: full
    description: An action plugin; nothing runs on the target.
seealso:
  - module: ansible.builtin.assert
  - module: ansible.builtin.validate_argument_spec
"""

EXAMPLES = r"""
- name: Check the inputs (no API call)
  spotflow.eks.checks:
    checks:
      - name: backup retention
        that:
          - rds_postgres_backup_retention_days | int >= 1
          - rds_postgres_backup_retention_days | int <= 35
        fail_msg: rds_postgres_backup_retention_days must be between 1 and 35 (days), got {{ rds_postgres_backup_retention_days }}
      - name: engine version known
        when: rds_postgres_state == 'present'
        that: rds_postgres__major in rds_postgres__majors
        fail_msg: rds_postgres_engine_version {{ rds_postgres_engine_version }} is not of a major RDS supports
        vars:
          rds_postgres__major: "{{ rds_postgres_engine_version | split('.') | first }}"
"""

RETURN = r"""
msg:
  description: The failing check's message, or how many checks held and how many were skipped.
  returned: always
  type: str
check:
  description: The name of the check that failed.
  returned: failed
  type: str
assertion:
  description: Its first conditional that was false.
  returned: failed
  type: str
checked:
  description: How many checks held.
  returned: success
  type: int
skipped_checks:
  description: How many checks their O(checks[].when) skipped.
  returned: success
  type: int
"""
