#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: efs_access_point
version_added: 0.1.0
short_description: Manage Amazon EFS access points
description:
  - Create, retag and delete access points of an Amazon EFS file system.
  - This module exists because no collection has one. C(community.aws.efs) handles
    file systems and mount targets only.
  - An access point is identified by its file system and its C(Name) tag (O(name)).
    The module looks it up before it creates anything, so repeated runs never make
    a second access point. It does not rely on the C(ClientToken) of
    C(CreateAccessPoint), which only covers retries of one request and which moto
    ignores.
  - EFS cannot change the POSIX user or the root directory of an access point. When
    they differ the module fails and lists the differences, unless
    O(replace_on_change=true). Then it deletes the access point and creates a new
    one, which gets a new ID.
author:
  - Spotflow maintainers (@spotflow)
options:
  state:
    description:
      - V(present) creates the access point or updates its tags; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  file_system_id:
    description:
      - ID of the EFS file system.
    type: str
    required: true
  name:
    description:
      - Value of the access point's C(Name) tag, unique per file system. Identifies the access point.
    type: str
    required: true
  posix_user:
    description:
      - The POSIX identity that all file system requests through the access point use.
      - Left out, requests keep the client's identity, and an existing access point's user is not compared.
    type: dict
    suboptions:
      uid:
        description: POSIX user ID.
        type: int
        required: true
      gid:
        description: POSIX group ID.
        type: int
        required: true
      secondary_gids:
        description: Secondary POSIX group IDs (compared as a set).
        type: list
        elements: int
  root_directory:
    description:
      - The directory that the access point exposes as the root of the file system.
      - Left out, a new access point exposes V(/), and an existing one is not compared.
    type: dict
    suboptions:
      path:
        description: Path of the directory on the file system.
        type: str
        default: /
      creation_info:
        description:
          - Owner and permissions EFS gives O(root_directory.path) when it creates the
            directory on first use. Without it, the directory must already exist.
        type: dict
        suboptions:
          owner_uid:
            description: Owner user ID.
            type: int
            required: true
          owner_gid:
            description: Owner group ID.
            type: int
            required: true
          permissions:
            description:
              - Octal permissions as a quoted string, for example V('0755').
              - An unquoted YAML V(0755) is read as the decimal number 493, so numbers are refused.
            type: raw
            required: true
  replace_on_change:
    description:
      - Delete and recreate the access point when its POSIX user or root directory
        differs. Pods that mount the old access point lose access.
    type: bool
    default: false
  wait:
    description:
      - Wait for the access point to be V(available) after create and to be gone after delete.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait when O(wait=true).
    type: int
    default: 300
notes:
  - O(tags) and O(purge_tags) never remove the C(Name) tag, it is always O(name).
  - Member of the action group C(spotflow.eks.aws).
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.tags
  - amazon.aws.boto3
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: aws
"""

EXAMPLES = r"""
- name: Access point for Airflow's DAGs, owned by the airflow user (uid 50000)
  spotflow.eks.efs_access_point:
    file_system_id: "{{ spotflow_efs.file_system_id }}"
    name: spotflow-dev-dags
    posix_user:
      uid: 50000
      gid: 0
    root_directory:
      path: /airflow/dags
      creation_info:
        owner_uid: 50000
        owner_gid: 0
        permissions: "0775"
    tags:
      spotflow:cluster: spotflow-dev
      spotflow:component: efs_storage
  register: dags_ap

- name: Use it in a PersistentVolume
  ansible.builtin.debug:
    msg: "volumeHandle: {{ spotflow_efs.file_system_id }}::{{ dags_ap.access_point_id }}"

- name: Delete it
  spotflow.eks.efs_access_point:
    file_system_id: "{{ spotflow_efs.file_system_id }}"
    name: spotflow-dev-dags
    state: absent
"""

RETURN = r"""
access_point_id:
  description: ID of the access point; empty after O(state=absent) and when check mode predicts a creation.
  returned: always
  type: str
  sample: fsap-0123456789abcdef0
access_point_arn:
  description: ARN of the access point; empty when there is none (yet).
  returned: always
  type: str
  sample: arn:aws:elasticfilesystem:eu-west-1:123456789012:access-point/fsap-0123456789abcdef0
