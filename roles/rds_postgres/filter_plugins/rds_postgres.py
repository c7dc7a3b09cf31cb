# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the rds_postgres role: the PostgreSQL rules of the DB instance's security group
(was a {% set %} loop in tasks/present.yml)."""

from __future__ import annotations


def rds_postgres_ingress_rules(group_ids, port, description):
    """amazon.aws.ec2_security_group ``rules``: TCP ``port`` from each security group in ``group_ids``."""
    if isinstance(group_ids, str):
        raise TypeError("rds_postgres_ingress_rules: expected a list of security group ids, got the string {0!r}".format(group_ids))
    return [{"proto": "tcp", "ports": [int(port)], "group_id": sg, "rule_desc": description} for sg in group_ids or []]


class FilterModule:
    def filters(self):
        return {
            "rds_postgres_ingress_rules": rds_postgres_ingress_rules,
        }
