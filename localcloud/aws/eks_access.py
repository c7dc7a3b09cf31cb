"""EKS cluster access (moto has none): authentication modes, access entries, access policies.

As EKS:

- CreateCluster's ``accessConfig`` sets the authentication mode (``CONFIG_MAP`` when the
  caller sends none, as for every API/SDK caller) and whether the creator is bootstrapped
  as cluster admin (default true). In ``CONFIG_MAP`` mode that is an invisible
  ``system:masters`` mapping; in the API modes it is an access entry for the creator with
  ``AmazonEKSClusterAdminPolicy``, listed like any other.
- UpdateClusterConfig ``accessConfig`` moves one way only: CONFIG_MAP -> API_AND_CONFIG_MAP
  -> API. Turning the API on gives a bootstrapped creator its access entry.
- The access entry APIs answer ``InvalidRequestException`` while the cluster is in
  ``CONFIG_MAP`` mode.

:func:`kubernetes_identity` is what the token webhook asks: which Kubernetes user and
groups an authenticated IAM principal is on a cluster, or None (401). Of the access
policies only ``AmazonEKSClusterAdminPolicy`` with cluster scope grants something here
(``system:masters``); the others are stored and listed but, unlike EKS's authorizer, grant
nothing (docs/design.md lists this as a known gap). ``aws-auth`` ConfigMap mappings are not
read: in the ``CONFIG_MAP`` modes only the bootstrapped creator gets in.
"""

from __future__ import annotations

import datetime
import re

from .common import _invalid_parameter, _invalid_request

MODES = ("CONFIG_MAP", "API_AND_CONFIG_MAP", "API")
POLICY_PREFIX = "arn:aws:eks::aws:cluster-access-policy/"
ACCESS_POLICIES = ("AmazonEKSClusterAdminPolicy", "AmazonEKSAdminPolicy", "AmazonEKSEditPolicy", "AmazonEKSViewPolicy")
CLUSTER_ADMIN = POLICY_PREFIX + "AmazonEKSClusterAdminPolicy"
ENTRY_TYPES = ("STANDARD", "EC2_LINUX", "EC2_WINDOWS", "FARGATE_LINUX", "EC2", "HYBRID_LINUX", "HYPERPOD_LINUX")


def iam_principal(arn: str) -> str:
    """The IAM principal an access entry names for a caller: an assumed-role session is its role.
    (moto's STS names its default user ``arn:aws:sts::...:user/moto``: an IAM user for us.)"""
    m = re.match(r"^arn:([^:]+):sts::(\d{12}):assumed-role/([^/]+)/.+$", arn or "")
    if m:
        return f"arn:{m.group(1)}:iam::{m.group(2)}:role/{m.group(3)}"
    return re.sub(r"^arn:([^:]+):sts::(\d{12}):user/", r"arn:\1:iam::\2:user/", arn or "")


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _access(cluster) -> dict:
    """The cluster's access state, kept on moto's Cluster object."""
    state = cluster.__dict__.get("spotflow_access")
    if state is None:
        state = cluster.__dict__["spotflow_access"] = {"entries": {}, "policies": {}}
    return state


def _default_username(entry: dict) -> str:
    arn = entry["principalArn"]
    if ":role/" in arn:
        return re.sub(r"^arn:([^:]+):iam::(\d{12}):role/(?:.*/)?([^/]+)$",
                      r"arn:\1:sts::\2:assumed-role/\3/{{SessionName}}", arn)
    return arn


def configure(cluster, access_config: dict | None, creator: str | None) -> None:
    """CreateCluster: remember the access config and bootstrap the creator."""
    access_config = access_config or {}
    mode = access_config.get("authenticationMode") or "CONFIG_MAP"
    if mode not in MODES:
        raise _invalid_parameter(f"authenticationMode must be one of {', '.join(MODES)}, not {mode}")
    bootstrap = access_config.get("bootstrapClusterCreatorAdminPermissions")
    cluster.access_config = {"authenticationMode": mode,
                             "bootstrapClusterCreatorAdminPermissions": True if bootstrap is None else bool(bootstrap)}
    _bootstrap_creator(cluster, creator)


