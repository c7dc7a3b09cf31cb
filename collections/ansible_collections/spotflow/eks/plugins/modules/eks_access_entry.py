#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: eks_access_entry
version_added: 0.2.0
short_description: Manage an Amazon EKS access entry and its access policies
description:
  - Grants an IAM principal (user or role) access to an EKS cluster's Kubernetes API with an
    access entry (C(CreateAccessEntry)), optionally with Kubernetes groups, a username and
    EKS access policies such as C(AmazonEKSClusterAdminPolicy) (C(AssociateAccessPolicy)).
  - Neither C(amazon.aws) nor C(community.aws) has a module for access entries. Without them
    only the principal that created a cluster can use it.
  - The cluster's authentication mode must be V(API) or V(API_AND_CONFIG_MAP)
    (see M(spotflow.eks.eks_cluster) O(spotflow.eks.eks_cluster#module:authentication_mode)).
  - Options left out are not managed. The O(type) of an existing entry cannot change; the
    module fails and says so.
author:
  - Spotflow maintainers (@spotflow)
options:
  state:
    description:
      - V(present) creates or updates the entry; V(absent) deletes it with its policy associations.
    type: str
    choices: [present, absent]
    default: present
  cluster_name:
    description: Name of the EKS cluster.
    type: str
    required: true
  principal_arn:
    description:
      - ARN of the IAM user or role, for example V(arn:aws:iam::123456789012:role/ci). For a role,
        give the role ARN, not an C(assumed-role) session ARN.
    type: str
    required: true
  type:
    description:
      - Type of the entry at creation. EKS creates the node roles' entries of managed node groups itself.
    type: str
    choices: [STANDARD, EC2_LINUX, EC2_WINDOWS, FARGATE_LINUX]
    default: STANDARD
  kubernetes_groups:
    description:
      - Kubernetes groups the principal is in (bind RBAC roles to them). Names cannot start with C(system:).
      - Compared as a set.
    type: list
    elements: str
  username:
    description:
      - Kubernetes username. EKS derives one from the principal when it is left out at creation.
    type: str
  access_policies:
    description:
      - EKS access policies to associate, each with its scope. The entry's other associations are
        removed (O(purge_access_policies)).
    type: list
    elements: dict
    suboptions:
      policy_arn:
        description:
          - ARN of the access policy, or its name (V(AmazonEKSClusterAdminPolicy), V(AmazonEKSAdminPolicy),
            V(AmazonEKSEditPolicy), V(AmazonEKSViewPolicy), ...), which is completed with the partition of
            O(principal_arn).
        type: str
        required: true
      namespaces:
        description:
          - Namespaces the policy applies to. Empty or left out means the whole cluster.
        type: list
        elements: str
  purge_access_policies:
    description:
      - Remove associations not listed in O(access_policies). Ignored when O(access_policies) is left out.
    type: bool
    default: true
notes:
  - Member of the action group C(spotflow.eks.aws), so C(module_defaults) for
    C(group/spotflow.eks.aws) sets the region, endpoint and credentials.
  - Access entries take effect in seconds; EKS has no update to wait for.
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
- name: Make the CI role a cluster admin
  spotflow.eks.eks_access_entry:
    cluster_name: spotflow-dev
    principal_arn: arn:aws:iam::123456789012:role/ci
    access_policies:
      - policy_arn: AmazonEKSClusterAdminPolicy

- name: Let the data team view the airflow namespace
  spotflow.eks.eks_access_entry:
    cluster_name: spotflow-dev
    principal_arn: arn:aws:iam::123456789012:role/data-team
    kubernetes_groups: [airflow-viewers]
    access_policies:
      - policy_arn: AmazonEKSViewPolicy
        namespaces: [airflow]

- name: Revoke it
  spotflow.eks.eks_access_entry:
    cluster_name: spotflow-dev
    principal_arn: arn:aws:iam::123456789012:role/data-team
    state: absent
"""

RETURN = r"""
access_entry:
  description:
    - The entry as C(DescribeAccessEntry) returns it, with snake_case keys (tag keys kept). Empty
      after O(state=absent). In check mode, the predicted entry.
  returned: always
  type: dict
  contains:
    principal_arn:
      description: The IAM principal.
      type: str
      sample: arn:aws:iam::123456789012:role/ci
    access_entry_arn:
      description: ARN of the entry.
      type: str
    kubernetes_groups:
      description: Kubernetes groups.
      type: list
      elements: str
    username:
      description: Kubernetes username.
      type: str
    type:
      description: Entry type.
      type: str
      sample: STANDARD
    tags:
      description: Tags of the entry.
      type: dict
access_policies:
  description: The associated access policies (C(policy_arn), C(access_scope)) after the task.
  returned: always
  type: list
  elements: dict
  sample: [{"policy_arn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
            "access_scope": {"type": "cluster", "namespaces": []}}]
"""

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.spotflow.eks.plugins.module_utils.aws import is_not_found
from ansible_collections.spotflow.eks.plugins.module_utils.aws import make_diff
from ansible_collections.spotflow.eks.plugins.module_utils.aws import tag_changes
from ansible_collections.spotflow.eks.plugins.module_utils.aws import tags_after
from ansible_collections.spotflow.eks.plugins.module_utils.aws import to_result

# ---------------------------------------------------------------- pure logic


def policy_arn(name_or_arn, principal_arn):
    """A full access policy ARN; a bare name takes the partition of the principal."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn
    partition = principal_arn.split(":")[1] if principal_arn.count(":") >= 5 else "aws"
    return "arn:{0}:eks::aws:cluster-access-policy/{1}".format(partition, name_or_arn)


def access_scope(namespaces):
    namespaces = sorted(set(namespaces or []))
    return {"type": "namespace", "namespaces": namespaces} if namespaces else {"type": "cluster"}


def scope_key(scope):
    return (scope.get("type"), tuple(sorted(scope.get("namespaces") or [])))


def desired_policies(params):
    """{policy ARN: scope} asked for, or None when not managed."""
    if params.get("access_policies") is None:
        return None
    return dict((policy_arn(p["policy_arn"], params["principal_arn"]), access_scope(p.get("namespaces")))
                for p in params["access_policies"])


def policy_changes(current, desired, purge):
    """(to_associate {arn: scope}, to_disassociate [arn]) from current {arn: scope}."""
    if desired is None:
        return {}, []
    to_associate = dict((arn, scope) for arn, scope in desired.items()
                        if arn not in current or scope_key(current[arn]) != scope_key(scope))
    to_disassociate = sorted(arn for arn in current if arn not in desired) if purge else []
    return to_associate, to_disassociate


def entry_changes(entry, params):
    """UpdateAccessEntry fields that differ, or {}."""
    change = {}
    groups = params.get("kubernetes_groups")
    if groups is not None and sorted(set(groups)) != sorted(set(entry.get("kubernetesGroups") or [])):
        change["kubernetesGroups"] = sorted(set(groups))
    if params.get("username") and params["username"] != entry.get("username"):
        change["username"] = params["username"]
    return change


def view(entry, policies):
    """The managed fields, for the diff."""
    if not entry:
        return {}
    return {
        "principal_arn": entry.get("principalArn"),
        "type": entry.get("type"),
        "kubernetes_groups": sorted(entry.get("kubernetesGroups") or []),
        "username": entry.get("username"),
        # the scope: "cluster", or the namespaces
        "access_policies": dict((arn, list(scope_key(scope)[1]) or "cluster") for arn, scope in policies.items()),
        "tags": dict(entry.get("tags") or {}),
    }


def policies_result(policies):
    return [{"policy_arn": arn, "access_scope": {"type": scope.get("type"), "namespaces": list(scope.get("namespaces") or [])}}
            for arn, scope in sorted(policies.items())]


# ---------------------------------------------------------------- AWS side


class AccessEntry:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.key = dict(clusterName=self.params["cluster_name"], principalArn=self.params["principal_arn"])
        self.what = "the access entry of {0} on EKS cluster {1}".format(self.params["principal_arn"], self.params["cluster_name"])

    def call(self, action, method, **kwargs):
        try:
            return getattr(self.client, method)(aws_retry=True, **kwargs)
        except (BotoCoreError, ClientError) as e:
            self.module.fail_json_aws(e, msg="Failed to {0} {1}".format(action, self.what))

    def get(self):
        try:
            entry = self.client.describe_access_entry(aws_retry=True, **self.key)["accessEntry"]
        except (BotoCoreError, ClientError) as e:
            if is_not_found(e):
                return None, {}
            self.module.fail_json_aws(e, msg="Failed to describe {0}".format(self.what))
        policies = {}
        token = None
        while True:
            page = self.call("list the access policies of", "list_associated_access_policies",
                             **dict(self.key, **({"nextToken": token} if token else {})))
            for p in page.get("associatedAccessPolicies") or []:
                policies[p["policyArn"]] = p.get("accessScope") or {}
            token = page.get("nextToken")
            if not token:
                return entry, policies

    def present(self):
        entry, policies = self.get()
        desired = desired_policies(self.params)
        to_associate, to_disassociate = policy_changes(policies, desired, self.params["purge_access_policies"])
        if entry is None:
            after = dict(self.key, type=self.params["type"], kubernetesGroups=sorted(set(self.params["kubernetes_groups"] or [])),
                         username=self.params["username"], tags=dict(self.params["tags"] or {}))
            changes, to_set, to_unset = {}, {}, []
        else:
            if self.params["type"] != entry.get("type"):
                self.module.fail_json(msg="EKS cannot change the type of {0}: it is {1}, type is {2}. Delete it "
                                          "(state=absent) first.".format(self.what, entry.get("type"), self.params["type"]),
                                      access_entry=to_result(entry))
            changes = entry_changes(entry, self.params)
            to_set, to_unset = tag_changes(entry.get("tags"), self.params["tags"], self.params["purge_tags"])
            after = dict(entry, **changes)
            after["tags"] = tags_after(entry.get("tags"), to_set, to_unset)
        policies_after = dict((arn, scope) for arn, scope in policies.items() if arn not in to_disassociate)
        policies_after.update(to_associate)
        changed = entry is None or bool(changes or to_set or to_unset or to_associate or to_disassociate)
        result = dict(changed=changed)
        if self.module._diff:
            result["diff"] = make_diff(view(entry, policies), view(after, policies_after))
        if self.module.check_mode or not changed:
            return dict(result, access_entry=to_result(after), access_policies=policies_result(policies_after))
        if entry is None:
            request = dict(self.key, type=self.params["type"])
            if self.params["kubernetes_groups"]:
                request["kubernetesGroups"] = sorted(set(self.params["kubernetes_groups"]))
            if self.params["username"]:
                request["username"] = self.params["username"]
            if self.params["tags"]:
                request["tags"] = dict((str(k), str(v)) for k, v in self.params["tags"].items())
            entry = self.call("create", "create_access_entry", **request)["accessEntry"]
        else:
            if changes:
                self.call("update", "update_access_entry", **dict(self.key, **changes))
            if to_unset:
                self.call("untag", "untag_resource", resourceArn=entry["accessEntryArn"], tagKeys=to_unset)
            if to_set:
                self.call("tag", "tag_resource", resourceArn=entry["accessEntryArn"], tags=to_set)
        for arn in to_disassociate:
            self.call("disassociate {0} from".format(arn), "disassociate_access_policy", policyArn=arn, **self.key)
        for arn, scope in sorted(to_associate.items()):
            self.call("associate {0} with".format(arn), "associate_access_policy", policyArn=arn, accessScope=scope, **self.key)
        entry, policies = self.get()
        return dict(result, access_entry=to_result(entry), access_policies=policies_result(policies))

    def absent(self):
        entry, policies = self.get()
        result = dict(changed=entry is not None, access_entry={}, access_policies=[])
        if self.module._diff:
            result["diff"] = make_diff(view(entry, policies), {})
        if entry is not None and not self.module.check_mode:
            try:
                self.client.delete_access_entry(aws_retry=True, **self.key)
            except (BotoCoreError, ClientError) as e:
                if not is_not_found(e):
                    self.module.fail_json_aws(e, msg="Failed to delete {0}".format(self.what))
        return result


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        cluster_name=dict(type="str", required=True),
        principal_arn=dict(type="str", required=True),
        type=dict(type="str", choices=["STANDARD", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX"], default="STANDARD"),
        kubernetes_groups=dict(type="list", elements="str"),
        username=dict(type="str"),
        access_policies=dict(type="list", elements="dict", options=dict(
            policy_arn=dict(type="str", required=True),
            namespaces=dict(type="list", elements="str"),
        )),
        purge_access_policies=dict(type="bool", default=True),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    groups = [g for g in module.params["kubernetes_groups"] or [] if g.startswith("system:")]
    if groups:
        module.fail_json(msg="kubernetes_groups cannot start with 'system:' (EKS refuses them): {0}".format(", ".join(groups)))
    client = module.client("eks", retry_decorator=AWSRetry.jittered_backoff())
    entry = AccessEntry(module, client)
    module.exit_json(**(entry.present() if module.params["state"] == "present" else entry.absent()))


if __name__ == "__main__":
    main()
