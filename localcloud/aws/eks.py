"""EKS: clusters answer with their own control plane, node groups are backed by Auto Scaling groups, tags by ARN."""

from __future__ import annotations

import datetime
import json
import logging
import threading
import uuid

from . import eks_access
from .common import _autoscaling, _b64, _caller_arn, _ec2, _invalid_parameter, _invalid_request
from .eks_addons import _patch_eks_addons
from .iam import unpropagated_roles

LOG = logging.getLogger("localcloud.aws.eks")
# Seconds the control plane's network interfaces and the cluster security group outlive DeleteCluster
# (minutes on AWS; SPOTFLOW_LOCALCLOUD_LATENCY {"eks_network_release": s} sets it).
NETWORK_RELEASE_SECONDS = 5
# Seconds after CreateCluster until DescribeCluster names the cluster security group
# (it appears while the cluster is CREATING; {"eks_cluster_security_group": s}).
CLUSTER_SECURITY_GROUP_SECONDS = 3


# Zone IDs without EKS control planes (EKS user guide); which zone name is which ID differs per account.
NO_EKS_ZONE_IDS = ("use1-az3", "usw1-az2", "cac1-az3")


def _unsupported_zone(cluster: str, zones: list[str], valid: list[str]):
    from moto.core.exceptions import JsonRESTError

    error = JsonRESTError("UnsupportedAvailabilityZoneException",
                          f"Cannot create cluster '{cluster}' because {', '.join(zones)}, the targeted availability "
                          f"zone, does not currently have sufficient capacity to support the cluster. Retry and "
                          f"choose from these availability zones: {', '.join(valid)}")
    error.code = 400
    error.description = json.dumps({"__type": "UnsupportedAvailabilityZoneException", "message": error.message,
                                    "clusterName": cluster, "validZones": valid})
    return error