def _bootstrap_creator(cluster, creator: str | None) -> None:
    if (creator and cluster.access_config["bootstrapClusterCreatorAdminPermissions"]
            and cluster.access_config["authenticationMode"] != "CONFIG_MAP"):
        principal = iam_principal(creator)
        state = _access(cluster)
        if principal not in state["entries"]:
            state["entries"][principal] = _entry(cluster, principal, [], None, "STANDARD", {})
            state["policies"][principal] = {CLUSTER_ADMIN: _association(CLUSTER_ADMIN, {"type": "cluster"})}


def update_mode(cluster, access_config: dict) -> None:
    """UpdateClusterConfig ``accessConfig``: one way only, as EKS."""
    mode = access_config.get("authenticationMode")
    if not mode:
        return
    if mode not in MODES:
        raise _invalid_parameter(f"authenticationMode must be one of {', '.join(MODES)}, not {mode}")
    current = cluster.access_config["authenticationMode"]
    if MODES.index(mode) < MODES.index(current):
        raise _invalid_parameter(f"Unsupported authentication mode update from {current} to {mode}")
    cluster.access_config["authenticationMode"] = mode
    _bootstrap_creator(cluster, getattr(cluster, "spotflow_creator", None))


def kubernetes_identity(cluster, arn: str) -> tuple[str, list[str]] | None:
    """(username, groups) for the IAM identity ``arn`` on ``cluster``, or None: no access."""
    mode = cluster.access_config["authenticationMode"]
    principal = iam_principal(arn)
    if mode != "CONFIG_MAP":
        state = _access(cluster)
        entry = state["entries"].get(principal)
        if entry is not None:
            groups = list(entry.get("kubernetesGroups") or [])
            admin = state["policies"].get(principal, {}).get(CLUSTER_ADMIN)
            if admin and admin["accessScope"].get("type") == "cluster":
                groups.append("system:masters")
            return entry["username"].replace("{{SessionName}}", arn.rsplit("/", 1)[-1]), groups
    creator = getattr(cluster, "spotflow_creator", None)
    if (mode != "API" and creator and cluster.access_config["bootstrapClusterCreatorAdminPermissions"]
            and iam_principal(creator) == principal):
        return arn, ["system:masters"]
    return None


def _entry(cluster, principal, groups, username, entry_type, tags) -> dict:
    now = _now()
    entry = {"clusterName": cluster.name, "principalArn": principal, "kubernetesGroups": list(groups or []),
             "accessEntryArn": cluster.arn.replace(":cluster/", ":access-entry/", 1) + "/" + principal.rsplit(":", 1)[-1],
             "createdAt": now, "modifiedAt": now, "tags": dict(tags or {}), "type": entry_type}
    entry["username"] = username or _default_username(entry)
    return entry


def _association(policy_arn, scope) -> dict:
    now = _now()
    return {"policyArn": policy_arn, "accessScope": scope, "associatedAt": now, "modifiedAt": now}


