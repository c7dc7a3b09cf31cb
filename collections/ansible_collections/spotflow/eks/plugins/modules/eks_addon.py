#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: eks_addon
version_added: 0.1.0
short_description: Manage Amazon EKS add-ons
description:
  - Create, update and delete EKS managed add-ons, for example C(aws-efs-csi-driver),
    C(vpc-cni), C(coredns) or C(kube-proxy).
  - This module exists because neither C(amazon.aws) nor C(community.aws) has a module
    for EKS add-ons. Spotflow installs the EFS CSI driver as the managed add-on
    C(aws-efs-csi-driver) with an IAM role for its service account (IRSA).
  - An existing add-on is updated with C(UpdateAddon) when its version, service account
    role or configuration values differ from the options. Options left out are not
    managed.
author:
  - Spotflow maintainers (@spotflow)
options:
  state:
    description:
      - V(present) creates or updates the add-on; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  cluster_name:
    description:
      - Name of the EKS cluster.
    type: str
    required: true
  name:
    description:
      - Name of the add-on, as listed by C(aws eks describe-addon-versions).
    type: str
    required: true
    aliases: [addon_name]
  addon_version:
    description:
      - Version of the add-on, for example V(v2.1.4-eksbuild.1).
      - When left out, a new add-on gets the default version EKS names for the
        cluster's Kubernetes version (C(DescribeAddonVersions)), and an existing
        add-on keeps its version.
    type: str
  service_account_role_arn:
    description:
      - ARN of the IAM role the add-on's service account assumes (IRSA). The role's
        trust policy must trust the cluster's OIDC provider.
    type: str
  configuration_values:
    description:
      - Add-on configuration, as a dictionary or a JSON or YAML string that matches the
        schema from C(DescribeAddonConfiguration). Compared as data, not as text. It is
        sent as JSON.
      - V({}) removes the configuration.
    type: raw
  resolve_conflicts:
    description:
      - What EKS does with fields of the add-on's Kubernetes objects that differ from
        the add-on's defaults. V(OVERWRITE) replaces them, V(NONE) fails, V(PRESERVE)
        keeps them (on update).
      - Left out, the EKS default applies (V(NONE)).
    type: str
    choices: [OVERWRITE, NONE, PRESERVE]
  preserve:
    description:
      - With O(state=absent), keep the add-on's Kubernetes objects on the cluster and
        only stop managing them through EKS.
    type: bool
    default: false
  wait:
    description:
      - Wait for the add-on to be V(ACTIVE) after create or update, and to be gone after delete.
      - The add-on is V(DEGRADED) while its pods cannot run (for example before nodes
        joined). Waiting continues then, and a timeout reports the health issues.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait when O(wait=true).
    type: int
    default: 900
notes:
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
- name: EFS CSI driver as an EKS add-on, with its IRSA role
  spotflow.eks.eks_addon:
    cluster_name: spotflow-dev
    name: aws-efs-csi-driver
    service_account_role_arn: "{{ efs_csi_role.arn }}"
    resolve_conflicts: OVERWRITE
    configuration_values:
      controller:
        tolerations:
          - key: spotflow/spot
            operator: Exists
    tags:
      spotflow:cluster: spotflow-dev
      spotflow:component: efs_storage

- name: Pin a version
  spotflow.eks.eks_addon:
    cluster_name: spotflow-dev
    name: aws-efs-csi-driver
    addon_version: v2.1.4-eksbuild.1

- name: Remove the add-on but leave its Kubernetes objects running
  spotflow.eks.eks_addon:
    cluster_name: spotflow-dev
    name: aws-efs-csi-driver
    state: absent
    preserve: true
"""

RETURN = r"""
addon:
  description:
    - The add-on as C(DescribeAddon) returns it, with snake_case keys (tag keys kept).
    - Empty after O(state=absent). In check mode, the predicted add-on.
  returned: always
  type: dict
  contains:
    addon_name:
      description: Name of the add-on.
      type: str
      sample: aws-efs-csi-driver
    addon_arn:
      description: ARN of the add-on.
      type: str
      sample: arn:aws:eks:eu-west-1:123456789012:addon/spotflow-dev/aws-efs-csi-driver/a2c5b0e4-1111-2222-3333-444455556666
    addon_version:
      description: Installed version.
      type: str
      sample: v2.1.4-eksbuild.1
    cluster_name:
      description: Name of the cluster.
      type: str
    status:
      description: C(CREATING), C(ACTIVE), C(UPDATING), C(DELETING), C(DEGRADED) or a C(*_FAILED) state.
      type: str
      sample: ACTIVE
    service_account_role_arn:
      description: IAM role of the add-on's service account.
      type: str
    configuration_values:
      description: Configuration as EKS stores it (a JSON or YAML string).
      type: str
      sample: '{"controller": {"replicaCount": 1}}'
    health:
      description: Health issues EKS reports.
      type: dict
    tags:
      description: Tags of the add-on.
      type: dict
update_ids:
  description: IDs of the EKS updates this run started.
  returned: when the add-on was updated
  type: list
  elements: str
