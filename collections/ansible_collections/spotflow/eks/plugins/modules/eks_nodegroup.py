#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: eks_nodegroup
version_added: 0.1.0
short_description: Manage Amazon EKS managed node groups, including label and taint updates
description:
  - Create, update in place, replace and delete Amazon EKS managed node groups.
  - This module exists because C(community.aws.eks_nodegroup) (10.0.0 and 11.2.0)
    cannot update an existing node group reliably. Changing O(taints) crashes with
    C(list indices must be integers or slices, not str) after it has already
    removed the labels, and a changed label B(value) is never detected.
  - Labels, taints, scaling and the update configuration are changed in place with
    one C(UpdateNodegroupConfig) request. Labels are identified by key; taints by key
    and effect, as Kubernetes does.
  - A new launch template O(launch_template.version) for the same template is
    rolled out with C(UpdateNodegroupVersion).
  - EKS cannot change O(node_role), O(subnets), O(instance_types), O(capacity_type),
    O(ami_type), O(disk_size) or the launch template itself on an existing node
    group. When one of them differs the module fails and lists the differences,
    unless O(replace_on_change=true).
  - Options left out are not managed. For example without O(labels) the labels stay
    as they are, and O(labels={}) removes them all.
author:
  - Spotflow maintainers (@spotflow)
options:
  state:
    description:
      - V(present) creates or updates the node group; V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  cluster_name:
    description:
      - Name of the EKS cluster the node group belongs to.
    type: str
    required: true
  name:
    description:
      - Name of the node group, unique within the cluster.
    type: str
    required: true
    aliases: [nodegroup_name]
  node_role:
    description:
      - ARN of the IAM role the nodes run with.
      - Required to create a node group. Cannot be changed in place.
    type: str
  subnets:
    description:
      - IDs of the subnets the nodes are launched in. Compared as a set.
      - Required to create a node group. Cannot be changed in place.
    type: list
    elements: str
  scaling:
    description:
      - Size of the node group's Auto Scaling group.
      - O(scaling.min_size) and O(scaling.max_size) are required to create a node group.
        Sizes left out on update keep their current value.
    type: dict
    aliases: [scaling_config]
    suboptions:
      min_size:
        description: Smallest number of nodes.
        type: int
      max_size:
        description: Largest number of nodes (at least 1).
        type: int
      desired_size:
        description:
          - Number of nodes to run.
          - Used at creation (default O(scaling.min_size), but at least 1).
          - On an existing node group see O(ignore_desired_size_changes).
        type: int
  ignore_desired_size_changes:
    description:
      - The desired size of a running node group belongs to whoever scales it (the
        cluster-autoscaler, or a person), like Terraform's common
        C(ignore_changes = [scaling_config[0].desired_size]) and eksctl's behaviour.
      - When V(true), O(scaling.desired_size) is only used at creation, and when the
        current desired size falls outside a new O(scaling.min_size)..O(scaling.max_size)
        range. The desired size is then set to O(scaling.desired_size) if given, else to
        the nearest bound.
      - When V(false), O(scaling.desired_size) is enforced on every run.
    type: bool
    default: true
  instance_types:
    description:
      - EC2 instance types of the nodes. The order is kept (it is the on-demand
        priority); for V(SPOT) give several similar types.
      - Cannot be changed in place. Leave out with O(launch_template) that sets the type.
    type: list
    elements: str
  capacity_type:
    description:
      - Purchase option of the nodes. Cannot be changed in place.
    type: str
    choices: [ON_DEMAND, SPOT, CAPACITY_BLOCK]
  ami_type:
    description:
      - AMI type, for example V(AL2023_x86_64_STANDARD), V(BOTTLEROCKET_x86_64) or
        V(CUSTOM) with a launch template. EKS picks one when left out.
      - Cannot be changed in place.
    type: str
  disk_size:
    description:
      - Root volume size in GiB. Cannot be changed in place.
      - Not allowed with O(launch_template) (set the volume in the template).
    type: int
  labels:
    description:
      - Kubernetes labels EKS puts on the nodes. This is the complete set, labels not
        listed are removed. Changed values are updated.
      - Values are strings. YAML booleans become V(true)/V(false).
    type: dict
  taints:
    description:
      - Kubernetes taints EKS puts on the nodes. This is the complete set, taints not
        listed are removed.
    type: list
    elements: dict
    suboptions:
      key:
        description: Taint key.
        type: str
        required: true
      value:
        description:
          - Taint value (optional). A string. YAML booleans become V(true)/V(false).
        type: raw
      effect:
        description:
          - V(NO_SCHEDULE), V(NO_EXECUTE) or V(PREFER_NO_SCHEDULE). The Kubernetes
            spellings V(NoSchedule), V(NoExecute) and V(PreferNoSchedule) are accepted
            too and sent to EKS in its own spelling, so one spelling can serve both
            Kubernetes tolerations and node groups.
        type: str
        required: true
  update_config:
    description:
      - How many nodes may be unavailable during a rolling update of the node group.
    type: dict
    suboptions:
      max_unavailable:
        description: Number of nodes.
        type: int
      max_unavailable_percentage:
        description: Percentage of nodes.
        type: int
  launch_template:
    description:
      - EC2 launch template for the nodes, by O(launch_template.id) or O(launch_template.name).
      - Switching to another template needs a replacement. A new O(launch_template.version)
        of the same template is rolled out in place.
    type: dict
    suboptions:
      id:
        description: Launch template ID.
        type: str
      name:
        description: Launch template name.
        type: str
      version:
        description: Launch template version. If left out, EKS uses the template's default version.
        type: str
  replace_on_change:
    description:
      - When a field that EKS cannot change in place differs, delete the node group,
        wait for the deletion and create it again under the same name.
      - The nodes are drained and replaced, and the group has no nodes for some
        minutes. Prefer a new node group with another name for zero downtime.
    type: bool
    default: false
  wait:
    description:
      - Wait for the node group to be V(ACTIVE) after create, for each update to be
        C(Successful), and for the node group to be gone after delete.
      - Also waits for a node group that is still C(CREATING) or C(UPDATING) from an earlier
        run with O(wait=false), so that creating several groups without waiting and then
        running again with O(wait=true) waits for all of them together.
      - A replacement always waits for the deletion before it creates the node group again.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for each step when O(wait=true).
    type: int
    default: 1200
