"""The local cloud's EKS access model: authentication modes, bootstrap admin, access entries."""

from __future__ import annotations

import types

import pytest

from localcloud.aws import eks_access

ACCOUNT = "123456789012"
CREATOR = f"arn:aws:iam::{ACCOUNT}:user/creator"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
CI_ROLE = f"arn:aws:iam::{ACCOUNT}:role/ci"
CI_SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/ci/build-42"


def cluster(mode=None, bootstrap=None, creator=CREATOR):
    c = types.SimpleNamespace(name="prod", arn=f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/prod", spotflow_creator=creator)
    access = {}
    if mode:
        access["authenticationMode"] = mode
    if bootstrap is not None:
        access["bootstrapClusterCreatorAdminPermissions"] = bootstrap
    eks_access.configure(c, access or None, creator)
    return c


def test_no_access_config_is_config_map_with_the_creator_as_hidden_admin():
    c = cluster()
    assert c.access_config == {"authenticationMode": "CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": True}
    assert eks_access.kubernetes_identity(c, CREATOR) == (CREATOR, ["system:masters"])
    assert eks_access.kubernetes_identity(c, ALICE) is None
    assert eks_access._access(c)["entries"] == {}


def test_api_mode_bootstraps_the_creator_as_an_access_entry():
    c = cluster("API")
    assert list(c.spotflow_access["entries"]) == [CREATOR]
    assert list(c.spotflow_access["policies"][CREATOR]) == [eks_access.CLUSTER_ADMIN]
    assert eks_access.kubernetes_identity(c, CREATOR) == (CREATOR, ["system:masters"])


def test_api_mode_without_bootstrap_locks_the_creator_out():
    c = cluster("API", bootstrap=False)
    assert eks_access.kubernetes_identity(c, CREATOR) is None


def test_an_access_entry_without_policy_authenticates_with_its_groups_only():
    c = cluster("API")
    c.spotflow_access["entries"][ALICE] = eks_access._entry(c, ALICE, ["viewers"], None, "STANDARD", {})
    assert eks_access.kubernetes_identity(c, ALICE) == (ALICE, ["viewers"])
    c.spotflow_access["policies"][ALICE] = {eks_access.CLUSTER_ADMIN: eks_access._association(
        eks_access.CLUSTER_ADMIN, {"type": "namespace", "namespaces": ["airflow"]})}
    assert eks_access.kubernetes_identity(c, ALICE) == (ALICE, ["viewers"]), "a namespace scope is not cluster admin"
    c.spotflow_access["policies"][ALICE][eks_access.CLUSTER_ADMIN]["accessScope"] = {"type": "cluster"}
    assert eks_access.kubernetes_identity(c, ALICE) == (ALICE, ["viewers", "system:masters"])


def test_a_role_session_is_matched_by_its_role_and_named_by_its_session():
    assert eks_access.iam_principal(CI_SESSION) == CI_ROLE
    c = cluster("API")
    c.spotflow_access["entries"][CI_ROLE] = eks_access._entry(c, CI_ROLE, [], None, "STANDARD", {})
    username, _groups = eks_access.kubernetes_identity(c, CI_SESSION)
    assert username == f"arn:aws:sts::{ACCOUNT}:assumed-role/ci/build-42"


def test_modes_move_one_way_and_turning_the_api_on_gives_the_creator_an_entry():
    c = cluster()
    eks_access.update_mode(c, {"authenticationMode": "API_AND_CONFIG_MAP"})
    assert list(c.spotflow_access["entries"]) == [CREATOR]
    eks_access.update_mode(c, {"authenticationMode": "API"})
    assert eks_access.kubernetes_identity(c, CREATOR) == (CREATOR, ["system:masters"])
    with pytest.raises(Exception, match="from API to CONFIG_MAP"):
        eks_access.update_mode(c, {"authenticationMode": "CONFIG_MAP"})
    with pytest.raises(Exception, match="must be one of"):
        cluster("OPEN")


def test_moto_default_user_is_an_iam_user():
    assert eks_access.iam_principal(f"arn:aws:sts::{ACCOUNT}:user/moto") == f"arn:aws:iam::{ACCOUNT}:user/moto"