"""

import json
import re

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.spotflow.eks.plugins.module_utils.aws import describe_problem
from ansible_collections.spotflow.eks.plugins.module_utils.aws import is_not_found
from ansible_collections.spotflow.eks.plugins.module_utils.aws import make_diff
from ansible_collections.spotflow.eks.plugins.module_utils.aws import tag_changes
from ansible_collections.spotflow.eks.plugins.module_utils.aws import tags_after
from ansible_collections.spotflow.eks.plugins.module_utils.aws import tags_to_str
from ansible_collections.spotflow.eks.plugins.module_utils.aws import to_result
from ansible_collections.spotflow.eks.plugins.module_utils.aws import wait_for

BUSY_STATES = ("CREATING", "UPDATING", "DELETING")


class ConfigurationError(ValueError):
    pass


def parse_configuration(value):
    """Configuration values as data: None stays None (not managed); '' and None-ish text become {}."""
    if value is None:
        return None
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return {}
        try:
            data = json.loads(text)
        except ValueError:
            try:
                import yaml

                data = yaml.safe_load(text)
            except Exception as e:  # yaml missing or invalid: report the JSON error and the YAML one
                raise ConfigurationError("configuration_values is neither JSON nor YAML: {0}".format(e))
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ConfigurationError("configuration_values must be a mapping, not {0}".format(type(data).__name__))
        return data
    raise ConfigurationError("configuration_values must be a dict or a JSON/YAML string")


def configuration_text(data):
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def version_key(version):
    """Sort key for add-on versions like v1.7.5-eksbuild.2: numbers compared as numbers."""
    return [int(part) for part in re.findall(r"\d+", version or "")]


def pick_default_version(addon_versions, kubernetes_version):
    """The version EKS marks default for ``kubernetes_version``; else the newest compatible one."""
    compatible = []
    for info in addon_versions:
        for compat in info.get("compatibilities") or []:
            if compat.get("clusterVersion") != kubernetes_version:
                continue
            if compat.get("defaultVersion"):
                return info["addonVersion"]
            compatible.append(info["addonVersion"])
    if compatible:
        return sorted(compatible, key=version_key)[-1]
    return None


def addon_changes(addon, params):
    """UpdateAddon fields that differ (without names and resolveConflicts)."""
    request = {}
    if params.get("addon_version") and params["addon_version"] != addon.get("addonVersion"):
        request["addonVersion"] = params["addon_version"]
    role = params.get("service_account_role_arn")
    if role is not None and role != (addon.get("serviceAccountRoleArn") or ""):
        request["serviceAccountRoleArn"] = role
    desired = parse_configuration(params.get("configuration_values"))
    if desired is not None and desired != parse_configuration(addon.get("configurationValues") or ""):
        request["configurationValues"] = configuration_text(desired)
    return request


def managed_view(addon):
    if not addon:
        return {}
    config = addon.get("configurationValues")
    try:
        config = parse_configuration(config or "")
    except ConfigurationError:
        pass
    return {
        "addon_version": addon.get("addonVersion"),
        "service_account_role_arn": addon.get("serviceAccountRoleArn"),
        "configuration_values": config,
        "tags": dict(addon.get("tags") or {}),
    }


class AddonManager:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.cluster = self.params["cluster_name"]
        self.name = self.params["name"]
        self.what = "add-on {0} of cluster {1}".format(self.name, self.cluster)
        self.ids = dict(clusterName=self.cluster, addonName=self.name)

    def get(self):
        try:
            return self.client.describe_addon(aws_retry=True, **self.ids)["addon"]
        except (BotoCoreError, ClientError) as e:
            if is_not_found(e):
                return None
            self.module.fail_json_aws(e, msg="Failed to describe {0}".format(self.what))

    def wait(self, waiter, **extra):
        wait_for(self.module, self.client, "eks", waiter, self.what, **dict(self.ids, **extra))

    def default_version(self):
        try:
            cluster = self.client.describe_cluster(aws_retry=True, name=self.cluster)["cluster"]
            paginator = self.client.get_paginator("describe_addon_versions")
            pages = paginator.paginate(kubernetesVersion=cluster["version"], addonName=self.name).build_full_result()
        except (BotoCoreError, ClientError) as e:
            self.module.fail_json_aws(e, msg="Failed to find the default version of {0}".format(self.what))
        versions = []
        for addon in pages.get("addons", []):
            if addon.get("addonName") == self.name:
                versions.extend(addon.get("addonVersions") or [])
        version = pick_default_version(versions, cluster["version"])
        if not version:
            self.module.fail_json(
                msg="EKS offers no version of add-on {0} for Kubernetes {1} (cluster {2}); set addon_version".format(
                    self.name, cluster["version"], self.cluster
                )
            )
        return version

    def check_configuration(self):
        try:
            parse_configuration(self.params.get("configuration_values"))
        except ConfigurationError as e:
            self.module.fail_json(msg=str(e))

    def ensure_present(self):
        self.check_configuration()
        addon = self.get()
        if addon and addon["status"] == "DELETING":
            if not self.module.check_mode:
                self.wait("AddonDeleted")
            addon = None
        if addon is None:
            return self.create()
        return self.update(addon)

    def create(self):
        params = self.params
        request = dict(self.ids, addonVersion=params["addon_version"] or self.default_version())
        if params["service_account_role_arn"]:
            request["serviceAccountRoleArn"] = params["service_account_role_arn"]
        config = parse_configuration(params["configuration_values"])
        if config:
            request["configurationValues"] = configuration_text(config)
        if params["resolve_conflicts"]:
            request["resolveConflicts"] = params["resolve_conflicts"]
        if params["tags"]:
            request["tags"] = tags_to_str(params["tags"])

        predicted = dict(
            addonName=self.name,
            clusterName=self.cluster,
            status="CREATING",
            addonVersion=request["addonVersion"],
            serviceAccountRoleArn=request.get("serviceAccountRoleArn"),
            configurationValues=request.get("configurationValues"),
            tags=request.get("tags", {}),
        )
        result = dict(changed=True)
        if self.module._diff:
            result["diff"] = make_diff({}, managed_view(predicted))
        if self.module.check_mode:
            return dict(result, addon=to_result(predicted))
        try:
            addon = self.client.create_addon(aws_retry=True, **request)["addon"]
        except (BotoCoreError, ClientError) as e:
            self.module.fail_json_aws(e, msg="Failed to create {0}".format(self.what))
        if params["wait"]:
            self.wait("AddonActive")
            addon = self.get()
        return dict(result, addon=to_result(addon))

    def update(self, addon):
        params = self.params
        request = addon_changes(addon, params)
        to_set, to_unset = tag_changes(addon.get("tags"), params["tags"], params["purge_tags"])
        changed = bool(request or to_set or to_unset)

        after = dict(addon)
        after.update(request)
        after["tags"] = tags_after(addon.get("tags"), to_set, to_unset)
        result = dict(changed=changed)
        if self.module._diff:
            result["diff"] = make_diff(managed_view(addon), managed_view(after))
        if self.module.check_mode or not changed:
            return dict(result, addon=to_result(after))

        if request:
            if addon["status"] in BUSY_STATES:
                self.wait("AddonSettled")
            if params["resolve_conflicts"]:
                request["resolveConflicts"] = params["resolve_conflicts"]
            try:
                update = self.client.update_addon(aws_retry=True, **dict(self.ids, **request))["update"]
            except (BotoCoreError, ClientError) as e:
                self.module.fail_json_aws(e, msg="Failed to update {0}".format(self.what))
            result["update_ids"] = [update["id"]]
            if update.get("status") in ("Failed", "Cancelled"):
                self.module.fail_json(
                    msg="Update {0} of {1} failed: {2}".format(update["id"], self.what, describe_problem({"update": update})),
                    update=to_result(update),
                )
            if params["wait"]:
                if update.get("status") == "InProgress":
                    what = "update {0} of {1}".format(update["id"], self.what)
                    wait_for(self.module, self.client, "eks", "UpdateSuccessful", what,
                             name=self.cluster, addonName=self.name, updateId=update["id"])
                self.wait("AddonActive")
        if to_set or to_unset:
            try:
                if to_unset:
                    self.client.untag_resource(aws_retry=True, resourceArn=addon["addonArn"], tagKeys=to_unset)
                if to_set:
                    self.client.tag_resource(aws_retry=True, resourceArn=addon["addonArn"], tags=to_set)
            except (BotoCoreError, ClientError) as e:
                self.module.fail_json_aws(e, msg="Failed to update the tags of {0}".format(self.what))
        return dict(result, addon=to_result(self.get()))

    def ensure_absent(self):
        addon = self.get()
        if addon is None:
            return dict(changed=False, addon={})
        deleting = addon["status"] == "DELETING"
        result = dict(changed=not deleting, addon={})
        if self.module._diff:
            result["diff"] = make_diff(managed_view(addon), {})
        if self.module.check_mode:
            return result
        if not deleting:
            if addon["status"] in BUSY_STATES:
                self.wait("AddonSettled")
            try:
                self.client.delete_addon(aws_retry=True, preserve=self.params["preserve"], **self.ids)
            except (BotoCoreError, ClientError) as e:
                if not is_not_found(e):
                    self.module.fail_json_aws(e, msg="Failed to delete {0}".format(self.what))
        if self.params["wait"]:
            self.wait("AddonDeleted")
        return result


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        cluster_name=dict(type="str", required=True),
        name=dict(type="str", required=True, aliases=["addon_name"]),
        addon_version=dict(type="str"),
        service_account_role_arn=dict(type="str"),
        configuration_values=dict(type="raw"),
        resolve_conflicts=dict(type="str", choices=["OVERWRITE", "NONE", "PRESERVE"]),
        preserve=dict(type="bool", default=False),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=900),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    client = module.client("eks", retry_decorator=AWSRetry.jittered_backoff())
    manager = AddonManager(module, client)
    if module.params["state"] == "present":
        result = manager.ensure_present()
    else:
        result = manager.ensure_absent()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