notes:
  - Tags are applied to the node group resource with C(TagResource) and C(UntagResource).
    EKS does not propagate them to the Auto Scaling group or its instances.
  - Member of the action group C(spotflow.eks.aws), so C(module_defaults) for
    C(group/spotflow.eks.aws) sets the region, endpoint and credentials.
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
- name: Spot node group for Airflow workers
  spotflow.eks.eks_nodegroup:
    cluster_name: spotflow-dev
    name: spot-workers
    node_role: "{{ spotflow_cluster.node_role_arn }}"
    subnets: "{{ spotflow_cluster.private_subnet_ids }}"
    capacity_type: SPOT
    instance_types: [m5.large, m5a.large, m6i.large]
    ami_type: AL2023_x86_64_STANDARD
    scaling:
      min_size: 0
      max_size: 10
      desired_size: 2
    labels:
      lifecycle: Ec2Spot
      spotflow/role: worker
    taints:
      - key: spotflow/spot
        value: "true"
        effect: NoSchedule   # Kubernetes spelling: sent as NO_SCHEDULE
    update_config:
      max_unavailable_percentage: 33
    tags:
      spotflow:cluster: spotflow-dev
      spotflow:component: spot_nodegroup

- name: Move to bigger instances (EKS cannot change instance types in place)
  spotflow.eks.eks_nodegroup:
    cluster_name: spotflow-dev
    name: spot-workers
    node_role: "{{ spotflow_cluster.node_role_arn }}"
    subnets: "{{ spotflow_cluster.private_subnet_ids }}"
    capacity_type: SPOT
    instance_types: [m5.xlarge, m5a.xlarge]
    scaling:
      min_size: 0
      max_size: 10
    replace_on_change: true

