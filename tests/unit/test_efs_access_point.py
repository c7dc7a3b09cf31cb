"""Unit tests of spotflow.eks.efs_access_point: identity by Name tag, immutable
fields, permissions, and the module's behaviour against an in-memory EFS double
that (like moto) ignores ClientToken."""

from __future__ import annotations

import copy
import itertools
import json

import botocore.waiter
import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.spotflow.eks.plugins.modules import efs_access_point as efs
from botocore.exceptions import ClientError

FS = "fs-0123456789abcdef0"


def described(ap_id="fsap-1", name="dags", path="/airflow/dags", uid=50000, state="available", tags=None, **extra):
    ap = {
        "AccessPointId": ap_id,
        "AccessPointArn": "arn:aws:elasticfilesystem:eu-west-1:123456789012:access-point/" + ap_id,
        "FileSystemId": FS,
        "Name": name,
        "Tags": [{"Key": "Name", "Value": name}] + [{"Key": k, "Value": v} for k, v in (tags or {}).items()],
        "PosixUser": {"Uid": uid, "Gid": 0},
        "RootDirectory": {"Path": path, "CreationInfo": {"OwnerUid": uid, "OwnerGid": 0, "Permissions": "0775"}},
        "LifeCycleState": state,
    }
    ap.update(extra)
    return ap


def params(**overrides):
    base = {
        "file_system_id": FS,
        "name": "dags",
        "posix_user": {"uid": 50000, "gid": 0, "secondary_gids": None},
        "root_directory": {"path": "/airflow/dags", "creation_info": {"owner_uid": 50000, "owner_gid": 0, "permissions": "0775"}},
        "tags": {"team": "data"},
    }
    base.update(overrides)
    return base


# ---------------------------------------------------------------- pure logic


@pytest.mark.parametrize("value, expected", [("755", "0755"), ("0775", "0775"), ("1777", "1777")])
def test_permissions_text(value, expected):
    assert efs.permissions_text(value) == expected


@pytest.mark.parametrize("value", [493, 755, True, "0999", "rwx", "07755"])
def test_permissions_text_refuses_numbers_and_non_octal(value):
    with pytest.raises(efs.SpecError):
        efs.permissions_text(value)


@pytest.mark.parametrize("path, expected", [("/a/b/", "/a/b"), ("a", "/a"), ("/", "/"), (None, "/"), ("", "/")])
def test_normalize_path(path, expected):
    assert efs.normalize_path(path) == expected


@pytest.mark.parametrize(
    "overrides, fields",
    [
        ({}, []),
        (
            {"root_directory": {"path": "/airflow/dags/",
                                "creation_info": {"owner_uid": 50000, "owner_gid": 0, "permissions": "775"}}},
            [],
        ),
        ({"posix_user": None, "root_directory": None}, []),  # not managed
        ({"posix_user": {"uid": 1000, "gid": 0}}, ["posix_user"]),
        ({"posix_user": {"uid": 50000, "gid": 0, "secondary_gids": [5]}}, ["posix_user"]),
        ({"root_directory": {"path": "/airflow/logs", "creation_info": None}}, ["root_directory.path"]),
        (
            {"root_directory": {"path": "/airflow/dags",
                                "creation_info": {"owner_uid": 50000, "owner_gid": 0, "permissions": "0755"}}},
            ["root_directory.creation_info"],
        ),
    ],
)
def test_replacement_changes(overrides, fields):
    assert [f for f, _o, _n in efs.replacement_changes(described(), params(**overrides))] == fields


def test_secondary_gids_compare_as_a_set():
    ap = described(PosixUser={"Uid": 1, "Gid": 2, "SecondaryGids": [7, 5]})
    wanted = params(posix_user={"uid": 1, "gid": 2, "secondary_gids": [5, 7, 5]}, root_directory=None)
    assert efs.replacement_changes(ap, wanted) == []


def test_choose_prefers_matching_path_and_refuses_ambiguity():
    one, two = described("fsap-1", path="/a"), described("fsap-2", path="/b")
    assert efs.choose([], params()) == (None, None)
    assert efs.choose([one], params()) == (one, None)
    assert efs.choose([one, two], params(root_directory={"path": "/b", "creation_info": None})) == (two, None)
    chosen, error = efs.choose([one, two], params(root_directory=None))
    assert chosen is None and "fsap-1, fsap-2" in error


# ---------------------------------------------------------------- module behaviour


class Paginator:
    def __init__(self, client):
        self.client = client

    def paginate(self, FileSystemId=None):
        self.fs = FileSystemId
        return self

    def build_full_result(self):
        return {"AccessPoints": [copy.deepcopy(ap) for ap in self.client.aps.values() if self.fs in (None, ap["FileSystemId"])]}