access_point:
  description:
    - The access point as C(DescribeAccessPoints) returns it, with snake_case keys and
      tags as a dictionary. Empty after O(state=absent).
  returned: always
  type: dict
  contains:
    access_point_id:
      description: ID of the access point.
      type: str
    access_point_arn:
      description: ARN of the access point.
      type: str
    file_system_id:
      description: ID of the file system.
      type: str
    name:
      description: Value of the C(Name) tag.
      type: str
    posix_user:
      description: C(uid), C(gid), C(secondary_gids).
      type: dict
      sample: {"uid": 50000, "gid": 0}
    root_directory:
      description: C(path) and C(creation_info) (C(owner_uid), C(owner_gid), C(permissions)).
      type: dict
      sample: {"path": "/airflow/dags", "creation_info": {"owner_uid": 50000, "owner_gid": 0, "permissions": "0775"}}
    life_cycle_state:
      description: C(creating), C(available), C(deleting), ...
      type: str
      sample: available
    owner_id:
      description: AWS account that owns the access point.
      type: str
    tags:
      description: Tags of the access point.
      type: dict
      sample: {"Name": "spotflow-dev-dags", "spotflow:cluster": "spotflow-dev"}
"""

import re
import uuid

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.tagging import ansible_dict_to_boto3_tag_list

from ansible_collections.spotflow.eks.plugins.module_utils.aws import is_not_found
from ansible_collections.spotflow.eks.plugins.module_utils.aws import make_diff
from ansible_collections.spotflow.eks.plugins.module_utils.aws import tag_changes
from ansible_collections.spotflow.eks.plugins.module_utils.aws import tags_after
from ansible_collections.spotflow.eks.plugins.module_utils.aws import tags_to_str
from ansible_collections.spotflow.eks.plugins.module_utils.aws import to_result
from ansible_collections.spotflow.eks.plugins.module_utils.aws import wait_for
from ansible_collections.spotflow.eks.plugins.module_utils.efs import access_point_to_result
from ansible_collections.spotflow.eks.plugins.module_utils.efs import list_access_points
from ansible_collections.spotflow.eks.plugins.module_utils.efs import name_of
from ansible_collections.spotflow.eks.plugins.module_utils.efs import tags_of

_OCTAL = re.compile(r"^[0-7]{3,4}$")


class SpecError(ValueError):
    pass


def normalize_path(path):
    path = "/" + (path or "/").strip("/")
    return path


def permissions_text(value):
    if isinstance(value, bool) or not isinstance(value, str):
        raise SpecError(
            "root_directory.creation_info.permissions must be a quoted octal string such as '0755', "
            "not {0!r} (an unquoted YAML 0755 is the number 493)".format(value)
        )
    if not _OCTAL.match(value):
        raise SpecError("root_directory.creation_info.permissions must be 3 or 4 octal digits, not {0!r}".format(value))
    return value.zfill(4)


def posix_user_spec(posix_user):
    if posix_user is None:
        return None
    spec = {"Uid": posix_user["uid"], "Gid": posix_user["gid"]}
    if posix_user.get("secondary_gids"):
        spec["SecondaryGids"] = sorted(set(posix_user["secondary_gids"]))
    return spec


def root_directory_spec(root_directory):
    if root_directory is None:
        return None
    spec = {"Path": normalize_path(root_directory.get("path"))}
    info = root_directory.get("creation_info")
    if info:
        spec["CreationInfo"] = {
            "OwnerUid": info["owner_uid"],
            "OwnerGid": info["owner_gid"],
            "Permissions": permissions_text(info["permissions"]),
        }
    return spec


def _same_posix_user(current, desired):
    current = current or {}
    return (
        current.get("Uid") == desired["Uid"]
        and current.get("Gid") == desired["Gid"]
        and sorted(set(current.get("SecondaryGids") or [])) == desired.get("SecondaryGids", [])
    )


def _same_creation_info(current, desired):
    if not current:
        return False
    try:
        same_mode = int(str(current.get("Permissions")), 8) == int(desired["Permissions"], 8)
    except ValueError:
        same_mode = False
    return current.get("OwnerUid") == desired["OwnerUid"] and current.get("OwnerGid") == desired["OwnerGid"] and same_mode


def replacement_changes(access_point, params):
    """``[(field, current, desired)]`` for what EFS cannot change on an access point."""
    changes = []
    posix = posix_user_spec(params.get("posix_user"))
    if posix is not None and not _same_posix_user(access_point.get("PosixUser"), posix):
        changes.append(("posix_user", to_result(access_point.get("PosixUser")) or None, to_result(posix)))
    root = root_directory_spec(params.get("root_directory"))
    if root is not None:
        current = access_point.get("RootDirectory") or {}
        if normalize_path(current.get("Path")) != root["Path"]:
            changes.append(("root_directory.path", current.get("Path"), root["Path"]))
        if "CreationInfo" in root and not _same_creation_info(current.get("CreationInfo"), root["CreationInfo"]):
            changes.append(
                ("root_directory.creation_info", to_result(current.get("CreationInfo")) or None, to_result(root["CreationInfo"]))
            )
    return changes


def desired_tags(params):
    """Tags to manage: O(tags) plus Name; None (Name only) when tags are not given."""
    tags = tags_to_str(params.get("tags"))
    if tags is None:
        return None
    tags["Name"] = params["name"]
    return tags


def choose(candidates, params):
    """The access point among those named ``name``; prefers a matching root path.

    Returns ``(access_point or None, error or None)``.
    """
    if len(candidates) <= 1:
        return (candidates[0] if candidates else None), None
    root = root_directory_spec(params.get("root_directory"))
    if root is not None:
        same_path = [ap for ap in candidates if normalize_path((ap.get("RootDirectory") or {}).get("Path")) == root["Path"]]
        if len(same_path) == 1:
            return same_path[0], None
    return None, "{0} access points of file system {1} are named {2}: {3}; delete the extra ones".format(
        len(candidates), params["file_system_id"], params["name"], ", ".join(sorted(ap["AccessPointId"] for ap in candidates))
    )


def managed_view(access_point):
    if not access_point:
        return {}
    return {
        "file_system_id": access_point.get("FileSystemId"),
        "posix_user": to_result(access_point.get("PosixUser")) or None,
        "root_directory": to_result(access_point.get("RootDirectory")) or None,
        "tags": tags_of(access_point),
    }


def access_point_result(access_point):
    if not access_point:
        return dict(access_point={}, access_point_id="", access_point_arn="")
    return dict(
        access_point=access_point_to_result(access_point),
        access_point_id=access_point.get("AccessPointId") or "",
        access_point_arn=access_point.get("AccessPointArn") or "",
    )


class AccessPointManager:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.what = "access point {0} of file system {1}".format(self.params["name"], self.params["file_system_id"])

    def find(self):
        try:
            access_points = list_access_points(self.client, self.params["file_system_id"])
        except (BotoCoreError, ClientError) as e:
            self.module.fail_json_aws(
                e, msg="Failed to list the access points of file system {0}".format(self.params["file_system_id"])
            )
        candidates = [
            ap
            for ap in access_points
            if ap.get("FileSystemId") == self.params["file_system_id"] and name_of(ap) == self.params["name"]
        ]
        access_point, error = choose(candidates, self.params)
        if error:
            self.module.fail_json(msg=error)
        return access_point

    def get(self, access_point_id):
        try:
            return self.client.describe_access_points(aws_retry=True, AccessPointId=access_point_id)["AccessPoints"][0]
        except (BotoCoreError, ClientError) as e:
            self.module.fail_json_aws(e, msg="Failed to describe {0}".format(self.what))

    def wait(self, waiter, access_point_id):
        wait_for(self.module, self.client, "efs", waiter, self.what, AccessPointId=access_point_id)

    def create_request(self):
        request = dict(
            ClientToken=str(uuid.uuid4()),
            FileSystemId=self.params["file_system_id"],
            Tags=ansible_dict_to_boto3_tag_list(dict(tags_to_str(self.params.get("tags")) or {}, Name=self.params["name"])),
        )
        posix = posix_user_spec(self.params.get("posix_user"))
        if posix:
            request["PosixUser"] = posix
        root = root_directory_spec(self.params.get("root_directory"))
        if root:
            request["RootDirectory"] = root
        return request

    def create(self, request):
        try:
            access_point = self.client.create_access_point(aws_retry=True, **request)
        except (BotoCoreError, ClientError) as e:
            self.module.fail_json_aws(e, msg="Failed to create {0}".format(self.what))
        access_point.pop("ResponseMetadata", None)
        if self.params["wait"]:
            self.wait("AccessPointAvailable", access_point["AccessPointId"])
            access_point = self.get(access_point["AccessPointId"])
        return access_point

    def delete(self, access_point_id, wait):
        try:
            self.client.delete_access_point(aws_retry=True, AccessPointId=access_point_id)
        except (BotoCoreError, ClientError) as e:
            if not is_not_found(e, ("AccessPointNotFound",)):
                self.module.fail_json_aws(e, msg="Failed to delete {0}".format(self.what))
        if wait:
            self.wait("AccessPointDeleted", access_point_id)

    def predicted(self, request):
        predicted = dict(request, LifeCycleState="creating")
        predicted.pop("ClientToken")
        predicted.setdefault("RootDirectory", {"Path": "/"})
        return predicted

    def ensure_present(self):
        try:
            request = self.create_request()
        except SpecError as e:
            self.module.fail_json(msg=str(e))
        access_point = self.find()
        if access_point is None:
            return self.present_create(request)

        changes = replacement_changes(access_point, self.params)
        if changes:
            return self.present_replace(access_point, changes, request)

        to_set, to_unset = tag_changes(tags_of(access_point), desired_tags(self.params), self.params["purge_tags"])
        changed = bool(to_set or to_unset)
        after = dict(access_point, Tags=ansible_dict_to_boto3_tag_list(tags_after(tags_of(access_point), to_set, to_unset)))
        result = dict(changed=changed, replaced=False)
        if self.module._diff:
            result["diff"] = make_diff(managed_view(access_point), managed_view(after))
        if self.module.check_mode or not changed:
            return dict(result, **access_point_result(after))
        ap_id = access_point["AccessPointId"]
        try:
            if to_unset:
                self.client.untag_resource(aws_retry=True, ResourceId=ap_id, TagKeys=to_unset)
            if to_set:
                self.client.tag_resource(aws_retry=True, ResourceId=ap_id, Tags=ansible_dict_to_boto3_tag_list(to_set))
        except (BotoCoreError, ClientError) as e:
            self.module.fail_json_aws(e, msg="Failed to update the tags of {0}".format(self.what))
        return dict(result, **access_point_result(self.get(ap_id)))

    def present_create(self, request):
        result = dict(changed=True, replaced=False)
        predicted = self.predicted(request)
        if self.module._diff:
            result["diff"] = make_diff({}, managed_view(predicted))
        if self.module.check_mode:
            return dict(result, **access_point_result(predicted))
        return dict(result, **access_point_result(self.create(request)))

    def present_replace(self, access_point, changes, request):
        if not self.params["replace_on_change"]:
            details = "; ".join("{0}: {1!r} -> {2!r}".format(f, o, n) for f, o, n in changes)
            self.module.fail_json(
                msg="EFS cannot change {0} of {1} ({2}, {3}). Set replace_on_change=true to delete it and "
                "create a new one (with a new ID), or use another name.".format(
                    ", ".join(f for f, _o, _n in changes), self.what, access_point["AccessPointId"], details
                ),
                replacements=[dict(field=f, current=o, desired=n) for f, o, n in changes],
                **access_point_result(access_point)
            )
        result = dict(changed=True, replaced=True)
        predicted = self.predicted(request)
        if self.module._diff:
            result["diff"] = make_diff(managed_view(access_point), managed_view(predicted))
        if self.module.check_mode:
            return dict(result, **access_point_result(predicted))
        self.delete(access_point["AccessPointId"], wait=True)
        return dict(result, **access_point_result(self.create(request)))

    def ensure_absent(self):
        access_point = self.find()
        result = dict(changed=access_point is not None, replaced=False, **access_point_result(None))
        if access_point is None:
            return result
        if self.module._diff:
            result["diff"] = make_diff(managed_view(access_point), {})
        if not self.module.check_mode:
            self.delete(access_point["AccessPointId"], wait=self.params["wait"])
        return result


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        file_system_id=dict(type="str", required=True),
        name=dict(type="str", required=True),
        posix_user=dict(
            type="dict",
            options=dict(
                uid=dict(type="int", required=True),
                gid=dict(type="int", required=True),
                secondary_gids=dict(type="list", elements="int"),
            ),
        ),
        root_directory=dict(
            type="dict",
            options=dict(
                path=dict(type="str", default="/"),
                creation_info=dict(
                    type="dict",
                    options=dict(
                        owner_uid=dict(type="int", required=True),
                        owner_gid=dict(type="int", required=True),
                        permissions=dict(type="raw", required=True),
                    ),
                ),
            ),
        ),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        replace_on_change=dict(type="bool", default=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    client = module.client("efs", retry_decorator=AWSRetry.jittered_backoff())
    manager = AccessPointManager(module, client)
    if module.params["state"] == "present":
        result = manager.ensure_present()
    else:
        result = manager.ensure_absent()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