def patch_eks_access(EKSResponse) -> None:
    from moto.core.responses import ActionResult
    from moto.eks import urls
    from moto.eks.exceptions import ResourceInUseException, ResourceNotFoundException

    def not_found(message):
        return ResourceNotFoundException(clusterName=None, nodegroupName=None, fargateProfileName=None,
                                         addonName=None, message=message)

    def access_of(self):
        name = self._get_param("name")
        cluster = self.eks_backend.clusters.get(name)
        if cluster is None:
            raise not_found(f"No cluster found for name: {name}.")
        if cluster.access_config["authenticationMode"] == "CONFIG_MAP":
            raise _invalid_request("The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] "
                                  "to perform this operation.")
        return cluster, _access(cluster)

    def principal_of(self) -> str:
        return self._get_param("principalArn") or ""

    def entry_of(self):
        cluster, state = access_of(self)
        principal = principal_of(self)
        entry = state["entries"].get(principal)
        if entry is None:
            raise not_found(f"The specified principalArn could not be found. You can view your available access "
                            f"entries with 'list-access-entries'. ({principal})")
        return cluster, state, entry

    def create_access_entry(self):
        cluster, state = access_of(self)
        principal = self._get_param("principalArn")
        if not re.match(r"^arn:[^:]+:iam::\d{12}:(user|role)/.+", principal or ""):
            raise _invalid_parameter(f"The principalArn parameter format is not valid: {principal}")
        if principal in state["entries"]:
            raise ResourceInUseException(clusterName=cluster.name, nodegroupName=None, addonName=None,
                                         message="The specified access entry resource is already in use on this cluster.")
        entry_type = self._get_param("type") or "STANDARD"
        if entry_type not in ENTRY_TYPES:
            raise _invalid_parameter(f"The type {entry_type} is not valid")
        groups = self._get_param("kubernetesGroups") or []
        if any(g.startswith("system:") for g in groups):
            raise _invalid_parameter("kubernetesGroups cannot start with 'system:'")
        entry = _entry(cluster, principal, groups, self._get_param("username"), entry_type, self._get_param("tags"))
        state["entries"][principal] = entry
        state["policies"][principal] = {}
        return ActionResult({"accessEntry": entry})

    def describe_access_entry(self):
        return ActionResult({"accessEntry": entry_of(self)[2]})

    def list_access_entries(self):
        _cluster, state = access_of(self)
        policy = self._get_param("associatedPolicyArn")
        arns = sorted(p for p in state["entries"] if not policy or policy in state["policies"].get(p, {}))
        return ActionResult({"accessEntries": arns})

    def update_access_entry(self):
        _cluster, _state, entry = entry_of(self)
        groups = self._get_param("kubernetesGroups")
        if groups is not None:
            if any(g.startswith("system:") for g in groups):
                raise _invalid_parameter("kubernetesGroups cannot start with 'system:'")
            entry["kubernetesGroups"] = list(groups)
        if self._get_param("username"):
            entry["username"] = self._get_param("username")
        entry["modifiedAt"] = _now()
        return ActionResult({"accessEntry": entry})

    def delete_access_entry(self):
        _cluster, state, entry = entry_of(self)
        state["entries"].pop(entry["principalArn"])
        state["policies"].pop(entry["principalArn"], None)
        return ActionResult({})

    def associate_access_policy(self):
        cluster, state, entry = entry_of(self)
        policy = self._get_param("policyArn")
        scope = self._get_param("accessScope") or {}
        if policy not in [POLICY_PREFIX + p for p in ACCESS_POLICIES]:
            raise not_found(f"The specified policy {policy} could not be found.")
        if scope.get("type") not in ("cluster", "namespace") or (scope["type"] == "namespace") != bool(scope.get("namespaces")):
            raise _invalid_parameter("accessScope must be {type: cluster} or {type: namespace, namespaces: [...]}")
        if entry["type"] != "STANDARD":
            raise _invalid_parameter(f"Access policies can only be associated with STANDARD access entries, not {entry['type']}")
        associations = state["policies"].setdefault(entry["principalArn"], {})
        previous = associations.get(policy)
        association = _association(policy, scope)
        if previous:
            association["associatedAt"] = previous["associatedAt"]
        associations[policy] = association
        return ActionResult({"clusterName": cluster.name, "principalArn": entry["principalArn"],
                             "associatedAccessPolicy": association})

    def disassociate_access_policy(self):
        _cluster, state, entry = entry_of(self)
        policy = self._get_param("policyArn") or ""
        state["policies"].get(entry["principalArn"], {}).pop(policy, None)
        return ActionResult({})

    def list_associated_access_policies(self):
        cluster, state, entry = entry_of(self)
        return ActionResult({"clusterName": cluster.name, "principalArn": entry["principalArn"],
                             "associatedAccessPolicies": list(state["policies"].get(entry["principalArn"], {}).values())})

    def list_access_policies(self):
        return ActionResult({"accessPolicies": [{"name": p, "arn": POLICY_PREFIX + p} for p in ACCESS_POLICIES]})

    for fn in (create_access_entry, describe_access_entry, list_access_entries, update_access_entry,
               delete_access_entry, associate_access_policy, disassociate_access_policy,
               list_associated_access_policies, list_access_policies):
        setattr(EKSResponse, fn.__name__, fn)
    # Flask routes on the decoded path, where a principal ARN spans several segments; the
    # operation and its parameters are then taken from the raw path by moto's service router.
    urls.url_paths.update({
        "{0}/clusters/(?P<name>[^/]+)/access-entries$": urls.response.dispatch,
        "{0}/clusters/(?P<name>[^/]+)/access-entries/(?P<entry>.+)$": urls.response.dispatch,
        "{0}/access-policies$": urls.response.dispatch,
    })
