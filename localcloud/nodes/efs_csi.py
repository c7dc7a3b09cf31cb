"""The EFS CSI node plugin of a real node: ``efs.csi.aws.com`` as the kubelet sees it on EKS.

One process per real node (kubelet.RealNode starts it), in the node's MOUNT namespace only: its bind
mounts are what the node's kubelet and containerd see (and never reach the host), while it stays in the
host's network, where the AWS emulator answers on 127.0.0.1. It speaks the kubelet's plugin registration
(``pluginregistration.Registration`` on ``/var/lib/kubelet/plugins_registry/efs.csi.aws.com-reg.sock``)
and CSI v1's Identity and Node services (``/var/lib/kubelet/plugins/efs.csi.aws.com/csi.sock``). No
controller service: EKS's add-on installs the CSIDriver object with ``attachRequired: false`` (the local
cloud's add-on emulation does: localcloud/aws/eks_addons.py) and Spotflow's PVs are static.

An EFS file system here is a directory, ``STATE/efs/<region>/<fs-id>/`` (DeleteFileSystem removes it:
localcloud/aws/efs.py). NodePublishVolume of a handle ``fs-ID[:subpath[:fsap-ID]]`` asks the EFS API what
the real driver's mount helper finds out from DNS and the NFS server: a file system without a mount target
in the node's Availability Zone (in its VPC) has no address there (``Failed to resolve ...``); an access
point that does not exist, or is another file system's, is refused by the server (``access denied``). The
access point's root directory is created on first use with its CreationInfo (owner uid/gid, permissions),
as EFS does, and bind-mounted at the target path.

The access point's PosixUser is NOT applied: a bind mount keeps the caller's identity, so a pod's
processes read and write with their own uid/gid, and files they create are theirs. Where the pod runs
as the PosixUser (Spotflow's Airflow pods: 50000:0), that is what EFS does; another uid is checked
against the directory's owner and mode as NFS would check an access point without PosixUser
(localcloud/README.md, "What an EFS file system here is, and is not").

Only the fields used are declared in the message descriptors below; their numbers and packages are those of
container-storage-interface/spec csi.proto (v1) and kubelet's pluginregistration/v1 api.proto, and
protobuf skips the fields not declared.
"""

from __future__ import annotations

import argparse
import logging
import os
import posixpath
import subprocess
import sys
import threading
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

DRIVER = "efs.csi.aws.com"
VENDOR_VERSION = "v3.4.1-spotflow-localcloud"
REGISTRATION_DIR = "/var/lib/kubelet/plugins_registry"
PLUGIN_DIR = f"/var/lib/kubelet/plugins/{DRIVER}"
# csi.v1.VolumeCapability.AccessMode.Mode: the real driver takes these two
ACCESS_MODES = {0: "UNKNOWN", 1: "SINGLE_NODE_WRITER", 2: "SINGLE_NODE_READER_ONLY", 3: "MULTI_NODE_READER_ONLY",
                4: "MULTI_NODE_SINGLE_WRITER", 5: "MULTI_NODE_MULTI_WRITER"}
SUPPORTED_ACCESS_MODES = (1, 5)

LOG = logging.getLogger("localcloud.efs_csi")


class CsiError(Exception):
    """A gRPC status the plugin answers with (the real driver's code and text)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


# --- pure logic -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class VolumeHandle:
    file_system_id: str
    subpath: str  # "" when none
    access_point_id: str  # "" when none


def parse_volume_handle(volume_id: str) -> VolumeHandle:
    """``fs-ID[:subpath[:fsap-ID]]``, as the real driver's parseVolumeId reads it (same messages)."""
    if not volume_id.startswith("fs-"):
        raise CsiError("INVALID_ARGUMENT",
                       f"volume ID '{volume_id}' is invalid: Expected a file system ID of the form 'fs-...'")
    tokens = volume_id.split(":")
    if len(tokens) > 3:
        raise CsiError("INVALID_ARGUMENT",
                       f"volume ID '{volume_id}' is invalid: Expected at most three fields separated by ':'")
    subpath = posixpath.normpath(tokens[1]) if len(tokens) >= 2 and tokens[1] else ""
    apid = tokens[2] if len(tokens) == 3 else ""
    if apid and not apid.startswith("fsap-"):
        raise CsiError("INVALID_ARGUMENT", f"volume ID '{volume_id}' has an invalid access point ID '{apid}': "
                                           "Expected it to be of the form 'fsap-...'")
    return VolumeHandle(tokens[0], subpath, apid)


