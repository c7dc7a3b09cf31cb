# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the efs_storage role: the NFS rules of the mount targets' security group and the mount
targets (were {% set %} loops in tasks/present.yml)."""

from __future__ import annotations


def efs_storage_ingress_rules(group_ids, port, description):
    """amazon.aws.ec2_security_group ``rules``: TCP ``port`` from each security group in ``group_ids``."""
    if isinstance(group_ids, str):
        raise TypeError("efs_storage_ingress_rules: expected a list of security group ids, got the string {0!r}".format(group_ids))
    return [{"proto": "tcp", "ports": [int(port)], "group_id": sg, "rule_desc": description} for sg in group_ids or []]


def efs_storage_mount_targets(subnet_ids, security_group_id):
    """community.aws.efs ``targets``: a mount target in each subnet, behind ``security_group_id``."""
    if isinstance(subnet_ids, str):
        raise TypeError("efs_storage_mount_targets: expected a list of subnet ids, got the string {0!r}".format(subnet_ids))
    return [{"subnet_id": subnet, "security_groups": [security_group_id]} for subnet in subnet_ids or []]


def efs_storage_mount_targets_ready(file_systems, subnet_ids):
    """True when community.aws.efs_info found one file system whose available mount targets are in exactly
    ``subnet_ids`` (one per subnet, none elsewhere)."""
    file_systems = list(file_systems or [])
    if len(file_systems) != 1:
        return False
    available = sorted(t.get("subnet_id") for t in file_systems[0].get("mount_targets") or []
                       if t.get("life_cycle_state") == "available")
    return available == sorted(subnet_ids or [])


class FilterModule:
    def filters(self):
        return {
            "efs_storage_ingress_rules": efs_storage_ingress_rules,
            "efs_storage_mount_targets": efs_storage_mount_targets,
            "efs_storage_mount_targets_ready": efs_storage_mount_targets_ready,
        }
