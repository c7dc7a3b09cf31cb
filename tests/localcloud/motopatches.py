"""Our fixes for moto's gaps, applied in the awsemu process before the server starts.

Each fix makes moto answer as AWS does, so the roles have one code path:

1. EFS legacy ``DescribeTags``/``CreateTags``/``DeleteTags`` (community.aws.efs calls DescribeTags).
2. EKS node groups get ``updateConfig`` ``{maxUnavailable: 1}`` by default, as on AWS.
3. EKS clusters answer with the local apiserver's endpoint and CA and their
   own OIDC issuer (moto gives every cluster the same one), remember who
   created them (the token webhook maps that identity to cluster-admin), and
   get a real cluster security group in EC2 (EKS creates one; managed nodes
   use it), deleted with the cluster.
4. EKS node groups are backed by a real (moto) Auto Scaling group whose
   instances carry the EKS tags; scaling updates resize it, deletion removes
   it. Subnets must exist (AWS refuses unknown subnets; moto did not).
5. EKS add-ons (moto has none): Create/Describe/Update/Delete/List and
   DescribeAddonVersions.
6. Injected latency: clusters, node groups, DB instances and file systems stay
   CREATING/creating for configured seconds.
7. FIS: ``aws:ec2:send-spot-instance-interruptions`` experiments interrupt the
   targeted instances through the node simulator, and complete when done.
8. ECR: repository URIs and the authorization token's proxy endpoint lead to
   the local cloud's real registry (Debian's docker-registry), and ECR's image
   APIs report what that registry holds; deleting images or a repository
   (force) deletes them from the registry too.
9. IAM: adding/removing client ids of an OIDC provider; EKS: tags on node
   groups and add-ons.
10. RDS gp3 instances report AWS's baseline throughput and IOPS.
11. Secrets Manager: GetSecretValue on a secret scheduled for deletion fails with
    AWS's message ("... because it was marked for deletion."), which
    amazon.aws.secretsmanager_secret's ``on_deleted`` recognises.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
import uuid
from typing import Any, Callable

LOG = logging.getLogger("localcloud.moto")

EKS_ADDON_VERSIONS = {
    # name: [(version, default)] - compatible with every Kubernetes minor we emulate
    "aws-efs-csi-driver": [("v3.4.1-eksbuild.1", True), ("v3.3.0-eksbuild.1", False)],
    "vpc-cni": [("v1.21.1-eksbuild.1", True)],
    "coredns": [("v1.12.4-eksbuild.1", True)],
    "kube-proxy": [("v1.35.0-eksbuild.2", True)],
    "eks-pod-identity-agent": [("v1.3.10-eksbuild.1", True)],
}
SPOT_INTERRUPTION_ACTION = "aws:ec2:send-spot-instance-interruptions"


class Hooks:
    """Callbacks from the patched backends to the node simulator."""

    interrupt_instances: Callable[..., None] | None = None  # (account, region, instance_ids, notice_s, finished)


HOOKS = Hooks()


# --------------------------------------------------------------------------
# 6. latency
def _delay_status(cls, attr: str, pending: str, ready: str, seconds: float) -> None:
    """Make ``cls.<attr>`` read ``pending`` for ``seconds`` after the object is made."""
    if seconds <= 0:
        return
    store = f"_spotflow_{attr}"

    def getter(self):
        value = getattr(self, store, None)
        born = getattr(self, "_spotflow_born", None)
        if value == ready and born is not None and time.monotonic() - born < seconds:
            return pending
        return value

    def setter(self, value):
        if not hasattr(self, "_spotflow_born"):
            self._spotflow_born = time.monotonic()
        setattr(self, store, value)

    setattr(cls, attr, property(getter, setter))


def patch_latency(latency: dict[str, float]) -> None:
    from moto.efs.models import FileSystem
    from moto.eks.models import Cluster, Nodegroup
    from moto.rds.models import DBInstance

    _delay_status(Cluster, "status", "CREATING", "ACTIVE", float(latency.get("eks_cluster", 0)))
    _delay_status(Nodegroup, "status", "CREATING", "ACTIVE", float(latency.get("eks_nodegroup", 0)))
    _delay_status(DBInstance, "status", "creating", "available", float(latency.get("rds_instance", 0)))
    efs_seconds = float(latency.get("efs", 0))
    if efs_seconds > 0:
        # FileSystem.info_json() serialises __dict__, so patch the answer, not the attribute
        orig_init, orig_info = FileSystem.__init__, FileSystem.info_json

        def fs_init(self, *args, **kwargs):
            orig_init(self, *args, **kwargs)
            self._spotflow_born = time.monotonic()

        def fs_info(self):
            info = orig_info(self)
            if info.get("LifeCycleState") == "available" and time.monotonic() - self._spotflow_born < efs_seconds:
                info["LifeCycleState"] = "creating"
            return info

        FileSystem.__init__ = fs_init
        FileSystem.info_json = fs_info


# --------------------------------------------------------------------------
# 1. EFS legacy tag API
def patch_efs_tags() -> None:
    from moto.core.responses import BaseResponse
    from moto.efs.responses import EFSResponse

    def _fs_id(self) -> str:
        # /2015-02-01/tags/<id>/ , /2015-02-01/create-tags/<id>, /2015-02-01/delete-tags/<id>
        return [p for p in self.path.split("/") if p][2]

    def describe_tags(self):
        tags = self.efs_backend.list_tags_for_resource(_fs_id(self))
        return 200, {}, json.dumps({"Tags": tags})

    def create_tags(self):
        tags = self._get_param("Tags") or []
        self.efs_backend.tag_resource(_fs_id(self), {t["Key"]: t["Value"] for t in tags})
        return 204, {}, ""

    def delete_tags(self):
        self.efs_backend.untag_resource(_fs_id(self), self._get_param("TagKeys"))
        return 204, {}, ""

    from moto.efs import urls

    urls.url_paths.update({
        "/2015-02-01/tags/<file_system_id>/": urls.response.dispatch,
        "/2015-02-01/create-tags/<file_system_id>/": urls.response.dispatch,
        "/2015-02-01/delete-tags/<file_system_id>/": urls.response.dispatch,
    })
    EFSResponse.describe_tags = describe_tags
    EFSResponse.create_tags = create_tags
    EFSResponse.delete_tags = delete_tags
    assert issubclass(EFSResponse, BaseResponse)


# --------------------------------------------------------------------------
# 2-5. EKS
def _ec2(account_id: str, region: str):
    from moto.ec2.models import ec2_backends

    return ec2_backends[account_id][region]


def _autoscaling(account_id: str, region: str):
    from moto.autoscaling.models import autoscaling_backends

    return autoscaling_backends[account_id][region]


def _invalid_parameter(message: str):
    from moto.eks.exceptions import InvalidParameterException

    return InvalidParameterException(clusterName=None, nodegroupName=None, fargateProfileName=None,
                                     addonName=None, message=message)


def _caller_arn(response) -> str:
    from moto.sts.models import sts_backends

    sts = sts_backends[response.current_account]["global"]
    return sts.get_caller_identity(response.get_access_key(), response.region)[1]


def patch_eks(cfg) -> None:
    from moto.eks import models as eks_models
    from moto.eks.models import EKSBackend, Nodegroup
    from moto.eks.responses import EKSResponse

    ca_data = _b64(cfg.ca_file.read_bytes())

    # 2. updateConfig default
    orig_ng_init = Nodegroup.__init__

    def ng_init(self, *args, **kwargs):
        orig_ng_init(self, *args, **kwargs)
        if not self.update_config:
            self.update_config = getattr(_current_response, "update_config", None) or {"maxUnavailable": 1}

    Nodegroup.__init__ = ng_init

    # 3. clusters: endpoint, CA, creator, cluster security group
    orig_create_cluster_resp = EKSResponse.create_cluster

    def create_cluster_resp(self):
        _current_response.creator = _caller_arn(self)
        try:
            return orig_create_cluster_resp(self)
        finally:
            _current_response.creator = None

    EKSResponse.create_cluster = create_cluster_resp

    orig_create_cluster = EKSBackend.create_cluster

    def create_cluster(self, name, role_arn, resources_vpc_config, *args, **kwargs):
        ec2 = _ec2(self.account_id, self.region_name)
        subnet_ids = list((resources_vpc_config or {}).get("subnetIds") or [])
        if len(subnet_ids) < 2:
            raise _invalid_parameter("Subnets specified must be in at least two different AZs")
        try:
            subnets = [ec2.get_subnet(s) for s in subnet_ids]
        except Exception as e:
            raise _invalid_parameter(f"The subnet ID does not exist: {e}")
        if len({s.availability_zone for s in subnets}) < 2:
            raise _invalid_parameter("Subnets specified must be in at least two different AZs")
        cluster = orig_create_cluster(self, name, role_arn, resources_vpc_config, *args, **kwargs)
        vpc_id = subnets[0].vpc_id
        sg = ec2.create_security_group(
            name=f"eks-cluster-sg-{name}-{uuid.uuid4().hex[:10]}",
            description="EKS created security group applied to ENI that is attached to EKS Control Plane master nodes, as well as any managed workloads.",
            vpc_id=vpc_id,
            tags={"aws:eks:cluster-name": name, f"kubernetes.io/cluster/{name}": "owned", "Name": f"eks-cluster-sg-{name}"},
        )
        cfg_vpc = dict(cluster.resources_vpc_config or {})
        cfg_vpc.update({"vpcId": vpc_id, "clusterSecurityGroupId": sg.id,
                        "securityGroupIds": cfg_vpc.get("securityGroupIds") or []})
        cfg_vpc.setdefault("endpointPrivateAccess", False)
        cfg_vpc.setdefault("endpointPublicAccess", True)
        cfg_vpc.setdefault("publicAccessCidrs", ["0.0.0.0/0"])
        cluster.resources_vpc_config = cfg_vpc
        cluster.endpoint = cfg.apiserver_url
        cluster.certificate_authority = {"data": ca_data}
        # every EKS cluster has its own OIDC issuer; moto gives all the same one
        cluster.identity = {"oidc": {"issuer": f"https://oidc.eks.{self.region_name}.amazonaws.com/id/{uuid.uuid4().hex.upper()}"}}
        cluster.spotflow_creator = getattr(_current_response, "creator", None)
        cluster.access_config = {"authenticationMode": "API_AND_CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": True}
        return cluster

    EKSBackend.create_cluster = create_cluster

    orig_delete_cluster = EKSBackend.delete_cluster

    def delete_cluster(self, name):
        cluster = orig_delete_cluster(self, name)
        sg_id = (cluster.resources_vpc_config or {}).get("clusterSecurityGroupId")
        if sg_id:
            try:
                _ec2(self.account_id, self.region_name).delete_security_group(group_id=sg_id)
            except Exception as e:  # AWS leaves it too when something still references it
                LOG.warning("cluster %s: security group %s not deleted: %s", name, sg_id, e)
        self.__dict__.setdefault("spotflow_addons", {}).pop(name, None)
        return cluster

    EKSBackend.delete_cluster = delete_cluster

    # 4. node groups backed by Auto Scaling groups
    orig_create_ng = EKSBackend.create_nodegroup

    def create_nodegroup(self, cluster_name, node_role, nodegroup_name, subnets, *args, **kwargs):
        ec2 = _ec2(self.account_id, self.region_name)
        try:
            subnet_objs = [ec2.get_subnet(s) for s in subnets or []]
        except Exception as e:
            raise _invalid_parameter(f"The subnet ID does not exist: {e}")
        if not subnet_objs:
            raise _invalid_parameter("subnets must not be empty")
        ng = orig_create_ng(self, cluster_name, node_role, nodegroup_name, subnets, *args, **kwargs)
        try:
            _create_asg(self, ng, subnet_objs)
        except Exception:
            self.clusters[cluster_name].nodegroups.pop(nodegroup_name, None)
            raise
        return ng

    EKSBackend.create_nodegroup = create_nodegroup

    # moto's CreateNodegroup drops updateConfig: keep what the caller asked for
    orig_create_ng_resp = EKSResponse.create_nodegroup

    def create_nodegroup_resp(self):
        _current_response.update_config = self._get_param("updateConfig")
        try:
            return orig_create_ng_resp(self)
        finally:
            _current_response.update_config = None

    EKSResponse.create_nodegroup = create_nodegroup_resp

    orig_update_ng = EKSBackend.update_nodegroup_config

    def update_nodegroup_config(self, cluster_name, nodegroup_name, *args, **kwargs):
        result = orig_update_ng(self, cluster_name, nodegroup_name, *args, **kwargs)
        ng = self.clusters[cluster_name].nodegroups[nodegroup_name]
        _sync_asg_size(self, ng)
        return result

    EKSBackend.update_nodegroup_config = update_nodegroup_config

    orig_delete_ng = EKSBackend.delete_nodegroup

    def delete_nodegroup(self, cluster_name, nodegroup_name):
        ng = orig_delete_ng(self, cluster_name, nodegroup_name)
        _delete_asg(self, ng)
        return ng

    EKSBackend.delete_nodegroup = delete_nodegroup

    # 5. add-ons
    _patch_eks_addons(eks_models, EKSBackend, EKSResponse)
    _patch_eks_tagging(EKSBackend)


class _CurrentResponse(threading.local):
    creator: str | None = None
    update_config: dict | None = None


_current_response = _CurrentResponse()


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def _create_asg(backend, ng, subnet_objs) -> None:
    ec2 = _ec2(backend.account_id, backend.region_name)
    asg_backend = _autoscaling(backend.account_id, backend.region_name)
    asg_name = ng.resources["autoScalingGroups"][0]["name"]
    image_id = next(iter(ec2.amis))  # any AMI: the node simulator plays the kubelet
    lt = ec2.create_launch_template(
        name=f"eks-{ng.uuid}",
        description=f"EKS managed node group {ng.nodegroup_name}",
        template_data={"InstanceType": ng.instance_types[0], "ImageId": image_id},
        tag_spec={},
    )
    tags = {
        "eks:cluster-name": ng.cluster_name,
        "eks:nodegroup-name": ng.nodegroup_name,
        f"kubernetes.io/cluster/{ng.cluster_name}": "owned",
        "k8s.io/cluster-autoscaler/enabled": "true",
        f"k8s.io/cluster-autoscaler/{ng.cluster_name}": "owned",
    }
    sc = ng.scaling_config
    overrides = [{"InstanceType": t} for t in ng.instance_types]
    asg_backend.create_auto_scaling_group(
        name=asg_name,
        availability_zones=[],
        desired_capacity=sc.get("desiredSize", 0),
        max_size=sc.get("maxSize", 1),
        min_size=sc.get("minSize", 0),
        launch_config_name=None,
        launch_template=None,
        vpc_zone_identifier=",".join(s.id for s in subnet_objs),
        default_cooldown=None,
        health_check_period=None,
        health_check_type="EC2",
        load_balancers=[],
        target_group_arns=[],
        placement_group=None,
        termination_policies=[],
        tags=[{"ResourceId": asg_name, "ResourceType": "auto-scaling-group", "Key": k, "Value": v,
               "PropagateAtLaunch": True} for k, v in tags.items()],
        capacity_rebalance=ng.capacity_type == "SPOT",
        mixed_instances_policy={
            "LaunchTemplate": {
                "LaunchTemplateSpecification": {"LaunchTemplateId": lt.id, "Version": "1"},
                "Overrides": overrides,
            },
            "InstancesDistribution": {
                "OnDemandPercentageAboveBaseCapacity": 0 if ng.capacity_type == "SPOT" else 100,
                "SpotAllocationStrategy": "price-capacity-optimized",
            },
        },
    )
    ng.spotflow_launch_template_id = lt.id


def _sync_asg_size(backend, ng) -> None:
    asg_backend = _autoscaling(backend.account_id, backend.region_name)
    name = ng.resources["autoScalingGroups"][0]["name"]
    group = asg_backend.autoscaling_groups.get(name)
    if group is None:
        return
    sc = ng.scaling_config
    group.min_size = sc.get("minSize", group.min_size)
    group.max_size = sc.get("maxSize", group.max_size)
    if sc.get("desiredSize") is not None and sc["desiredSize"] != group.desired_capacity:
        asg_backend.set_desired_capacity(name, sc["desiredSize"])


def _delete_asg(backend, ng) -> None:
    asg_backend = _autoscaling(backend.account_id, backend.region_name)
    name = ng.resources["autoScalingGroups"][0]["name"]
    group = asg_backend.autoscaling_groups.get(name)
    if group is not None:
        group.set_desired_capacity(0)  # terminates the instances
        asg_backend.delete_auto_scaling_group(name)
    lt_id = getattr(ng, "spotflow_launch_template_id", None)
    if lt_id:
        try:
            _ec2(backend.account_id, backend.region_name).delete_launch_template(None, lt_id)
        except Exception as e:
            LOG.warning("launch template %s not deleted: %s", lt_id, e)


def _patch_eks_tagging(EKSBackend) -> None:
    """EKS tags node groups and add-ons by ARN too; moto only tags clusters."""

    def tagged(backend, arn: str):
        for cluster in backend.clusters.values():
            if cluster.arn == arn:
                return cluster.tags
            for ng in cluster.nodegroups.values():
                if ng.arn == arn:
                    return ng.tags
        for addons in backend.__dict__.get("spotflow_addons", {}).values():
            for addon in addons.values():
                if addon["addonArn"] == arn:
                    return addon.setdefault("tags", {})
        from moto.eks.exceptions import ResourceNotFoundException

        raise ResourceNotFoundException(clusterName=None, nodegroupName=None, fargateProfileName=None,
                                        addonName=None, message="Resource was not found")

    def tag_resource(self, resource_arn, tags):
        tagged(self, resource_arn).update(tags)

    def untag_resource(self, resource_arn, tag_keys):
        tags = tagged(self, resource_arn)
        for key in tag_keys if isinstance(tag_keys, list) else [tag_keys]:
            tags.pop(key, None)

    def list_tags_for_resource(self, resource_arn):
        return tagged(self, resource_arn)

    orig_list_ng = EKSBackend.list_nodegroups

    def list_nodegroups(self, cluster_name, *args, **kwargs):
        if cluster_name not in self.clusters:  # moto raises KeyError (HTTP 500); AWS answers 404
            from moto.eks.exceptions import ResourceNotFoundException

            raise ResourceNotFoundException(clusterName=cluster_name, nodegroupName=None, fargateProfileName=None,
                                            addonName=None, message=f"No cluster found for name: {cluster_name}.")
        return orig_list_ng(self, cluster_name, *args, **kwargs)

    EKSBackend.list_nodegroups = list_nodegroups
    EKSBackend.tag_resource = tag_resource
    EKSBackend.untag_resource = untag_resource
    EKSBackend.list_tags_for_resource = list_tags_for_resource


# --------------------------------------------------------------------------
# 9. IAM OIDC provider client ids (moto answers 500)
def patch_iam_oidc() -> None:
    from moto.core.responses import EmptyResult
    from moto.iam.responses import IamResponse

    def add_client_id_to_open_id_connect_provider(self):
        provider = self.backend.get_open_id_connect_provider(self._get_param("OpenIDConnectProviderArn"))
        client_id = self._get_param("ClientID")
        if client_id not in provider.client_id_list:
            provider.client_id_list.append(client_id)
        return EmptyResult()

    def remove_client_id_from_open_id_connect_provider(self):
        provider = self.backend.get_open_id_connect_provider(self._get_param("OpenIDConnectProviderArn"))
        client_id = self._get_param("ClientID")
        if client_id in provider.client_id_list:
            provider.client_id_list.remove(client_id)
        return EmptyResult()

    IamResponse.add_client_id_to_open_id_connect_provider = add_client_id_to_open_id_connect_provider
    IamResponse.remove_client_id_from_open_id_connect_provider = remove_client_id_from_open_id_connect_provider


# --------------------------------------------------------------------------
# 5. EKS add-ons
def _patch_eks_addons(eks_models, EKSBackend, EKSResponse) -> None:
    from moto.core.responses import ActionResult, EmptyResult  # noqa: F401
    from moto.eks import urls
    from moto.eks.exceptions import ResourceInUseException, ResourceNotFoundException

    def not_found(cluster, addon=None, msg=None):
        return ResourceNotFoundException(clusterName=cluster, nodegroupName=None, fargateProfileName=None,
                                         addonName=addon, message=msg or f"No addon: {addon} found in cluster: {cluster}")

    def addons_of(backend, cluster_name):
        if cluster_name not in backend.clusters:
            raise not_found(cluster_name, msg=f"No cluster found for name: {cluster_name}.")
        return backend.__dict__.setdefault("spotflow_addons", {}).setdefault(cluster_name, {})

    def default_version(name):
        versions = EKS_ADDON_VERSIONS.get(name)
        if not versions:
            return None
        return next(v for v, d in versions if d)

    def create_addon(self):
        cluster = self._get_param("name")
        name = self._get_param("addonName")
        addons = addons_of(self.eks_backend, cluster)
        if name in addons:
            raise ResourceInUseException(clusterName=cluster, nodegroupName=None, addonName=name,
                                         message=f"Addon already exists with name: {name} and cluster name: {cluster}")
        version = self._get_param("addonVersion") or default_version(name)
        if version is None or (name in EKS_ADDON_VERSIONS and version not in [v for v, _ in EKS_ADDON_VERSIONS[name]]):
            raise _invalid_parameter(f"Addon version specified is not supported: {name} {version}")
        now = datetime.datetime.now(datetime.timezone.utc)
        backend = self.eks_backend
        addon = {
            "addonName": name,
            "clusterName": cluster,
            "status": "ACTIVE",
            "addonVersion": version,
            "health": {"issues": []},
            "addonArn": f"arn:aws:eks:{backend.region_name}:{backend.account_id}:addon/{cluster}/{name}/{uuid.uuid4()}",
            "createdAt": now,
            "modifiedAt": now,
            "tags": self._get_param("tags") or {},
        }
        for key in ("serviceAccountRoleArn", "configurationValues"):
            if self._get_param(key):
                addon[key] = self._get_param(key)
        addons[name] = addon
        return ActionResult({"addon": addon})

    def describe_addon(self):
        cluster = self._get_param("name")
        name = self._get_param("addonName")
        addon = addons_of(self.eks_backend, cluster).get(name)
        if addon is None:
            raise not_found(cluster, name)
        return ActionResult({"addon": addon})

    def list_addons(self):
        cluster = self._get_param("name")
        return ActionResult({"addons": sorted(addons_of(self.eks_backend, cluster))})

    def update_addon(self):
        cluster = self._get_param("name")
        name = self._get_param("addonName")
        addon = addons_of(self.eks_backend, cluster).get(name)
        if addon is None:
            raise not_found(cluster, name)
        params = []
        for key in ("addonVersion", "serviceAccountRoleArn", "configurationValues"):
            value = self._get_param(key)
            if value is not None:
                addon[key] = value
                params.append({"type": key[0].upper() + key[1:], "value": str(value)})
        addon["modifiedAt"] = datetime.datetime.now(datetime.timezone.utc)
        update = {"id": str(uuid.uuid4()), "status": "Successful", "type": "AddonUpdate", "params": params,
                  "createdAt": addon["modifiedAt"], "errors": []}
        self.eks_backend.__dict__.setdefault("spotflow_updates", {})[update["id"]] = update
        return ActionResult({"update": update})

    def delete_addon(self):
        cluster = self._get_param("name")
        name = self._get_param("addonName")
        addon = addons_of(self.eks_backend, cluster).pop(name, None)
        if addon is None:
            raise not_found(cluster, name)
        return ActionResult({"addon": dict(addon, status="DELETING")})

    def describe_addon_versions(self):
        wanted = self._get_param("addonName")
        k8s = self._get_param("kubernetesVersion")
        addons = []
        for name, versions in sorted(EKS_ADDON_VERSIONS.items()):
            if wanted and name != wanted:
                continue
            addons.append({
                "addonName": name,
                "type": "storage" if "csi" in name else "networking",
                "owner": "aws",
                "addonVersions": [
                    {"addonVersion": v, "architecture": ["amd64", "arm64"],
                     "compatibilities": [{"clusterVersion": k8s or "1.35", "platformVersions": ["*"], "defaultVersion": d}],
                     "requiresConfiguration": False}
                    for v, d in versions
                ],
            })
        return ActionResult({"addons": addons})

    orig_describe_update = getattr(EKSResponse, "describe_update", None)

    def describe_update(self):
        update_id = self._get_param("updateId")
        update = self.eks_backend.__dict__.get("spotflow_updates", {}).get(update_id)
        if update is None:
            if orig_describe_update:
                return orig_describe_update(self)
            # moto applies node group config updates at once: report them done
            update = {"id": update_id, "status": "Successful", "type": "ConfigUpdate", "params": [], "errors": []}
        return ActionResult({"update": update})

    for fn in (create_addon, describe_addon, list_addons, update_addon, delete_addon, describe_addon_versions, describe_update):
        setattr(EKSResponse, fn.__name__, fn)
    urls.url_paths.update({
        "{0}/clusters/(?P<name>[^/]+)/addons$": urls.response.dispatch,
        "{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)$": urls.response.dispatch,
        "{0}/clusters/(?P<name>[^/]+)/addons/(?P<addonName>[^/]+)/update$": urls.response.dispatch,
        "{0}/clusters/(?P<name>[^/]+)/updates/(?P<updateId>[^/]+)$": urls.response.dispatch,
        "{0}/addons/supported-versions$": urls.response.dispatch,
    })


# --------------------------------------------------------------------------
# 7. FIS spot interruptions
def patch_fis(cfg) -> None:
    from moto.ec2.models import ec2_backends
    from moto.fis.models import Experiment, FISBackend

    done: dict[str, str] = {}  # experiment id -> final status, set by the node simulator
    watched: set[str] = set()

    orig_start = FISBackend.start_experiment

    def start_experiment(self, *args, **kwargs):
        result = orig_start(self, *args, **kwargs)
        exp_id = result["experiment"]["id"] if "experiment" in result else result["id"]
        experiment = self.experiments[exp_id]
        ec2 = ec2_backends[self.account_id][self.region_name]
        instance_ids: list[str] = []
        for action in experiment.actions.values():
            if action.get("actionId") != SPOT_INTERRUPTION_ACTION:
                continue
            notice = _iso_duration_seconds((action.get("parameters") or {}).get("durationBeforeInterruption", "PT2M"))
            for target_name in (action.get("targets") or {}).values():
                target = experiment.targets.get(target_name, {})
                instance_ids += _resolve_instances(ec2, target)
        watched.add(exp_id)
        if not instance_ids:
            done[exp_id] = "failed" if experiment.experiment_options.get("emptyTargetResolutionMode") != "skip" else "completed"
        elif HOOKS.interrupt_instances is None:
            done[exp_id] = "failed"
        else:
            # AWS gives two minutes' notice; the local cloud scales it down.
            scaled = min(notice, cfg.spot_notice_seconds)

            def finished(status: str, exp_id=exp_id) -> None:
                done[exp_id] = status

            HOOKS.interrupt_instances(self.account_id, self.region_name, instance_ids, scaled, finished)
        experiment.spotflow_instance_ids = instance_ids
        return result

    FISBackend.start_experiment = start_experiment

    orig_status = Experiment.status

    def status_get(self):
        if self.id in watched:
            return done.get(self.id, "running")
        return orig_status.fget(self)

    def status_set(self, value):
        orig_status.fset(self, value)

    Experiment.status = property(status_get, status_set)


def instance_tags(ec2, instance_id: str) -> dict[str, str]:
    return {t["key"]: t["value"] for t in ec2.describe_tags(filters={"resource-id": [instance_id]})}


def _iso_duration_seconds(text: str) -> float:
    import re

    m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?", text or "")
    if not m:
        return 120.0
    h, mnt, s = (int(x or 0) for x in m.groups())
    return h * 3600 + mnt * 60 + s


def _resolve_instances(ec2, target: dict[str, Any]) -> list[str]:
    """Instances an FIS target names: by ARN, or by tags and filters, then selection mode."""
    if target.get("resourceType") not in ("aws:ec2:spot-instance", "aws:ec2:instance"):
        return []
    instances = [i for i in ec2.all_instances() if i.state == "running"]
    arns = target.get("resourceArns") or []
    if arns:
        ids = {a.rsplit("/", 1)[-1] for a in arns}
        instances = [i for i in instances if i.id in ids]
    wanted = target.get("resourceTags") or {}
    if wanted:
        instances = [i for i in instances if wanted.items() <= instance_tags(ec2, i.id).items()]
    for f in target.get("filters") or []:
        path, values = f.get("path"), set(f.get("values") or [])
        if path == "State.Name":
            instances = [i for i in instances if i.state in values]
        elif path == "Placement.AvailabilityZone":
            instances = [i for i in instances if i.placement in values]
    instances.sort(key=lambda i: i.id)
    mode = target.get("selectionMode", "ALL")
    if mode.startswith("COUNT("):
        instances = instances[: int(mode[6:-1])]
    elif mode.startswith("PERCENT("):
        n = max(1, len(instances) * int(mode[8:-1]) // 100) if instances else 0
        instances = instances[:n]
    return [i.id for i in instances]


# --------------------------------------------------------------------------
# 8. ECR backed by the local registry
class Registry:
    """A tiny client of the Docker Registry HTTP API v2 (the local docker-registry)."""

    MANIFEST_TYPES = ", ".join([
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ])

    def __init__(self, base: str):
        self.base = base

    def _req(self, method: str, path: str, headers: dict | None = None):
        import urllib.error
        import urllib.request

        req = urllib.request.Request(self.base + path, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers or {}), b""

    def tags(self, repo: str) -> list[str]:
        code, _h, body = self._req("GET", f"/v2/{repo}/tags/list")
        if code != 200:
            return []
        return json.loads(body).get("tags") or []

    def manifest(self, repo: str, ref: str) -> tuple[str, str, str] | None:
        code, headers, body = self._req("GET", f"/v2/{repo}/manifests/{ref}", {"Accept": self.MANIFEST_TYPES})
        if code != 200:
            return None
        h = {k.lower(): v for k, v in headers.items()}
        return body.decode(), h.get("content-type", ""), h.get("docker-content-digest", "")

    def delete(self, repo: str, digest: str) -> None:
        self._req("DELETE", f"/v2/{repo}/manifests/{digest}")


def patch_ecr(cfg) -> None:
    from moto.ecr.models import ECRBackend, Repository
    from moto.ecr.responses import ECRResponse

    registry = Registry(f"http://{cfg.host}:{cfg.registry_port}")
    host = f"{cfg.host}:{cfg.registry_port}"

    orig_repo_init = Repository.__init__

    def repo_init(self, *args, **kwargs):
        orig_repo_init(self, *args, **kwargs)
        self.uri = f"{host}/{self.name}"

    Repository.__init__ = repo_init

    orig_token = ECRResponse.get_authorization_token

    def get_authorization_token(self):
        result = orig_token(self)
        for data in result.result["authorizationData"]:  # type: ignore[attr-defined]
            data["proxyEndpoint"] = f"http://{host}"
            data["expiresAt"] = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=12)
        return result

    ECRResponse.get_authorization_token = get_authorization_token

    def sync(backend, repository_name: str) -> None:
        repo = backend.repositories.get(repository_name)
        if repo is None:
            return
        known = {t for img in repo.images for t in (img.image_tags or [])}
        for tag in registry.tags(repository_name):
            if tag in known:
                continue
            found = registry.manifest(repository_name, tag)
            if found:
                manifest, media_type, digest = found
                try:
                    backend.put_image(repository_name, manifest, tag, media_type or None, digest or None)
                except Exception as e:  # an identical image already tagged: fine
                    LOG.debug("ecr sync %s:%s: %s", repository_name, tag, e)

    for name in ("list_images", "describe_images", "batch_get_image"):
        orig = getattr(ECRBackend, name)

        def wrapped(self, repository_name, *args, _orig=orig, **kwargs):
            sync(self, repository_name)
            return _orig(self, repository_name, *args, **kwargs)

        setattr(ECRBackend, name, wrapped)

    orig_batch_delete = ECRBackend.batch_delete_image

    def batch_delete_image(self, repository_name, registry_id=None, image_ids=None):
        repo = self.repositories.get(repository_name)
        digests = []
        if repo is not None:
            for img in repo.images:
                for iid in image_ids or []:
                    if iid.get("imageDigest") == img.get_image_digest() or iid.get("imageTag") in (img.image_tags or []):
                        digests.append(img.get_image_digest())
        result = orig_batch_delete(self, repository_name=repository_name, registry_id=registry_id, image_ids=image_ids)
        for d in digests:
            registry.delete(repository_name, d)
        return result

    ECRBackend.batch_delete_image = batch_delete_image

    orig_delete_repo = ECRBackend.delete_repository

    def delete_repository(self, repository_name, registry_id=None, force=False):
        sync(self, repository_name)
        repo = orig_delete_repo(self, repository_name, registry_id, force)
        for img in repo.images:
            registry.delete(repository_name, img.get_image_digest())
        return repo

    ECRBackend.delete_repository = delete_repository


# --------------------------------------------------------------------------
# 10. RDS gp3 baseline
def patch_rds_gp3() -> None:
    """gp3 volumes always have a throughput and IOPS on AWS (baseline 125 MiB/s,
    3000 IOPS below 400 GiB); moto leaves them out, and amazon.aws.rds_instance
    then fails with KeyError 'StorageThroughput' on its second run."""
    from moto.rds.models import DBInstance

    prop = DBInstance.storage_throughput

    def getter(self):
        value = prop.fget(self)
        if value is None and self.storage_type == "gp3":
            return 125
        return value

    DBInstance.storage_throughput = property(getter, prop.fset)
    orig_init = DBInstance.__init__

    def init(self, *args, **kwargs):
        orig_init(self, *args, **kwargs)
        if self.storage_type == "gp3" and not self.iops:
            self.iops = 3000

    DBInstance.__init__ = init


# --------------------------------------------------------------------------
# 11. Secrets Manager: AWS's error text for a secret marked for deletion
SECRET_MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion."


def patch_secretsmanager() -> None:
    from moto.secretsmanager.exceptions import InvalidRequestException
    from moto.secretsmanager.models import SecretsManagerBackend

    orig = SecretsManagerBackend.get_secret_value

    def get_secret_value(self, *args, **kwargs):
        try:
            return orig(self, *args, **kwargs)
        except InvalidRequestException as e:
            if "marked deleted" in str(getattr(e, "message", e)):
                raise InvalidRequestException(SECRET_MARKED_FOR_DELETION) from None
            raise

    SecretsManagerBackend.get_secret_value = get_secret_value


def apply_all(cfg) -> None:
    patch_secretsmanager()
    patch_rds_gp3()
    patch_iam_oidc()
    patch_ecr(cfg)
    patch_efs_tags()
    patch_eks(cfg)
    patch_fis(cfg)
    patch_latency(cfg.latency)