- name: Enforce the desired size (no cluster-autoscaler on this group)
  spotflow.eks.eks_nodegroup:
    cluster_name: spotflow-dev
    name: system
    scaling:
      min_size: 2
      max_size: 4
      desired_size: 3
    ignore_desired_size_changes: false

- name: Delete the node group and wait until it is gone
  spotflow.eks.eks_nodegroup:
    cluster_name: spotflow-dev
    name: spot-workers
    state: absent
"""

RETURN = r"""
nodegroup:
  description:
    - The node group as C(DescribeNodegroup) returns it, with snake_case keys. Label and
      tag keys are kept as they are.
    - Empty after O(state=absent). In check mode, the predicted node group.
  returned: always
  type: dict
  contains:
    nodegroup_name:
      description: Name of the node group.
      type: str
      sample: spot-workers
    nodegroup_arn:
      description: ARN of the node group.
      type: str
      sample: arn:aws:eks:eu-west-1:123456789012:nodegroup/spotflow-dev/spot-workers/0ec7a1c2-1b2c-3d4e-5f60-718293a4b5c6
    cluster_name:
      description: Name of the cluster.
      type: str
    status:
      description: C(CREATING), C(ACTIVE), C(UPDATING), C(DELETING), C(CREATE_FAILED), C(DELETE_FAILED) or C(DEGRADED).
      type: str
      sample: ACTIVE
    capacity_type:
      description: C(ON_DEMAND), C(SPOT) or C(CAPACITY_BLOCK).
      type: str
      sample: SPOT
    instance_types:
      description: Instance types.
      type: list
      elements: str
      sample: [m5.large, m5a.large]
    scaling_config:
      description: Current C(min_size), C(max_size) and C(desired_size).
      type: dict
      sample: {"min_size": 0, "max_size": 10, "desired_size": 2}
    labels:
      description: Kubernetes labels of the nodes.
      type: dict
      sample: {"lifecycle": "Ec2Spot"}
    taints:
      description: Kubernetes taints of the nodes, effects in EKS spelling.
      type: list
      elements: dict
      sample: [{"key": "spotflow/spot", "value": "true", "effect": "NO_SCHEDULE"}]
    update_config:
      description: Rolling update limits.
      type: dict
      sample: {"max_unavailable": 1}
    resources:
      description: The node group's Auto Scaling groups (C(auto_scaling_groups[].name)) and remote access security group.
      type: dict
      sample: {"auto_scaling_groups": [{"name": "eks-spot-workers-0ec7a1c2"}]}
    subnets:
      description: Subnet IDs.
      type: list
      elements: str
    node_role:
      description: ARN of the node IAM role.
      type: str
    ami_type:
      description: AMI type.
      type: str
    disk_size:
      description: Root volume size in GiB (absent with a launch template).
      type: int
    launch_template:
      description: Launch template C(id), C(name) and C(version), when one is used.
      type: dict
    version:
      description: Kubernetes version of the nodes.
      type: str
    release_version:
      description: AMI release version.
      type: str
    health:
      description: Health issues EKS reports.
      type: dict
    tags:
      description: Tags of the node group.
      type: dict
      sample: {"spotflow:cluster": "spotflow-dev"}
update_ids:
  description: IDs of the EKS updates this run started (C(UpdateNodegroupConfig), C(UpdateNodegroupVersion)).
  returned: when an update was made
  type: list
  elements: str
  sample: [0f3b2e10-3a1c-3bb8-9a3c-5cd5c6f4b7c1]
replaced:
  description: Whether the node group was (or in check mode would be) deleted and created again.
  returned: always
  type: bool
  sample: false
