#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: eks_cluster
version_added: 0.1.0
short_description: Manage an Amazon EKS cluster with endpoint access, logging, encryption and in-place updates
description:
  - Create, update in place and delete an Amazon EKS cluster (the control plane).
  - This module exists because C(community.aws.eks_cluster) (11.2.0) cannot set the
    API endpoint access (private/public, public CIDRs), control-plane logging,
    envelope encryption of secrets or the support type, neither at creation nor later;
    it fails on a version change instead of upgrading, and it never updates tags.
    Creating the cluster with it and fixing those settings afterwards is no way
    round that. The public endpoint would stay open to C(0.0.0.0/0) for the whole
    creation (10 minutes or more), each fix is one more EKS update of several
    minutes, and fixes are only accepted once the cluster is C(ACTIVE), so
    O(wait=false) could not be honoured.
  - Settings that can change later are updated in place, one EKS update at a time
    (EKS refuses a second update while one runs). Each update is waited for until it is
    C(Successful), also with O(wait=false).
    Endpoint access and public CIDRs and the support type use C(UpdateClusterConfig),
    as do the log types and the authentication mode (separate requests). O(encryption_key_arn) on a cluster
    without encryption uses C(AssociateEncryptionConfig). O(version) one minor
    version above the current one uses C(UpdateClusterVersion). Tags use
    C(TagResource) and C(UntagResource).
  - EKS cannot change the role, the encryption key once set, go down a version, or take an
    authentication mode back towards C(CONFIG_MAP).
    The module does not change subnets or security groups of an existing cluster.
    When one of them differs the module fails and says which.
  - Options left out are not managed.
author:
  - Spotflow maintainers (@spotflow)
options:
  state:
    description:
      - V(present) creates or updates the cluster; V(absent) deletes it.
      - EKS refuses to delete a cluster that still has node groups or Fargate profiles.
        Delete them first.
    type: str
    choices: [present, absent]
    default: present
  name:
    description:
      - Name of the cluster.
    type: str
    required: true
  version:
    description:
      - Kubernetes version (C(major.minor)), for example V(1.35). EKS picks its default when
        it is left out at creation.
      - On an existing cluster a version one minor above the current one starts an upgrade.
        Going down, or more than one minor at a time, fails.
    type: str
  role_arn:
    description:
      - ARN of the IAM role the control plane uses. Required to create a cluster. Cannot be changed.
    type: str
  subnets:
    description:
      - Subnets for the control plane's network interfaces, in at least two Availability Zones.
        Required to create a cluster. Compared as a set; not changed on an existing cluster.
    type: list
    elements: str
  security_groups:
    description:
      - IDs of extra security groups for the control plane's network interfaces. EKS creates the
        cluster security group itself.
      - Compared as a set; not changed on an existing cluster.
    type: list
    elements: str
  endpoint_private_access:
    description:
      - Whether the API endpoint is reachable from inside the VPC.
    type: bool
  endpoint_public_access:
    description:
      - Whether the API endpoint is reachable from the internet (limited by O(public_access_cidrs)).
    type: bool
  public_access_cidrs:
    description:
      - CIDR blocks allowed to reach the public endpoint. EKS uses C(0.0.0.0/0) when none are given
        with a public endpoint. Compared as a set.
    type: list
    elements: str
  log_types:
    description:
      - Control-plane log types sent to CloudWatch Logs; the other types are turned off.
        V([]) turns them all off.
    type: list
    elements: str
    choices: [api, audit, authenticator, controllerManager, scheduler]
  encryption_key_arn:
    description:
      - ARN of a KMS key for envelope encryption of Kubernetes secrets.
      - Can be added to an existing cluster, but never changed or removed.
    type: str
  authentication_mode:
    description:
      - Which IAM principals get into Kubernetes. V(API) uses EKS access entries only (see
        M(spotflow.eks.eks_access_entry)); V(API_AND_CONFIG_MAP) also reads the C(aws-auth)
        ConfigMap; V(CONFIG_MAP) only the ConfigMap.
      - EKS uses V(CONFIG_MAP) when CreateCluster is sent without one, and then only the principal
        that created the cluster can use Kubernetes (it is not even listed anywhere), so a colleague
        or a CI role gets C(Unauthorized), teardown included. Prefer V(API).
      - An existing cluster is moved one way only, one step at a time as EKS requires
        (V(CONFIG_MAP) -> V(API_AND_CONFIG_MAP) -> V(API)); asking to go back fails.
    type: str
    choices: [API, API_AND_CONFIG_MAP, CONFIG_MAP]
  bootstrap_cluster_creator_admin_permissions:
    description:
      - At creation only, whether the principal that creates the cluster becomes cluster admin
        (with O(authentication_mode=API) an access entry with C(AmazonEKSClusterAdminPolicy)).
        EKS defaults to V(true). Cannot be changed later; ignored on an existing cluster.
      - V(false) with O(authentication_mode=API) leaves nobody in Kubernetes until an access entry is made.
    type: bool
  support_type:
    description:
      - EKS support policy. With V(STANDARD) EKS upgrades the control plane when standard
        support of its version ends. With V(EXTENDED) the cluster stays on its version for
        up to 12 more months, at a higher hourly price.
      - Only compared when EKS reports the cluster's upgrade policy.
    type: str
    choices: [STANDARD, EXTENDED]
  wait:
    description:
      - Wait for the cluster to be C(ACTIVE) after creation (and before updating a cluster that
        is being created or updated), and for it to be gone after deletion.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for each step.
    type: int
    default: 1800