def file_system_dir(state_dir: Path, region: str, file_system_id: str) -> Path:
    """Where a file system's data lives on this machine."""
    return state_dir / "efs" / region / file_system_id


def inside(root: Path, path: str) -> Path:
    """``path`` (an EFS path, absolute or not) under ``root``; never above it, as on the NFS server."""
    clean = posixpath.normpath("/" + path).lstrip("/")
    return root / clean if clean else root


def ensure_root_directory(fs_dir: Path, path: str, creation_info: dict | None) -> Path:
    """The access point's root directory, created as EFS creates it on first use: with the CreationInfo's
    owner and permissions (directories above it that are missing: root's, 0755). Without CreationInfo a
    missing root directory is not created and the mount fails, as on EFS."""
    fs_dir.mkdir(parents=True, exist_ok=True)
    root = inside(fs_dir, path)
    if root.is_dir():
        return root
    if not creation_info:
        raise FileNotFoundError(root)
    root.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    root.mkdir()
    os.chown(root, int(creation_info["OwnerUid"]), int(creation_info["OwnerGid"]))
    os.chmod(root, int(str(creation_info["Permissions"]), 8))  # chmod: the process umask does not apply
    return root


def mount_error(handle: VolumeHandle, target: str, output: str, status: int = 32) -> CsiError:
    """What the real driver answers when its mount helper fails (pkg/driver/node.go, k8s mount-utils)."""
    source = f"{handle.file_system_id}:{handle.subpath or '/'}"
    options = (f"accesspoint={handle.access_point_id},tls" if handle.access_point_id else "tls")
    return CsiError("INTERNAL", f'Could not mount "{source}" at "{target}": mount failed: exit status {status}\n'
                                f"Mounting command: mount\nMounting arguments: -t efs -o {options} {source} {target}\n"
                                f"Output: {output}")


# --- the EFS API as the node sees it --------------------------------------------------------------------
class Efs:
    """What the real driver's mount helper learns from DNS and the NFS server, asked of the EFS API."""

    def __init__(self, endpoint: str, region: str, access_key: str, secret_key: str, subnet_id: str):
        import boto3

        kw = dict(endpoint_url=endpoint, region_name=region, aws_access_key_id=access_key,
                  aws_secret_access_key=secret_key)
        self.region = region
        self.efs, self.ec2 = boto3.client("efs", **kw), boto3.client("ec2", **kw)
        self.subnet_id = subnet_id
        self._where: tuple[str, str] | None = None

    def node_zone_and_vpc(self) -> tuple[str, str]:
        if self._where is None:
            s = self.ec2.describe_subnets(SubnetIds=[self.subnet_id])["Subnets"][0]
            self._where = (s["AvailabilityZone"], s["VpcId"])
        return self._where

    def resolve(self, handle: VolumeHandle, target: str) -> tuple[str, dict | None]:
        """(the directory the mount shows, under the file system; the access point's CreationInfo) or the
        mount helper's error."""
        fsid, dns = handle.file_system_id, f"{handle.file_system_id}.efs.{self.region}.amazonaws.com"
        unresolvable = mount_error(handle, target, f'Failed to resolve "{dns}" - check that your file system ID is '
                                   "correct, and ensure that the VPC has an EFS mount target for this file system ID.\n"
                                   "See https://docs.aws.amazon.com/console/efs/mount-dns-name for more detail.", 1)
        try:
            targets = self.efs.describe_mount_targets(FileSystemId=fsid)["MountTargets"]
        except self.efs.exceptions.FileSystemNotFound:
            raise unresolvable from None
        zone, vpc = self.node_zone_and_vpc()
        if not any(t["AvailabilityZoneName"] == zone and t.get("VpcId", vpc) == vpc
                   and t["LifeCycleState"] == "available" for t in targets):
            raise unresolvable
        path, creation = "/", None
        if handle.access_point_id:
            denied = mount_error(handle, target, "mount.nfs4: access denied by server while mounting 127.0.0.1:/")
            try:
                ap = self.efs.describe_access_points(AccessPointId=handle.access_point_id)["AccessPoints"][0]
            except self.efs.exceptions.AccessPointNotFound:
                raise denied from None
            if ap["FileSystemId"] != fsid:
                raise denied
            root = ap.get("RootDirectory") or {}
            path, creation = root.get("Path") or "/", root.get("CreationInfo")
        return posixpath.join(path, handle.subpath.lstrip("/")) if handle.subpath else path, creation