class FakeEFS:
    """EFS double: ClientToken ignored (as moto does), so only the module's lookup prevents duplicates."""

    def __init__(self, aps=None, create_state="available"):
        self.aps = dict((ap["AccessPointId"], copy.deepcopy(ap)) for ap in (aps or []))
        self.calls = []
        self.ids = itertools.count(100)
        self.create_state = create_state

    def get_paginator(self, name):
        assert name == "describe_access_points"
        return Paginator(self)

    def describe_access_points(self, AccessPointId, aws_retry=False):
        if AccessPointId not in self.aps:
            raise ClientError({"Error": {"Code": "AccessPointNotFound", "Message": "nope"}}, "DescribeAccessPoints")
        ap = self.aps[AccessPointId]
        result = copy.deepcopy(ap)
        ap["LifeCycleState"] = "available"  # the next poll sees it ready
        return {"AccessPoints": [result]}

    def create_access_point(self, aws_retry=False, **request):
        self.calls.append(("create_access_point", request))
        ap_id = "fsap-%d" % next(self.ids)
        ap = dict(
            AccessPointId=ap_id,
            AccessPointArn="arn:aws:elasticfilesystem:eu-west-1:123456789012:access-point/" + ap_id,
            FileSystemId=request["FileSystemId"],
            Tags=request["Tags"],
            PosixUser=request.get("PosixUser"),
            RootDirectory=request.get("RootDirectory", {"Path": "/"}),
            LifeCycleState=self.create_state,
        )
        self.aps[ap_id] = ap
        return dict(copy.deepcopy(ap), ResponseMetadata={})

    def delete_access_point(self, AccessPointId, aws_retry=False):
        self.calls.append(("delete_access_point", AccessPointId))
        self.aps.pop(AccessPointId, None)

    def tag_resource(self, ResourceId, Tags, aws_retry=False):
        self.calls.append(("tag_resource", Tags))
        tags = dict((t["Key"], t["Value"]) for t in self.aps[ResourceId]["Tags"])
        tags.update((t["Key"], t["Value"]) for t in Tags)
        self.aps[ResourceId]["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]

    def untag_resource(self, ResourceId, TagKeys, aws_retry=False):
        self.calls.append(("untag_resource", TagKeys))
        self.aps[ResourceId]["Tags"] = [t for t in self.aps[ResourceId]["Tags"] if t["Key"] not in TagKeys]

    def mutations(self):
        return [name for name, _ in self.calls]


def run(args, client, monkeypatch, capsys, check_mode=False, diff=True):
    monkeypatch.setattr(AnsibleAWSModule, "client", lambda self, service, retry_decorator=None, **kw: client)
    module_args = dict(args, region="eu-west-1", _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(module_args):
        with pytest.raises(SystemExit) as exit_info:
            efs.main()
    result = json.loads(capsys.readouterr().out)
    result["_rc"] = exit_info.value.code
    return result


def args(**overrides):
    base = {
        "file_system_id": FS,
        "name": "dags",
        "posix_user": {"uid": 50000, "gid": 0},
        "root_directory": {"path": "/airflow/dags", "creation_info": {"owner_uid": 50000, "owner_gid": 0, "permissions": "0775"}},
        "tags": {"team": "data"},
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize("check_mode", [False, True])
def test_create_then_rerun_makes_no_second_access_point(monkeypatch, capsys, check_mode):
    sleeps = []
    monkeypatch.setattr(botocore.waiter.time, "sleep", sleeps.append)
    client = FakeEFS(create_state="creating")
    result = run(args(), client, monkeypatch, capsys, check_mode=check_mode)
    assert result["changed"] is True
    assert result["diff"]["after"]["tags"] == {"Name": "dags", "team": "data"}
    if check_mode:
        assert client.calls == [] and client.aps == {}
        assert result["access_point_id"] == ""
        return
    request = client.calls[0][1]
    assert request["PosixUser"] == {"Uid": 50000, "Gid": 0}
    assert request["RootDirectory"]["CreationInfo"]["Permissions"] == "0775"
    assert {"Key": "Name", "Value": "dags"} in request["Tags"]
    assert result["access_point_id"] == "fsap-100"
    assert result["access_point"]["life_cycle_state"] == "available"  # waited for: one poll saw "creating"
    assert sleeps == [2]  # the first of the growing poll delays
    again = run(args(), client, monkeypatch, capsys)
    assert again["changed"] is False
    assert again["access_point_id"] == "fsap-100"
    assert len(client.aps) == 1


@pytest.mark.parametrize("check_mode", [False, True])
def test_retag_keeps_name(monkeypatch, capsys, check_mode):
    client = FakeEFS([described(tags={"team": "data", "old": "x"})])
    result = run(args(tags={"team": "ml"}), client, monkeypatch, capsys, check_mode=check_mode)
    assert result["changed"] is True
    assert result["diff"]["after"]["tags"] == {"Name": "dags", "team": "ml"}
    if check_mode:
        assert client.calls == []
    else:
        assert client.calls == [("untag_resource", ["old"]), ("tag_resource", [{"Key": "team", "Value": "ml"}])]
        assert result["access_point"]["tags"] == {"Name": "dags", "team": "ml"}


def test_deleting_access_points_with_the_name_are_ignored(monkeypatch, capsys):
    client = FakeEFS([described("fsap-old", state="deleting")])
    result = run(args(), client, monkeypatch, capsys)
    assert result["changed"] is True and client.mutations() == ["create_access_point"]


def test_other_file_systems_and_names_are_ignored(monkeypatch, capsys):
    other_fs = described("fsap-7", FileSystemId="fs-other")
    other_name = described("fsap-8", name="logs", path="/airflow/logs")
    client = FakeEFS([other_fs, other_name])
    assert run(args(), client, monkeypatch, capsys)["changed"] is True
    assert client.mutations() == ["create_access_point"]


@pytest.mark.parametrize("check_mode", [False, True])
def test_immutable_change_fails_or_replaces(monkeypatch, capsys, check_mode):
    client = FakeEFS([described()])
    changed_user = args(posix_user={"uid": 1000, "gid": 0})
    result = run(changed_user, client, monkeypatch, capsys, check_mode=check_mode)
    assert result["failed"] is True
    assert "EFS cannot change posix_user" in result["msg"] and "fsap-1" in result["msg"]
    assert result["replacements"] == [
        {"field": "posix_user", "current": {"uid": 50000, "gid": 0}, "desired": {"uid": 1000, "gid": 0}}
    ]
    assert client.calls == []

    result = run(dict(changed_user, replace_on_change=True), client, monkeypatch, capsys, check_mode=check_mode)
    assert result["changed"] is True and result["replaced"] is True
    if check_mode:
        assert client.calls == []
    else:
        assert client.mutations() == ["delete_access_point", "create_access_point"]
        assert list(client.aps) == ["fsap-100"]


def test_unquoted_permissions_fail_before_any_call(monkeypatch, capsys):
    client = FakeEFS()
    result = run(
        args(root_directory={"path": "/x", "creation_info": {"owner_uid": 1, "owner_gid": 1, "permissions": 493}}),
        client, monkeypatch, capsys,
    )
    assert result["failed"] is True and "quoted octal string" in result["msg"]
    assert client.calls == []


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent(monkeypatch, capsys, check_mode):
    client = FakeEFS([described()])
    result = run({"file_system_id": FS, "name": "dags", "state": "absent"}, client, monkeypatch, capsys, check_mode=check_mode)
    assert result["changed"] is True
    assert result["access_point_id"] == ""
    assert client.calls == ([] if check_mode else [("delete_access_point", "fsap-1")])
    again = run({"file_system_id": FS, "name": "dags", "state": "absent"}, FakeEFS(), monkeypatch, capsys, check_mode=check_mode)
    assert again["changed"] is False


def test_duplicates_are_reported(monkeypatch, capsys):
    client = FakeEFS([described("fsap-1"), described("fsap-2")])
    result = run(args(root_directory=None), client, monkeypatch, capsys)
    assert result["failed"] is True and "2 access points" in result["msg"]


# ---------------------------------------------------------------- efs_access_point_info

def test_info_selects_by_every_tag_and_leaves_out_gone_ones():
    from ansible_collections.spotflow.eks.plugins.module_utils.efs import list_access_points
    from ansible_collections.spotflow.eks.plugins.modules.efs_access_point_info import matching

    client = FakeEFS([
        described("fsap-1", "c1-logs", tags={"spotflow:cluster": "c1", "spotflow:access-point": "logs"}),
        described("fsap-2", "c1-dags", tags={"spotflow:cluster": "c1", "spotflow:access-point": "dags"}),
        described("fsap-3", "c2-dags", tags={"spotflow:cluster": "c2"}),
        described("fsap-4", "c1-old", state="deleting", tags={"spotflow:cluster": "c1"}),
    ])
    found = matching(list_access_points(client, FS), {"spotflow:cluster": "c1"})
    assert [ap["access_point_id"] for ap in found] == ["fsap-2", "fsap-1"]  # by Name
    assert found[1]["tags"]["spotflow:access-point"] == "logs" and found[1]["file_system_id"] == FS
    assert matching(list_access_points(client), {"spotflow:cluster": "c3"}) == []
    assert len(matching(list_access_points(client), {})) == 3