def patch_eks(cfg, control_planes) -> None:
    """``control_planes`` (localcloud.kube.controlplane.ControlPlanes) runs each cluster's Kubernetes."""
    from moto.eks import models as eks_models
    from moto.eks.models import Cluster, EKSBackend, Nodegroup
    from moto.eks.responses import EKSResponse

    # A cluster is as far as its control plane: CREATING until it serves, FAILED if it could not start.
    def cluster_status_get(self):
        stored = self.__dict__.get("_spotflow_cluster_status")
        plane = control_planes.get(self.name)
        if stored == "ACTIVE" and plane is not None and plane.state != "DELETING":
            return plane.state
        return stored

    def cluster_status_set(self, value):
        self.__dict__["_spotflow_cluster_status"] = value

    Cluster.status = property(cluster_status_get, cluster_status_set)

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
        _current_response.access_config = self._get_param("accessConfig")
        try:
            return orig_create_cluster_resp(self)
        finally:
            _current_response.creator = _current_response.access_config = None

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
        unsupported = sorted({s.availability_zone for s in subnets if s.availability_zone_id in NO_EKS_ZONE_IDS})
        if unsupported:
            valid = sorted(z.name for z in ec2.describe_availability_zones() if z.zone_id not in NO_EKS_ZONE_IDS)
            raise _unsupported_zone(name, unsupported, valid)
        if unpropagated_roles(self.account_id, [role_arn]):
            raise _invalid_parameter(f"Role with arn: {role_arn}, could not be assumed because it does not exist "
                                     "or the trusted entity is not correct")
        cluster = orig_create_cluster(self, name, role_arn, resources_vpc_config, *args, **kwargs)
        cluster.spotflow_creator = getattr(_current_response, "creator", None)
        try:
            eks_access.configure(cluster, getattr(_current_response, "access_config", None), cluster.spotflow_creator)
        except Exception:
            self.clusters.pop(name, None)
            raise
        vpc_id = subnets[0].vpc_id
        sg = ec2.create_security_group(
            name=f"eks-cluster-sg-{name}-{uuid.uuid4().hex[:10]}",
            description="EKS created security group applied to ENI that is attached to EKS Control Plane master nodes, as well as any managed workloads.",
            vpc_id=vpc_id,
            tags={"aws:eks:cluster-name": name, f"kubernetes.io/cluster/{name}": "owned", "Name": f"eks-cluster-sg-{name}"},
        )
        cfg_vpc = dict(cluster.resources_vpc_config or {})
        cfg_vpc.update({"vpcId": vpc_id, "securityGroupIds": cfg_vpc.get("securityGroupIds") or []})
        cluster.spotflow_security_group = sg.id
        cfg_vpc.setdefault("endpointPrivateAccess", False)
        cfg_vpc.setdefault("endpointPublicAccess", True)
        cfg_vpc.setdefault("publicAccessCidrs", ["0.0.0.0/0"])
        cluster.resources_vpc_config = cfg_vpc

        def publish_security_group():  # as EKS: the cluster security group shows while CREATING, not at once
            cluster.resources_vpc_config["clusterSecurityGroupId"] = sg.id

        later = float(cfg.latency.get("eks_cluster_security_group", CLUSTER_SECURITY_GROUP_SECONDS))
        timer = threading.Timer(later, publish_security_group)
        timer.daemon = True
        timer.start()
        # EKS's cross-account network interfaces for the control plane, in two of the given subnets
        cluster.spotflow_enis = [
            ec2.create_network_interface(subnet=s, private_ip_address=None, group_ids=[sg.id],
                                         description=f"Amazon EKS {name}").id
            for s in subnets[:2]]
        # every EKS cluster has its own OIDC issuer (moto gives all the same one) and its own Kubernetes
        issuer = f"https://oidc.eks.{self.region_name}.amazonaws.com/id/{uuid.uuid4().hex.upper()}"
        cluster.identity = {"oidc": {"issuer": issuer}}
        plane = control_planes.create(name, issuer)
        cluster.endpoint = plane.endpoint
        cluster.certificate_authority = {"data": _b64(plane.ca_file.read_bytes())}
        return cluster

    EKSBackend.create_cluster = create_cluster

    # UpdateClusterConfig accessConfig (moto ignores it): one way, tracked as an update like EKS's
    orig_update_cluster_config_resp = EKSResponse.update_cluster_config

    def update_cluster_config_resp(self):
        access_config = self._get_param("accessConfig")
        if not access_config:
            return orig_update_cluster_config_resp(self)
        from moto.core.responses import ActionResult

        cluster = self.eks_backend.describe_cluster(name=self._get_param("name"))
        eks_access.update_mode(cluster, access_config)
        update = {"id": str(uuid.uuid4()), "status": "Successful", "type": "AccessConfigUpdate",
                  "params": [{"type": "AuthenticationMode", "value": cluster.access_config["authenticationMode"]}],
                  "createdAt": datetime.datetime.now(datetime.timezone.utc), "errors": []}
        self.eks_backend.__dict__.setdefault("spotflow_updates", {})[update["id"]] = update
        return ActionResult({"update": update})

    EKSResponse.update_cluster_config = update_cluster_config_resp
    eks_access.patch_eks_access(EKSResponse)

    orig_delete_cluster = EKSBackend.delete_cluster

    def delete_cluster(self, name):
        cluster = orig_delete_cluster(self, name)
        control_planes.delete(name)
        ec2 = _ec2(self.account_id, self.region_name)
        sg_id = getattr(cluster, "spotflow_security_group", None)

        def release():
            """As EKS: the control plane's interfaces drain after the cluster is gone, then its security group."""
            for eni_id in getattr(cluster, "spotflow_enis", []):
                try:
                    ec2.delete_network_interface(eni_id)
                except Exception as e:  # already gone
                    LOG.debug("cluster %s: network interface %s: %s", name, eni_id, e)
            if sg_id:
                try:
                    ec2.delete_security_group(group_id=sg_id)
                except Exception as e:  # AWS leaves it too when something still references it
                    LOG.warning("cluster %s: security group %s not deleted: %s", name, sg_id, e)

        timer = threading.Timer(float(cfg.latency.get("eks_network_release", NETWORK_RELEASE_SECONDS)), release)
        timer.daemon = True
        timer.start()
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
        _refuse_types_not_offered(ec2, kwargs.get("instance_types") or ["t3.medium"], subnet_objs)
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
    _patch_eks_addons(eks_models, EKSBackend, EKSResponse, control_planes)
    _patch_eks_tagging(EKSBackend)


class _CurrentResponse(threading.local):
    creator: str | None = None
    access_config: dict | None = None
    update_config: dict | None = None


_current_response = _CurrentResponse()


def _refuse_types_not_offered(ec2, instance_types, subnets) -> None:
    """As EKS: every instance type must be offered in every zone of the node group's subnets (a Spot
    group of several types included), else InvalidRequestException before anything is made."""
    zones = sorted({s.availability_zone for s in subnets})
    offered = {(o["InstanceType"], o["Location"]) for o in ec2.describe_instance_type_offerings(
        location_type="availability-zone", filters={"instance-type": list(instance_types), "location": zones})}
    for instance_type in instance_types:
        for zone in zones:
            if (instance_type, zone) not in offered:
                raise _invalid_request(f"Your requested instance type ({instance_type}) is not supported in your requested "
                                       f"Availability Zone ({zone}). Please retry your request by not specifying an "
                                       f"Availability Zone or choosing {', '.join(_zones_offering(ec2, instance_type))}.")


def _zones_offering(ec2, instance_type: str) -> list[str]:
    return sorted(o["Location"] for o in ec2.describe_instance_type_offerings(
        location_type="availability-zone", filters={"instance-type": [instance_type]}))


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
    """EKS tags node groups, add-ons and access entries by ARN too; moto only tags clusters."""

    def tagged(backend, arn: str):
        for cluster in backend.clusters.values():
            if cluster.arn == arn:
                return cluster.tags
            for ng in cluster.nodegroups.values():
                if ng.arn == arn:
                    return ng.tags
            for entry in cluster.__dict__.get("spotflow_access", {}).get("entries", {}).values():
                if entry["accessEntryArn"] == arn:
                    return entry["tags"]
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