# --- the CSI node plugin ------------------------------------------------------------------------------
class NodePlugin:
    def __init__(self, efs: Efs, state_dir: Path, node_id: str):
        self.efs, self.state_dir, self.node_id = efs, state_dir, node_id
        self._lock = threading.Lock()

    def publish(self, volume_id: str, target: str, access_mode: int, has_mount: bool, readonly: bool) -> None:
        if not target:
            raise CsiError("INVALID_ARGUMENT", "Target path not provided")
        if access_mode not in SUPPORTED_ACCESS_MODES:
            raise CsiError("INVALID_ARGUMENT", "Volume capability not supported: invalid access mode: "
                                               f"{ACCESS_MODES.get(access_mode, access_mode)}")
        if not has_mount:
            raise CsiError("INVALID_ARGUMENT", "Volume capability not supported: only filesystem volumes are supported")
        handle = parse_volume_handle(volume_id)
        path, creation = self.efs.resolve(handle, target)
        fs_dir = file_system_dir(self.state_dir, self.efs.region, handle.file_system_id)
        with self._lock:
            try:
                source = ensure_root_directory(fs_dir, path, creation)
            except FileNotFoundError:
                raise mount_error(handle, target, "mount.nfs4: mounting 127.0.0.1:/ failed, reason given by server: "
                                                  "No such file or directory") from None
            if _is_mountpoint(target):
                return  # published already: NodePublishVolume is idempotent
            Path(target).mkdir(parents=True, exist_ok=True)
            _run(["mount", "--bind", str(source), target])
            if readonly:
                _run(["mount", "-o", "remount,bind,ro", target])
        LOG.info("published %s at %s (%s)", volume_id, target, source)

    def unpublish(self, target: str) -> None:
        if not target:
            raise CsiError("INVALID_ARGUMENT", "Target path not provided")
        with self._lock:
            if _is_mountpoint(target):
                _run(["umount", target])
                LOG.info("unpublished %s", target)


def _is_mountpoint(path: str) -> bool:
    real = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == real for line in f)


def _run(argv: list[str]) -> None:
    p = subprocess.run(argv, capture_output=True, text=True)
    if p.returncode != 0:
        raise CsiError("INTERNAL", f"{' '.join(argv)}: {p.stderr.strip()}")


# --- gRPC ------------------------------------------------------------------------------------------------
_S, _B, _I64, _I32, _M = 9, 8, 3, 5, 11  # FieldDescriptorProto types: string, bool, int64, int32, message
_REPEATED = 3


