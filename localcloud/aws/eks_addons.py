"""EKS add-ons (moto has none): Create/Describe/Update/Delete/List and DescribeAddonVersions.

What an add-on puts in the cluster's Kubernetes is there only where the local cloud runs it itself:
``aws-efs-csi-driver`` creates the CSIDriver ``efs.csi.aws.com`` (``attachRequired: false``, as the add-on's
manifest has it; without it the attach/detach controller would wait for a VolumeAttachment forever), whose
node plugin every real node runs (localcloud/nodes/efs_csi.py); DeleteAddon removes it.
"""

from __future__ import annotations

import datetime
import logging
import threading
import urllib.error
import urllib.request
import uuid

from .common import _invalid_parameter

EKS_ADDON_VERSIONS = {
    # name: [(version, default)] - compatible with every Kubernetes minor we emulate
    "aws-efs-csi-driver": [("v3.4.1-eksbuild.1", True), ("v3.3.0-eksbuild.1", False)],
    "vpc-cni": [("v1.21.1-eksbuild.1", True)],
    "coredns": [("v1.12.4-eksbuild.1", True)],
    "kube-proxy": [("v1.35.0-eksbuild.2", True)],
    "eks-pod-identity-agent": [("v1.3.10-eksbuild.1", True)],
}


LOG = logging.getLogger("localcloud.eks")

# add-on name -> the cluster-scoped objects it creates: (collection path, object)
ADDON_OBJECTS = {
    "aws-efs-csi-driver": [("/apis/storage.k8s.io/v1/csidrivers", {
        "apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver", "metadata": {"name": "efs.csi.aws.com"},
        "spec": {"attachRequired": False}})],
}


def _addon_objects(control_planes, cluster: str, addon: str, present: bool) -> None:
    """Create (or delete) the add-on's objects in the cluster's Kubernetes; while its control plane is still
    starting, once it serves."""
    plane = control_planes.get(cluster) if control_planes is not None else None
    objects = ADDON_OBJECTS.get(addon, [])
    if plane is None or not objects:
        return

    def run() -> None:
        plane.settled.wait(timeout=300)
        if plane.state != "ACTIVE":
            return
        for path, body in objects:
            name = body["metadata"]["name"]
            try:
                if present:
                    plane._create(path, body)
                    continue
                req = urllib.request.Request(f"{plane.endpoint}{path}/{name}", method="DELETE")
                urllib.request.urlopen(req, timeout=10, context=plane._admin_ssl()).close()
            except urllib.error.HTTPError as e:
                if e.code != 404:
                    LOG.warning("add-on %s on %s: %s %s: %s", addon, cluster, body["kind"], name, e)
            except OSError as e:  # the add-on stays as the API says; its objects are the cluster's business
                LOG.warning("add-on %s on %s: %s %s: %s", addon, cluster, body["kind"], name, e)

    if plane.settled.is_set():
        run()
    else:
        threading.Thread(target=run, name=f"addon-{addon}-{cluster}", daemon=True).start()


def _patch_eks_addons(eks_models, EKSBackend, EKSResponse, control_planes=None) -> None:
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
        _addon_objects(control_planes, cluster, name, present=True)
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
        _addon_objects(control_planes, cluster, name, present=False)
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
