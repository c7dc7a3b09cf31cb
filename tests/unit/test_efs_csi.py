"""The local cloud's EFS CSI node plugin: its pure parts (localcloud/nodes/efs_csi.py).

The plugin talking to a kubelet, real mounts and pods: tests/integration/test_localcloud_efs.py.
"""

from __future__ import annotations

import os
import stat

import pytest

from localcloud.nodes.efs_csi import (CsiError, NodePlugin, VolumeHandle, ensure_root_directory, inside,
                                      message_classes, mount_error, parse_volume_handle)


@pytest.mark.parametrize("volume_id,want", [
    ("fs-1234", VolumeHandle("fs-1234", "", "")),
    ("fs-1234:", VolumeHandle("fs-1234", "", "")),
    ("fs-1234::", VolumeHandle("fs-1234", "", "")),
    ("fs-1234::fsap-abcd", VolumeHandle("fs-1234", "", "fsap-abcd")),
    ("fs-1234:/a//b/../c:fsap-abcd", VolumeHandle("fs-1234", "/a/c", "fsap-abcd")),
    ("fs-1234:rel", VolumeHandle("fs-1234", "rel", "")),
])
def test_volume_handles_read_as_the_real_driver_reads_them(volume_id, want):
    assert parse_volume_handle(volume_id) == want


@pytest.mark.parametrize("volume_id,message", [
    ("vol-1234", "volume ID 'vol-1234' is invalid: Expected a file system ID of the form 'fs-...'"),
    ("fs-1:a:fsap-1:x", "volume ID 'fs-1:a:fsap-1:x' is invalid: Expected at most three fields separated by ':'"),
    ("fs-1::ap-1", "volume ID 'fs-1::ap-1' has an invalid access point ID 'ap-1': Expected it to be of the form 'fsap-...'"),
])
def test_bad_volume_handles_are_invalid_arguments(volume_id, message):
    with pytest.raises(CsiError) as e:
        parse_volume_handle(volume_id)
    assert (e.value.code, e.value.message) == ("INVALID_ARGUMENT", message)


def test_an_efs_path_never_leads_above_the_file_system(tmp_path):
    assert inside(tmp_path, "/") == tmp_path
    assert inside(tmp_path, "/airflow/logs") == tmp_path / "airflow/logs"
    assert inside(tmp_path, "../../etc") == tmp_path / "etc"
    assert inside(tmp_path, "/a/../../b") == tmp_path / "b"


def test_the_root_directory_is_created_with_the_creation_info(tmp_path):
    fs = tmp_path / "fs-1"
    root = ensure_root_directory(fs, "/airflow/logs", {"OwnerUid": 50000, "OwnerGid": 0, "Permissions": "0775"})
    st = os.stat(root)
    assert root == fs / "airflow/logs"
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (50000, 0, 0o775)
    parent = os.stat(fs / "airflow")
    assert (parent.st_uid, stat.S_IMODE(parent.st_mode)) == (0, 0o755)
    # an existing directory is left as it is, whatever the CreationInfo says (EFS creates it only once)
    os.chmod(root, 0o700)
    ensure_root_directory(fs, "/airflow/logs", {"OwnerUid": 1, "OwnerGid": 1, "Permissions": "0777"})
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o700 and os.stat(root).st_uid == 50000


def test_without_creation_info_a_missing_root_directory_is_not_created(tmp_path):
    with pytest.raises(FileNotFoundError):
        ensure_root_directory(tmp_path / "fs-1", "/nothing-here", None)
    assert not (tmp_path / "fs-1/nothing-here").exists()
    assert ensure_root_directory(tmp_path / "fs-1", "/", None) == tmp_path / "fs-1"


def test_a_failed_mount_reads_as_the_real_driver_reports_it():
    e = mount_error(VolumeHandle("fs-1", "", "fsap-2"), "/t", "mount.nfs4: access denied by server while mounting 127.0.0.1:/")
    assert e.code == "INTERNAL"
    assert e.message.startswith('Could not mount "fs-1:/" at "/t": mount failed: exit status 32\n')
    assert "-t efs -o accesspoint=fsap-2,tls fs-1:/ /t" in e.message
    assert e.message.endswith("Output: mount.nfs4: access denied by server while mounting 127.0.0.1:/")


class _NoEfs:
    region = "us-east-1"

    def resolve(self, handle, target):
        raise AssertionError("not asked: the request is refused before")


@pytest.mark.parametrize("mode,has_mount,message", [
    (2, True, "Volume capability not supported: invalid access mode: SINGLE_NODE_READER_ONLY"),
    (5, False, "Volume capability not supported: only filesystem volumes are supported"),
])
def test_access_modes_and_types_the_real_driver_refuses(tmp_path, mode, has_mount, message):
    plugin = NodePlugin(_NoEfs(), tmp_path, "i-1")
    with pytest.raises(CsiError) as e:
        plugin.publish("fs-1::fsap-1", str(tmp_path / "t"), mode, has_mount, False)
    assert e.value.message == message


def test_the_messages_have_the_field_numbers_of_the_real_protos():
    M = message_classes()
    # csi.proto v1: NodePublishVolumeRequest volume_id = 1, target_path = 4, volume_capability = 5 (mount = 2,
    # access_mode = 3 {mode = 1}), readonly = 6; bytes as a Go CSI client writes them
    wire = (b"\n\x0cfs-1::fsap-2" b'"\x02/t' b"*\x08\x12\x02\n\x00\x1a\x02\x08\x05" b"0\x01"
            b"B\x04\n\x02k\x76")  # + volume_context = 8 (a map the plugin does not declare: skipped)
    r = M["csi.v1.NodePublishVolumeRequest"].FromString(wire)
    assert (r.volume_id, r.target_path, r.readonly) == ("fs-1::fsap-2", "/t", True)
    assert r.volume_capability.HasField("mount") and r.volume_capability.access_mode.mode == 5
    # pluginregistration/v1 PluginInfo: type = 1, name = 2, endpoint = 3, supported_versions = 4
    info = M["pluginregistration.PluginInfo"](type="CSIPlugin", name="efs.csi.aws.com", endpoint="/s",
                                               supported_versions=["1.0.0"]).SerializeToString()
    assert info == b"\n\tCSIPlugin\x12\x0fefs.csi.aws.com\x1a\x02/s\"\x051.0.0"
    assert M["csi.v1.NodeGetInfoResponse"](node_id="i-1", max_volumes_per_node=0).SerializeToString() == b"\n\x03i-1"