def message_classes() -> dict[str, type]:
    """The messages the plugin reads and writes, by full name, from descriptors declared here."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    files = {
        "pluginregistration": {
            "InfoRequest": [],
            "PluginInfo": [("type", 1, _S), ("name", 2, _S), ("endpoint", 3, _S), ("supported_versions", 4, _S, _REPEATED)],
            "RegistrationStatus": [("plugin_registered", 1, _B), ("error", 2, _S)],
            "RegistrationStatusResponse": [],
        },
        "csi.v1": {
            "GetPluginInfoRequest": [], "GetPluginInfoResponse": [("name", 1, _S), ("vendor_version", 2, _S)],
            "GetPluginCapabilitiesRequest": [], "GetPluginCapabilitiesResponse": [],
            "ProbeRequest": [], "ProbeResponse": [],
            "NodeGetInfoRequest": [], "NodeGetInfoResponse": [("node_id", 1, _S), ("max_volumes_per_node", 2, _I64)],
            "NodeGetCapabilitiesRequest": [], "NodeGetCapabilitiesResponse": [],
            "MountVolume": [("fs_type", 1, _S), ("mount_flags", 2, _S, _REPEATED)],
            "AccessMode": [("mode", 1, _I32)],  # an enum on the wire: a varint, as int32
            "VolumeCapability": [("mount", 2, ".csi.v1.MountVolume"), ("access_mode", 3, ".csi.v1.AccessMode")],
            "NodePublishVolumeRequest": [("volume_id", 1, _S), ("target_path", 4, _S),
                                         ("volume_capability", 5, ".csi.v1.VolumeCapability"), ("readonly", 6, _B)],
            "NodePublishVolumeResponse": [],
            "NodeUnpublishVolumeRequest": [("volume_id", 1, _S), ("target_path", 2, _S)],
            "NodeUnpublishVolumeResponse": [],
        },
    }
    pool = descriptor_pool.DescriptorPool()
    for package, messages in files.items():
        fdp = descriptor_pb2.FileDescriptorProto(name=f"spotflow/{package}.proto", package=package, syntax="proto3")
        for name, fields in messages.items():
            m = fdp.message_type.add(name=name)
            for fname, number, ftype, *label in fields:
                f = m.field.add(name=fname, number=number, label=label[0] if label else 1)
                if isinstance(ftype, str):
                    f.type, f.type_name = _M, ftype
                else:
                    f.type = ftype
        pool.Add(fdp)
    return {f"{p}.{n}": message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{p}.{n}"))
            for p, messages in files.items() for n in messages}


def serve(plugin: NodePlugin, registration_socket: str, csi_socket: str):
    """The registration and CSI services, both on both sockets; returns the started gRPC server."""
    import grpc

    M = message_classes()

    def rpc(request_type: str, fn):
        def handler(request, context):
            try:
                return fn(request)
            except CsiError as e:
                LOG.warning("%s", e.message)
                context.abort(getattr(grpc.StatusCode, e.code), e.message)
        return grpc.unary_unary_rpc_method_handler(handler, request_deserializer=M[request_type].FromString,
                                                   response_serializer=lambda m: m.SerializeToString())

    def publish(r):
        cap = r.volume_capability
        plugin.publish(r.volume_id, r.target_path, cap.access_mode.mode, cap.HasField("mount"), r.readonly)
        return M["csi.v1.NodePublishVolumeResponse"]()

    def unpublish(r):
        plugin.unpublish(r.target_path)
        return M["csi.v1.NodeUnpublishVolumeResponse"]()

    def notified(r):
        (LOG.info if r.plugin_registered else LOG.error)("kubelet: registered=%s %s", r.plugin_registered, r.error)
        return M["pluginregistration.RegistrationStatusResponse"]()

    services = {
        "pluginregistration.Registration": {
            "GetInfo": rpc("pluginregistration.InfoRequest", lambda r: M["pluginregistration.PluginInfo"](
                type="CSIPlugin", name=DRIVER, endpoint=csi_socket, supported_versions=["1.0.0"])),
            "NotifyRegistrationStatus": rpc("pluginregistration.RegistrationStatus", notified),
        },
        "csi.v1.Identity": {
            "GetPluginInfo": rpc("csi.v1.GetPluginInfoRequest", lambda r: M["csi.v1.GetPluginInfoResponse"](
                name=DRIVER, vendor_version=VENDOR_VERSION)),
            "GetPluginCapabilities": rpc("csi.v1.GetPluginCapabilitiesRequest",
                                         lambda r: M["csi.v1.GetPluginCapabilitiesResponse"]()),
            "Probe": rpc("csi.v1.ProbeRequest", lambda r: M["csi.v1.ProbeResponse"]()),
        },
        "csi.v1.Node": {
            "NodeGetInfo": rpc("csi.v1.NodeGetInfoRequest",
                               lambda r: M["csi.v1.NodeGetInfoResponse"](node_id=plugin.node_id)),
            # no STAGE_UNSTAGE_VOLUME, no GET_VOLUME_STATS: the kubelet calls only Publish and Unpublish
            "NodeGetCapabilities": rpc("csi.v1.NodeGetCapabilitiesRequest",
                                       lambda r: M["csi.v1.NodeGetCapabilitiesResponse"]()),
            "NodePublishVolume": rpc("csi.v1.NodePublishVolumeRequest", publish),
            "NodeUnpublishVolume": rpc("csi.v1.NodeUnpublishVolumeRequest", unpublish),
        },
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(s, m) for s, m in services.items()])
    for sock in (csi_socket, registration_socket):  # the registration socket last: the kubelet dials on sight
        Path(sock).parent.mkdir(parents=True, exist_ok=True)
        Path(sock).unlink(missing_ok=True)
        server.add_insecure_port(f"unix:{sock}")
    server.start()
    return server


def main(argv=None) -> int:
    """Run in the node's mount namespace: ``python -m localcloud.nodes.efs_csi --config STATE/config.json ...``"""
    import signal

    from ..config import Config

    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--node-id", required=True)
    p.add_argument("--region", required=True)
    p.add_argument("--subnet", required=True)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    cfg = Config.from_json(Path(args.config).read_text())
    efs = Efs(cfg.moto_url, args.region, cfg.access_key, cfg.secret_key, args.subnet)
    plugin = NodePlugin(efs, cfg.state_dir, args.node_id)
    server = serve(plugin, f"{REGISTRATION_DIR}/{DRIVER}-reg.sock", f"{PLUGIN_DIR}/csi.sock")
    LOG.info("%s node plugin for %s serving", DRIVER, args.node_id)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    server.stop(2).wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