"""

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
from ansible_collections.spotflow.eks.plugins.module_utils.aws import to_result
from ansible_collections.spotflow.eks.plugins.module_utils.aws import wait_for
from ansible_collections.spotflow.eks.plugins.module_utils.nodegroup import NodegroupSpecError
from ansible_collections.spotflow.eks.plugins.module_utils.nodegroup import apply_config_update
from ansible_collections.spotflow.eks.plugins.module_utils.nodegroup import config_update
from ansible_collections.spotflow.eks.plugins.module_utils.nodegroup import create_request
from ansible_collections.spotflow.eks.plugins.module_utils.nodegroup import launch_template_version_update
from ansible_collections.spotflow.eks.plugins.module_utils.nodegroup import managed_view
from ansible_collections.spotflow.eks.plugins.module_utils.nodegroup import predicted_nodegroup
from ansible_collections.spotflow.eks.plugins.module_utils.nodegroup import replacement_changes

BUSY_STATES = ("CREATING", "UPDATING", "DELETING")
FAILED_STATES = ("CREATE_FAILED", "DELETE_FAILED")


class NodegroupManager:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.cluster = self.params["cluster_name"]
        self.name = self.params["name"]
        self.what = "node group {0} of cluster {1}".format(self.name, self.cluster)
        self.ids = dict(clusterName=self.cluster, nodegroupName=self.name)
        self.update_ids = []

    # ------------------------------------------------------------ AWS calls

    def get(self):
        try:
            return self.client.describe_nodegroup(aws_retry=True, **self.ids)["nodegroup"]
        except (BotoCoreError, ClientError) as e:
            if is_not_found(e):
                return None
            self.module.fail_json_aws(e, msg="Failed to describe {0}".format(self.what))

    def wait(self, waiter, **extra):
        wait_for(self.module, self.client, "eks", waiter, self.what, **dict(self.ids, **extra))

    def create(self):
        try:
            request = create_request(self.params)
        except NodegroupSpecError as e:
            self.module.fail_json(msg=str(e))
        try:
            nodegroup = self.client.create_nodegroup(aws_retry=True, **request)["nodegroup"]
        except (BotoCoreError, ClientError) as e:
            self.module.fail_json_aws(e, msg="Failed to create {0}".format(self.what))
        if self.params["wait"]:
            self.wait("NodegroupActive")
            nodegroup = self.get()
        return nodegroup

    def delete(self, wait):
        try:
            self.client.delete_nodegroup(aws_retry=True, **self.ids)
        except (BotoCoreError, ClientError) as e:
            if not is_not_found(e):
                self.module.fail_json_aws(e, msg="Failed to delete {0}".format(self.what))
        if wait:
            self.wait("NodegroupDeleted")

    def wait_update(self, update, wait):
        """Wait for an update; EKS refuses a second update while one runs, so
        ``wait`` is forced when another request follows."""
        self.update_ids.append(update["id"])
        if wait and update.get("status") == "InProgress":
            wait_for(self.module, self.client, "eks", "UpdateSuccessful", "update {0} of {1}".format(update["id"], self.what),
                     name=self.cluster, nodegroupName=self.name, updateId=update["id"])
        elif update.get("status") in ("Failed", "Cancelled"):
            self.module.fail_json(
                msg="Update {0} of {1} failed: {2}".format(update["id"], self.what, describe_problem({"update": update})),
                update=to_result(update),
            )

    def settle(self, nodegroup):
        """Wait for a node group in transition, so the next request is accepted."""
        if nodegroup["status"] in BUSY_STATES:
            self.wait("NodegroupSettled")
            return self.get()
        return nodegroup

    # ------------------------------------------------------------ states

    def fail_spec(self, exc):
        self.module.fail_json(msg=str(exc))

    def ensure_present(self):
        nodegroup = self.get()
        if nodegroup and nodegroup["status"] == "DELETING":
            if self.module.check_mode:
                nodegroup = None
            else:
                self.wait("NodegroupDeleted")
                nodegroup = None

        if nodegroup is None:
            return self.present_create()

        if self.params["wait"] and nodegroup["status"] in ("CREATING", "UPDATING") and not self.module.check_mode:
            # An earlier run started it without waiting (wait=false): wait=true
            # means the group has settled when the task returns.
            nodegroup = self.settle(nodegroup)
            if nodegroup is None:
                return self.present_create()

        if nodegroup["status"] in FAILED_STATES:
            self.module.fail_json(
                msg="{0} is {1} ({2}); delete it (state=absent) and run again".format(
                    self.what, nodegroup["status"], describe_problem({"nodegroup": nodegroup})
                ),
                nodegroup=to_result(nodegroup),
            )

        replacements, payload, version_update = self.changes(nodegroup)
        if nodegroup["status"] in BUSY_STATES and (payload or version_update) and not self.module.check_mode:
            # EKS refuses updates while the node group is CREATING or UPDATING:
            # wait, then work out the changes again from what it became.
            nodegroup = self.settle(nodegroup)
            if nodegroup is None:
                return self.present_create()
            replacements, payload, version_update = self.changes(nodegroup)

        if replacements:
            return self.present_replace(nodegroup, replacements)
        return self.present_update(nodegroup, payload, version_update)

    def changes(self, nodegroup):
        """``(replacements, UpdateNodegroupConfig payload, UpdateNodegroupVersion launchTemplate)``."""
        try:
            return (
                replacement_changes(nodegroup, self.params),
                config_update(nodegroup, self.params),
                launch_template_version_update(nodegroup, self.params),
            )
        except NodegroupSpecError as e:
            self.fail_spec(e)

    def present_create(self):
        try:
            predicted = predicted_nodegroup(self.params)
        except NodegroupSpecError as e:
            self.fail_spec(e)
        result = dict(changed=True, replaced=False)
        if self.module._diff:
            result["diff"] = make_diff({}, managed_view(predicted))
        if self.module.check_mode:
            return dict(result, nodegroup=to_result(predicted))
        return dict(result, nodegroup=to_result(self.create()))

    def present_replace(self, nodegroup, replacements):
        if not self.params["replace_on_change"]:
            details = "; ".join("{0}: {1!r} -> {2!r}".format(field, old, new) for field, old, new in replacements)
            self.module.fail_json(
                msg="EKS cannot change {0} of the existing {1} ({2}). Set replace_on_change=true to delete "
                "and recreate it under the same name, or create a node group with another name.".format(
                    ", ".join(field for field, _old, _new in replacements), self.what, details
                ),
                replacements=[dict(field=f, current=o, desired=n) for f, o, n in replacements],
                nodegroup=to_result(nodegroup),
            )
        try:
            predicted = predicted_nodegroup(self.params)
        except NodegroupSpecError as e:
            self.fail_spec(e)
        result = dict(changed=True, replaced=True)
        if self.module._diff:
            result["diff"] = make_diff(managed_view(nodegroup), managed_view(predicted))
        if self.module.check_mode:
            return dict(result, nodegroup=to_result(predicted))
        self.settle(nodegroup)
        self.delete(wait=True)
        return dict(result, nodegroup=to_result(self.create()))

    def present_update(self, nodegroup, payload, version_update):
        to_set, to_unset = tag_changes(nodegroup.get("tags"), self.params["tags"], self.params["purge_tags"])
        changed = bool(payload or version_update or to_set or to_unset)
        after = apply_config_update(nodegroup, payload)
        after["tags"] = tags_after(nodegroup.get("tags"), to_set, to_unset)
        if version_update:
            after["launchTemplate"] = dict(nodegroup.get("launchTemplate") or {}, **version_update)

        result = dict(changed=changed, replaced=False)
        if self.module._diff:
            result["diff"] = make_diff(managed_view(nodegroup), managed_view(after))
        if self.module.check_mode or not changed:
            return dict(result, nodegroup=to_result(after))

        wait = self.params["wait"]
        if payload:
            try:
                update = self.client.update_nodegroup_config(aws_retry=True, **dict(self.ids, **payload))["update"]
            except (BotoCoreError, ClientError) as e:
                self.module.fail_json_aws(e, msg="Failed to update the configuration of {0}".format(self.what))
            self.wait_update(update, wait or bool(version_update))
        if version_update:
            try:
                update = self.client.update_nodegroup_version(
                    aws_retry=True, launchTemplate=version_update, **self.ids
                )["update"]
            except (BotoCoreError, ClientError) as e:
                self.module.fail_json_aws(e, msg="Failed to roll out launch template version of {0}".format(self.what))
            self.wait_update(update, wait)
        if to_set or to_unset:
            self.retag(nodegroup["nodegroupArn"], to_set, to_unset)

        result["update_ids"] = self.update_ids
        return dict(result, nodegroup=to_result(self.get()))

    def retag(self, arn, to_set, to_unset):
        try:
            if to_unset:
                self.client.untag_resource(aws_retry=True, resourceArn=arn, tagKeys=to_unset)
            if to_set:
                self.client.tag_resource(aws_retry=True, resourceArn=arn, tags=to_set)
        except (BotoCoreError, ClientError) as e:
            self.module.fail_json_aws(e, msg="Failed to update the tags of {0}".format(self.what))

    def ensure_absent(self):
        nodegroup = self.get()
        if nodegroup is None:
            return dict(changed=False, replaced=False, nodegroup={})
        result = dict(changed=nodegroup["status"] != "DELETING", replaced=False, nodegroup={})
        if self.module._diff:
            result["diff"] = make_diff(managed_view(nodegroup), {})
        if self.module.check_mode:
            return result
        if nodegroup["status"] == "DELETING":
            if self.params["wait"]:
                self.wait("NodegroupDeleted")
            return result
        self.settle(nodegroup)
        self.delete(wait=self.params["wait"])
        return result


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        cluster_name=dict(type="str", required=True),
        name=dict(type="str", required=True, aliases=["nodegroup_name"]),
        node_role=dict(type="str"),
        subnets=dict(type="list", elements="str"),
        scaling=dict(
            type="dict",
            aliases=["scaling_config"],
            options=dict(
                min_size=dict(type="int"),
                max_size=dict(type="int"),
                desired_size=dict(type="int"),
            ),
        ),
        ignore_desired_size_changes=dict(type="bool", default=True),
        instance_types=dict(type="list", elements="str"),
        capacity_type=dict(type="str", choices=["ON_DEMAND", "SPOT", "CAPACITY_BLOCK"]),
        ami_type=dict(type="str"),
        disk_size=dict(type="int"),
        labels=dict(type="dict"),
        taints=dict(
            type="list",
            elements="dict",
            options=dict(
                key=dict(type="str", required=True, no_log=False),
                value=dict(type="raw"),
                effect=dict(type="str", required=True),
            ),
        ),
        update_config=dict(
            type="dict",
            options=dict(
                max_unavailable=dict(type="int"),
                max_unavailable_percentage=dict(type="int"),
            ),
            mutually_exclusive=[["max_unavailable", "max_unavailable_percentage"]],
        ),
        launch_template=dict(
            type="dict",
            options=dict(
                id=dict(type="str"),
                name=dict(type="str"),
                version=dict(type="str"),
            ),
            required_one_of=[["id", "name"]],
        ),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        replace_on_change=dict(type="bool", default=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1200),
    )
    module = AnsibleAWSModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[["launch_template", "disk_size"]],
    )
    client = module.client("eks", retry_decorator=AWSRetry.jittered_backoff())
    manager = NodegroupManager(module, client)
    if module.params["state"] == "present":
        result = manager.ensure_present()
    else:
        result = manager.ensure_absent()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
