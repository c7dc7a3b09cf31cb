# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Amazon EFS access points as efs_access_point and efs_access_point_info
return them: tags as a dictionary, snake_case keys."""

from __future__ import annotations

from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

from ansible_collections.spotflow.eks.plugins.module_utils.aws import to_result

GONE_STATES = ("deleting", "deleted")


def tags_of(access_point):
    return boto3_tag_list_to_ansible_dict(access_point.get("Tags") or [])


def name_of(access_point):
    return tags_of(access_point).get("Name", access_point.get("Name"))


def access_point_to_result(access_point):
    """The access point with snake_case keys and its tags as a dictionary; {} for none."""
    if not access_point:
        return {}
    return to_result(dict(access_point, Tags=tags_of(access_point)))


def list_access_points(client, file_system_id=None):
    """Every access point of the file system (of the account without one), gone ones left out."""
    kwargs = {"FileSystemId": file_system_id} if file_system_id else {}
    pages = client.get_paginator("describe_access_points").paginate(**kwargs).build_full_result()
    return [ap for ap in pages.get("AccessPoints", []) if ap.get("LifeCycleState") not in GONE_STATES]