notes:
  - Member of the action group C(spotflow.eks.aws), so C(module_defaults) for
    C(group/spotflow.eks.aws) sets the region, endpoint and credentials.
  - Use M(spotflow.eks.eks_cluster_info) to read a cluster without changing it.
  - A cluster role created seconds earlier is often refused by C(CreateCluster) ("could not be
    assumed") until IAM has propagated it; the module retries that answer for up to 120 seconds
    (AWSRetry alone retries throttling only).
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
- name: EKS cluster with a private endpoint and a public one for the office only
  spotflow.eks.eks_cluster:
    name: spotflow-dev
    version: "1.35"
    role_arn: arn:aws:iam::123456789012:role/spotflow-dev-eks-cluster
    subnets: [subnet-0a1b2c3d4e5f60718, subnet-1a1b2c3d4e5f60718, subnet-2a1b2c3d4e5f60718]
    endpoint_private_access: true
    endpoint_public_access: true
    public_access_cidrs: [203.0.113.0/24]
    log_types: [api, audit, authenticator]
    encryption_key_arn: arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b
    support_type: STANDARD
    authentication_mode: API
    tags:
      spotflow:cluster: spotflow-dev
      spotflow:component: eks_cluster

- name: Start creating the cluster and return at once
  spotflow.eks.eks_cluster:
    name: spotflow-dev
    version: "1.35"
    role_arn: arn:aws:iam::123456789012:role/spotflow-dev-eks-cluster
    subnets: [subnet-0a1b2c3d4e5f60718, subnet-1a1b2c3d4e5f60718]
    wait: false

- name: Delete the cluster (its node groups first) and wait until it is gone
  spotflow.eks.eks_cluster:
    name: spotflow-dev
    state: absent
"""

RETURN = r"""
cluster:
  description:
    - The cluster as C(DescribeCluster) returns it, with snake_case keys (tag keys kept).
    - Empty after O(state=absent). In check mode, the predicted cluster.
  returned: always
  type: dict
  contains:
    name:
      description: Name of the cluster.
      type: str
      sample: spotflow-dev
    arn:
      description: ARN of the cluster.
      type: str
      sample: arn:aws:eks:eu-west-1:123456789012:cluster/spotflow-dev
    status:
      description: C(CREATING), C(ACTIVE), C(UPDATING), C(DELETING) or C(FAILED).
      type: str
      sample: ACTIVE
    version:
      description: Kubernetes version.
      type: str
      sample: "1.35"
    endpoint:
      description: URL of the API server (once the cluster is C(ACTIVE)).
      type: str
      sample: https://0123456789ABCDEF0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com
    certificate_authority:
      description: C(data), the base64 PEM of the cluster CA (once the cluster is C(ACTIVE)).
      type: dict
    identity:
      description: C(oidc.issuer), the OIDC issuer URL for IAM roles for service accounts.
      type: dict
      sample: {"oidc": {"issuer": "https://oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"}}
    resources_vpc_config:
      description: C(subnet_ids), C(security_group_ids), C(cluster_security_group_id), C(vpc_id),
        C(endpoint_public_access), C(endpoint_private_access), C(public_access_cidrs).
      type: dict
    logging:
      description: C(cluster_logging), the log types and whether they are enabled.
      type: dict
    encryption_config:
      description: Envelope encryption settings (C(resources), C(provider.key_arn)).
      type: list
      elements: dict
    role_arn:
      description: ARN of the cluster role.
      type: str
    access_config:
      description: C(authentication_mode) and C(bootstrap_cluster_creator_admin_permissions).
      type: dict
      sample: {"authentication_mode": "API", "bootstrap_cluster_creator_admin_permissions": true}
    tags:
      description: Tags of the cluster.
      type: dict
update_ids:
  description: IDs of the EKS updates this run started.
  returned: when an update was made
  type: list
  elements: str
  sample: [0f3b2e10-3a1c-3bb8-9a3c-5cd5c6f4b7c1]
"""

import re

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
from ansible_collections.spotflow.eks.plugins.module_utils.aws import wait_for
from ansible_collections.spotflow.eks.plugins.module_utils.aws import while_role_propagates

LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
BUSY_STATES = ("CREATING", "UPDATING", "PENDING")
# EKS moves the authentication mode one way, one step at a time
AUTHENTICATION_MODES = ["CONFIG_MAP", "API_AND_CONFIG_MAP", "API"]
VERSION_RE = re.compile(r"^(\d+)\.(\d+)$")


class ClusterSpecError(Exception):
    """The desired cluster cannot be reached from the current one."""


# ---------------------------------------------------------------- pure logic


def parse_version(text):
    match = VERSION_RE.match(str(text or "").strip())
    if not match:
        raise ClusterSpecError("version must look like 1.35, got {0!r}".format(text))
    return int(match.group(1)), int(match.group(2))


def enabled_log_types(cluster):
    """The log types a DescribeCluster answer reports as enabled, sorted."""
    enabled = set()
    for entry in ((cluster.get("logging") or {}).get("clusterLogging") or []):
        if entry.get("enabled"):
            enabled.update(entry.get("types") or [])
    return sorted(enabled)


def logging_request(log_types):
    """``logging`` for CreateCluster/UpdateClusterConfig: the listed types on, the others off."""
    wanted = [t for t in LOG_TYPES if t in set(log_types)]
    others = [t for t in LOG_TYPES if t not in set(log_types)]
    entries = []
    if wanted:
        entries.append({"types": wanted, "enabled": True})
    if others:
        entries.append({"types": others, "enabled": False})
    return {"clusterLogging": entries}


def encryption_key(cluster):
    for entry in cluster.get("encryptionConfig") or []:
        if "secrets" in (entry.get("resources") or []):
            return (entry.get("provider") or {}).get("keyArn")
    return None


def encryption_request(key_arn):
    return [{"resources": ["secrets"], "provider": {"keyArn": key_arn}}]


def _norm_cidrs(cidrs):
    return sorted(set(c.strip() for c in cidrs or []))


def endpoint_changes(cluster, params):
    """The ``resourcesVpcConfig`` endpoint fields to send to UpdateClusterConfig, or {}."""
    vpc = cluster.get("resourcesVpcConfig") or {}
    change = {}
    for key, option in (("endpointPrivateAccess", "endpoint_private_access"), ("endpointPublicAccess", "endpoint_public_access")):
        if params.get(option) is not None and bool(vpc.get(key)) != params[option]:
            change[key] = params[option]
    public = params.get("endpoint_public_access")
    if public is None:
        public = bool(vpc.get("endpointPublicAccess"))
    if public and params.get("public_access_cidrs") is not None:
        if _norm_cidrs(vpc.get("publicAccessCidrs")) != _norm_cidrs(params["public_access_cidrs"]):
            change["publicAccessCidrs"] = _norm_cidrs(params["public_access_cidrs"])
    return change


def authentication_mode(cluster):
    return (cluster.get("accessConfig") or {}).get("authenticationMode") or "CONFIG_MAP"


def authentication_mode_steps(current, desired):
    """The modes to pass through, in order, from ``current`` to ``desired``; raises going back."""
    if not desired or desired == current:
        return []
    cur, new = AUTHENTICATION_MODES.index(current), AUTHENTICATION_MODES.index(desired)
    if new < cur:
        raise ClusterSpecError(
            "EKS cannot take the authentication mode back: the cluster is {0}, authentication_mode is {1} "
            "(allowed: {2})".format(current, desired, ", ".join(AUTHENTICATION_MODES[cur:])))
    return AUTHENTICATION_MODES[cur + 1:new + 1]


def version_change(current, desired):
    """None when nothing to do, else the version to upgrade to; raises for impossible moves."""
    if not desired:
        return None
    cur = parse_version(current)
    new = parse_version(desired)
    if new == cur:
        return None
    if new < cur:
        raise ClusterSpecError("EKS cannot downgrade a cluster: it runs {0}, version is {1}".format(current, desired))
    if new[0] != cur[0] or new[1] != cur[1] + 1:
        raise ClusterSpecError(
            "EKS upgrades one minor version at a time: the cluster runs {0}, so version can be {1}.{2}, not {3}".format(
                current, cur[0], cur[1] + 1, desired
            )
        )
    return "{0}.{1}".format(*new)


def immutable_changes(cluster, params):
    """``[(field, current, desired)]`` for what this module does not change on an existing cluster."""
    out = []
    vpc = cluster.get("resourcesVpcConfig") or {}
    if params.get("role_arn") and params["role_arn"] != cluster.get("roleArn"):
        out.append(("role_arn", cluster.get("roleArn"), params["role_arn"]))
    if params.get("subnets") is not None and sorted(set(params["subnets"])) != sorted(set(vpc.get("subnetIds") or [])):
        out.append(("subnets", sorted(vpc.get("subnetIds") or []), sorted(set(params["subnets"]))))
    if params.get("security_groups") is not None and sorted(set(params["security_groups"])) != sorted(
        set(vpc.get("securityGroupIds") or [])
    ):
        out.append(("security_groups", sorted(vpc.get("securityGroupIds") or []), sorted(set(params["security_groups"]))))
    current_key = encryption_key(cluster)
    if current_key and params.get("encryption_key_arn") and params["encryption_key_arn"] != current_key:
        out.append(("encryption_key_arn", current_key, params["encryption_key_arn"]))
    return out


def plan_updates(cluster, params):
    """The in-place changes, in the order they are made: a list of ``(kind, payload)``.

    kinds: ``version`` (str), ``endpoint`` (resourcesVpcConfig dict), ``logging`` (logging
    dict), ``support`` (upgradePolicy dict), ``encryption`` (encryptionConfig list),
    ``access`` (accessConfig dict, one per mode step).
    """
    immutable = immutable_changes(cluster, params)
    if immutable:
        details = "; ".join("{0}: {1!r} -> {2!r}".format(f, o, n) for f, o, n in immutable)
        raise ClusterSpecError(
            "Cannot change {0} of the existing EKS cluster {1} ({2}). Create a new cluster, or delete this "
            "one (state=absent) first.".format(", ".join(f for f, _o, _n in immutable), cluster.get("name"), details)
        )
    plan = []
    version = version_change(cluster.get("version"), params.get("version"))
    if version:
        plan.append(("version", version))
    endpoint = endpoint_changes(cluster, params)
    if endpoint:
        plan.append(("endpoint", endpoint))
    if params.get("log_types") is not None and enabled_log_types(cluster) != sorted(set(params["log_types"])):
        plan.append(("logging", logging_request(params["log_types"])))
    support = (cluster.get("upgradePolicy") or {}).get("supportType")
    if params.get("support_type") and support and support != params["support_type"]:
        plan.append(("support", {"supportType": params["support_type"]}))
    if params.get("encryption_key_arn") and not encryption_key(cluster):
        plan.append(("encryption", encryption_request(params["encryption_key_arn"])))
    for mode in authentication_mode_steps(authentication_mode(cluster), params.get("authentication_mode")):
        plan.append(("access", {"authenticationMode": mode}))
    return plan


def apply_plan(cluster, plan):
    """The cluster as it will be once ``plan`` is done (for check mode and diff)."""
    after = dict(cluster)
    for kind, payload in plan:
        if kind == "version":
            after["version"] = payload
        elif kind == "endpoint":
            after["resourcesVpcConfig"] = dict(after.get("resourcesVpcConfig") or {}, **payload)
        elif kind == "logging":
            after["logging"] = payload
        elif kind == "support":
            after["upgradePolicy"] = payload
        elif kind == "encryption":
            after["encryptionConfig"] = payload
        elif kind == "access":
            after["accessConfig"] = dict(after.get("accessConfig") or {}, **payload)
    return after


def create_request(params):
    for required in ("role_arn", "subnets"):
        if not params.get(required):
            raise ClusterSpecError("{0} is required to create the cluster {1}".format(required, params["name"]))
    if params.get("version"):
        parse_version(params["version"])
    vpc = {"subnetIds": list(params["subnets"]), "securityGroupIds": list(params.get("security_groups") or [])}
    if params.get("endpoint_private_access") is not None:
        vpc["endpointPrivateAccess"] = params["endpoint_private_access"]
    if params.get("endpoint_public_access") is not None:
        vpc["endpointPublicAccess"] = params["endpoint_public_access"]
    if params.get("public_access_cidrs") is not None and params.get("endpoint_public_access") is not False:
        vpc["publicAccessCidrs"] = _norm_cidrs(params["public_access_cidrs"])
    request = {"name": params["name"], "roleArn": params["role_arn"], "resourcesVpcConfig": vpc}
    if params.get("version"):
        request["version"] = params["version"]
    if params.get("log_types") is not None:
        request["logging"] = logging_request(params["log_types"])
    if params.get("encryption_key_arn"):
        request["encryptionConfig"] = encryption_request(params["encryption_key_arn"])
    if params.get("support_type"):
        request["upgradePolicy"] = {"supportType": params["support_type"]}
    access = {}
    if params.get("authentication_mode"):
        access["authenticationMode"] = params["authentication_mode"]
    if params.get("bootstrap_cluster_creator_admin_permissions") is not None:
        access["bootstrapClusterCreatorAdminPermissions"] = params["bootstrap_cluster_creator_admin_permissions"]
    if access:
        request["accessConfig"] = access
    if params.get("tags"):
        request["tags"] = dict((str(k), str(v)) for k, v in params["tags"].items())
    return request


def predicted_cluster(request):
    """What DescribeCluster would answer right after CreateCluster (check mode)."""
    vpc = dict(request["resourcesVpcConfig"])
    vpc.setdefault("endpointPrivateAccess", False)
    vpc.setdefault("endpointPublicAccess", True)
    if vpc["endpointPublicAccess"]:
        vpc.setdefault("publicAccessCidrs", ["0.0.0.0/0"])
    cluster = dict(request, status="CREATING", resourcesVpcConfig=vpc)
    access = dict(request.get("accessConfig") or {})
    access.setdefault("authenticationMode", "CONFIG_MAP")
    access.setdefault("bootstrapClusterCreatorAdminPermissions", True)
    cluster["accessConfig"] = access
    cluster.setdefault("logging", logging_request([]))
    cluster.setdefault("tags", {})
    return cluster


def managed_view(cluster):
    """The fields this module manages, for the diff."""
    if not cluster:
        return {}
    vpc = cluster.get("resourcesVpcConfig") or {}
    return {
        "name": cluster.get("name"),
        "version": cluster.get("version"),
        "role_arn": cluster.get("roleArn"),
        "subnets": sorted(vpc.get("subnetIds") or []),
        "security_groups": sorted(vpc.get("securityGroupIds") or []),
        "endpoint_private_access": vpc.get("endpointPrivateAccess"),
        "endpoint_public_access": vpc.get("endpointPublicAccess"),
        "public_access_cidrs": _norm_cidrs(vpc.get("publicAccessCidrs")),
        "log_types": enabled_log_types(cluster),
        "encryption_key_arn": encryption_key(cluster),
        "support_type": (cluster.get("upgradePolicy") or {}).get("supportType"),
        "authentication_mode": authentication_mode(cluster),
        "tags": dict(cluster.get("tags") or {}),
    }


# ---------------------------------------------------------------- AWS side


class ClusterManager:
    def __init__(self, module, client):
        self.module = module
        self.client = client
        self.params = module.params
        self.name = self.params["name"]
        self.what = "EKS cluster {0}".format(self.name)
        self.update_ids = []

    def get(self):
        try:
            return self.client.describe_cluster(aws_retry=True, name=self.name)["cluster"]
        except (BotoCoreError, ClientError) as e:
            if is_not_found(e):
                return None
            self.module.fail_json_aws(e, msg="Failed to describe {0}".format(self.what))

    def wait(self, name, what=None, **params):
        wait_for(self.module, self.client, "eks", name, what or self.what, name=self.name, **params)

    def settle(self, cluster):
        """Wait for a cluster in transition: EKS accepts no update while it is CREATING or UPDATING."""
        if cluster.get("status") in BUSY_STATES:
            self.wait("ClusterActive")
            return self.get()
        return cluster

    def fail_spec(self, exc, cluster=None):
        self.module.fail_json(msg=str(exc), cluster=to_result(cluster))

    # ------------------------------------------------------------ present

    def ensure_present(self):
        cluster = self.get()
        if cluster and cluster.get("status") == "DELETING":
            if self.module.check_mode:
                cluster = None
            else:
                self.wait("ClusterDeleted")
                cluster = None
        if cluster is None:
            return self.present_create()
        if cluster.get("status") == "FAILED":
            self.module.fail_json(msg="{0} is FAILED; delete it (state=absent) and run again".format(self.what),
                                  cluster=to_result(cluster))
        return self.present_update(cluster)

    def present_create(self):
        try:
            request = create_request(self.params)
        except ClusterSpecError as e:
            self.fail_spec(e)
        result = dict(changed=True)
        predicted = predicted_cluster(request)
        if self.module._diff:
            result["diff"] = make_diff({}, managed_view(predicted))
        if self.module.check_mode:
            return dict(result, cluster=to_result(predicted))
        try:
            cluster = while_role_propagates(lambda: self.client.create_cluster(aws_retry=True, **request))["cluster"]
        except (BotoCoreError, ClientError) as e:
            self.module.fail_json_aws(e, msg="Failed to create {0}".format(self.what))
        if self.params["wait"]:
            self.wait("ClusterActive")
            cluster = self.get()
        return dict(result, cluster=to_result(cluster))

    def present_update(self, cluster):
        try:
            plan = plan_updates(cluster, self.params)
        except ClusterSpecError as e:
            self.fail_spec(e, cluster)
        to_set, to_unset = tag_changes(cluster.get("tags"), self.params["tags"], self.params["purge_tags"])
        after = apply_plan(cluster, plan)
        after["tags"] = tags_after(cluster.get("tags"), to_set, to_unset)
        changed = bool(plan or to_set or to_unset)
        result = dict(changed=changed)
        if self.module._diff:
            result["diff"] = make_diff(managed_view(cluster), managed_view(after))
        if self.module.check_mode:
            return dict(result, cluster=to_result(after))
        if plan:
            cluster = self.settle(cluster)
            for kind, payload in plan:
                self.update(kind, payload)
        if to_set or to_unset:
            self.retag(cluster["arn"], to_set, to_unset)
        if changed:
            cluster = self.get()
            result["update_ids"] = self.update_ids
        elif self.params["wait"] and cluster.get("status") in BUSY_STATES:
            self.wait("ClusterActive")
            cluster = self.get()
        return dict(result, cluster=to_result(cluster))

    def update(self, kind, payload):
        try:
            if kind == "version":
                response = self.client.update_cluster_version(aws_retry=True, name=self.name, version=payload)
            elif kind == "endpoint":
                response = self.client.update_cluster_config(aws_retry=True, name=self.name, resourcesVpcConfig=payload)
            elif kind == "logging":
                response = self.client.update_cluster_config(aws_retry=True, name=self.name, logging=payload)
            elif kind == "support":
                response = self.client.update_cluster_config(aws_retry=True, name=self.name, upgradePolicy=payload)
            elif kind == "access":
                response = self.client.update_cluster_config(aws_retry=True, name=self.name, accessConfig=payload)
            else:
                response = self.client.associate_encryption_config(aws_retry=True, clusterName=self.name,
                                                                   encryptionConfig=payload)
        except (BotoCoreError, ClientError) as e:
            self.module.fail_json_aws(e, msg="Failed to update the {0} of {1}".format(kind, self.what))
        update = response.get("update") or {}
        if not update.get("id"):
            return  # an API without update tracking applied it synchronously
        self.update_ids.append(update["id"])
        if update.get("status") in ("Failed", "Cancelled"):
            self.module.fail_json(msg="Update {0} ({1}) of {2} failed: {3}".format(
                update["id"], kind, self.what, update.get("errors")), update=to_result(update))
        if update.get("status") != "Successful":
            # EKS refuses the next update while this one runs: always wait.
            self.wait("UpdateSuccessful", "update {0} ({1}) of {2}".format(update["id"], kind, self.what),
                      updateId=update["id"])

    def retag(self, arn, to_set, to_unset):
        try:
            if to_unset:
                self.client.untag_resource(aws_retry=True, resourceArn=arn, tagKeys=to_unset)
            if to_set:
                self.client.tag_resource(aws_retry=True, resourceArn=arn, tags=to_set)
        except (BotoCoreError, ClientError) as e:
            self.module.fail_json_aws(e, msg="Failed to update the tags of {0}".format(self.what))

    # ------------------------------------------------------------ absent

    def ensure_absent(self):
        cluster = self.get()
        if cluster is None:
            return dict(changed=False, cluster={})
        deleting = cluster.get("status") == "DELETING"
        result = dict(changed=not deleting, cluster={})
        if self.module._diff:
            result["diff"] = make_diff(managed_view(cluster), {})
        if self.module.check_mode:
            return result
        if not deleting:
            cluster = self.settle(cluster) if cluster.get("status") in BUSY_STATES and self.params["wait"] else cluster
            try:
                self.client.delete_cluster(aws_retry=True, name=self.name)
            except (BotoCoreError, ClientError) as e:
                if not is_not_found(e):
                    self.module.fail_json_aws(
                        e, msg="Failed to delete {0} (node groups and Fargate profiles must be deleted first)".format(self.what))
        if self.params["wait"]:
            self.wait("ClusterDeleted")
        return result


def main():
    argument_spec = dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        name=dict(type="str", required=True),
        version=dict(type="str"),
        role_arn=dict(type="str"),
        subnets=dict(type="list", elements="str"),
        security_groups=dict(type="list", elements="str"),
        endpoint_private_access=dict(type="bool"),
        endpoint_public_access=dict(type="bool"),
        public_access_cidrs=dict(type="list", elements="str"),
        log_types=dict(type="list", elements="str", choices=LOG_TYPES),
        encryption_key_arn=dict(type="str", no_log=False),
        support_type=dict(type="str", choices=["STANDARD", "EXTENDED"]),
        authentication_mode=dict(type="str", choices=["API", "API_AND_CONFIG_MAP", "CONFIG_MAP"]),
        bootstrap_cluster_creator_admin_permissions=dict(type="bool"),
        tags=dict(type="dict", aliases=["resource_tags"]),
        purge_tags=dict(type="bool", default=True),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=1800),
    )
    module = AnsibleAWSModule(argument_spec=argument_spec, supports_check_mode=True)
    client = module.client("eks", retry_decorator=AWSRetry.jittered_backoff())
    manager = ClusterManager(module, client)
    if module.params["state"] == "present":
        result = manager.ensure_present()
    else:
        result = manager.ensure_absent()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
