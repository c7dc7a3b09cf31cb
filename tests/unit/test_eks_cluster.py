"""Unit tests of spotflow.eks.eks_cluster: the pure planning helpers, and the module
against an in-memory EKS double (create, no-op rerun, in-place updates one at a
time, refusals, delete), each in and out of check mode."""

from __future__ import annotations

import copy
import json
import pathlib
import sys

import pytest

COLLECTIONS = pathlib.Path(__file__).resolve().parents[2] / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible.module_utils.testing import patch_module_args  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule  # noqa: E402
from ansible_collections.spotflow.eks.plugins.module_utils import aws as aws_utils  # noqa: E402
from ansible_collections.spotflow.eks.plugins.modules import eks_cluster as mod  # noqa: E402

ARN = "arn:aws:eks:eu-west-1:123456789012:cluster/dev"
ROLE = "arn:aws:iam::123456789012:role/dev-eks-cluster"
KEY = "arn:aws:kms:eu-west-1:123456789012:key/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
SUBNETS = ["subnet-a", "subnet-b", "subnet-c"]

BASE_ARGS = dict(
    name="dev",
    version="1.35",
    role_arn=ROLE,
    subnets=SUBNETS,
    endpoint_private_access=True,
    endpoint_public_access=True,
    public_access_cidrs=["203.0.113.0/24"],
    log_types=["api", "audit", "authenticator"],
    tags={"spotflow:cluster": "dev"},
)


def not_found(op):
    return ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "No cluster found"}}, op)


class FakeEKS:
    """Just enough of EKS: clusters become ACTIVE at once, updates are Successful at once
    unless ``update_status`` says otherwise."""

    def __init__(self, cluster=None, update_status="Successful"):
        self.cluster = copy.deepcopy(cluster)
        self.calls = []
        self.update_status = update_status
        self.updates = {}

    # the waiters call the plain methods without aws_retry
    def describe_cluster(self, name, aws_retry=False):
        if self.cluster is None or self.cluster["name"] != name:
            raise not_found("DescribeCluster")
        return {"cluster": copy.deepcopy(self.cluster)}

    def create_cluster(self, aws_retry=False, **request):
        self.calls.append(("create", copy.deepcopy(request)))
        vpc = dict(request["resourcesVpcConfig"], vpcId="vpc-1", clusterSecurityGroupId="sg-eks")
        vpc.setdefault("endpointPublicAccess", True)
        vpc.setdefault("endpointPrivateAccess", False)
        self.cluster = dict(request, arn=ARN, status="ACTIVE", resourcesVpcConfig=vpc, endpoint="https://x",
                            certificateAuthority={"data": "Q0E="}, identity={"oidc": {"issuer": "https://oidc/id/1"}})
        self.cluster.setdefault("tags", {})
        return {"cluster": copy.deepcopy(self.cluster)}

    def _update(self, kind):
        update = {"id": "u{0}".format(len(self.updates) + 1), "status": "InProgress", "type": kind}
        self.updates[update["id"]] = dict(update, status=self.update_status)
        return {"update": update}

    def update_cluster_config(self, name, aws_retry=False, **request):
        self.calls.append(("update_config", copy.deepcopy(request)))
        if "resourcesVpcConfig" in request:
            self.cluster["resourcesVpcConfig"].update(request["resourcesVpcConfig"])
        if "logging" in request:
            self.cluster["logging"] = request["logging"]
        if "upgradePolicy" in request:
            self.cluster["upgradePolicy"] = request["upgradePolicy"]
        if "accessConfig" in request:
            self.cluster.setdefault("accessConfig", {}).update(request["accessConfig"])
        return self._update("ConfigUpdate")

    def update_cluster_version(self, name, version, aws_retry=False):
        self.calls.append(("update_version", version))
        self.cluster["version"] = version
        return self._update("VersionUpdate")

    def associate_encryption_config(self, clusterName, encryptionConfig, aws_retry=False):
        self.calls.append(("associate_encryption", encryptionConfig))
        self.cluster["encryptionConfig"] = encryptionConfig
        return self._update("AssociateEncryptionConfig")

    def describe_update(self, name, updateId, aws_retry=False):
        self.calls.append(("describe_update", updateId))
        return {"update": self.updates[updateId]}

    def tag_resource(self, resourceArn, tags, aws_retry=False):
        self.calls.append(("tag", tags))
        self.cluster["tags"].update(tags)

    def untag_resource(self, resourceArn, tagKeys, aws_retry=False):
        self.calls.append(("untag", tagKeys))
        for key in tagKeys:
            self.cluster["tags"].pop(key, None)

    def delete_cluster(self, name, aws_retry=False):
        self.calls.append(("delete", name))
        self.cluster = None
        return {}

    def mutations(self):
        return [c[0] for c in self.calls if c[0] != "describe_update"]


def existing(**overrides):
    cluster = {
        "name": "dev",
        "arn": ARN,
        "status": "ACTIVE",
        "version": "1.35",
        "roleArn": ROLE,
        "resourcesVpcConfig": {
            "subnetIds": list(reversed(SUBNETS)),
            "securityGroupIds": [],
            "clusterSecurityGroupId": "sg-eks",
            "vpcId": "vpc-1",
            "endpointPrivateAccess": True,
            "endpointPublicAccess": True,
            "publicAccessCidrs": ["203.0.113.0/24"],
        },
        "logging": {"clusterLogging": [
            {"types": ["api", "audit", "authenticator"], "enabled": True},
            {"types": ["controllerManager", "scheduler"], "enabled": False},
        ]},
        "tags": {"spotflow:cluster": "dev"},
    }
    cluster.update(overrides)
    return cluster


def run(args, client, monkeypatch, capsys, check_mode=False, diff=True):
    monkeypatch.setattr(AnsibleAWSModule, "client", lambda self, service, retry_decorator=None, **kw: client)
    module_args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
    with patch_module_args(module_args):
        with pytest.raises(SystemExit) as exit_info:
            mod.main()
    result = json.loads(capsys.readouterr().out)
    result["_rc"] = exit_info.value.code
    return result


# ---------------------------------------------------------------- pure helpers


def test_logging_request_lists_the_others_as_disabled():
    assert mod.logging_request(["audit", "api"]) == {"clusterLogging": [
        {"types": ["api", "audit"], "enabled": True},
        {"types": ["authenticator", "controllerManager", "scheduler"], "enabled": False},
    ]}
    assert mod.logging_request([]) == {"clusterLogging": [{"types": mod.LOG_TYPES, "enabled": False}]}


def test_enabled_log_types_reads_every_entry():
    assert mod.enabled_log_types(existing()) == ["api", "audit", "authenticator"]
    assert mod.enabled_log_types({}) == []


@pytest.mark.parametrize("current,desired,expected", [
    ("1.35", None, None), ("1.35", "1.35", None), ("1.35", "1.36", "1.36"), ("1.9", "1.10", "1.10"),
])
def test_version_change(current, desired, expected):
    assert mod.version_change(current, desired) == expected


@pytest.mark.parametrize("current,desired,words", [
    ("1.35", "1.34", "downgrade"), ("1.34", "1.36", "one minor"), ("1.35", "1.35.2", "1.35"), ("1.35", "2.0", "one minor"),
])
def test_version_change_refusals(current, desired, words):
    with pytest.raises(mod.ClusterSpecError, match=words):
        mod.version_change(current, desired)


def test_endpoint_changes_compare_cidrs_as_sets_and_ignore_them_without_public_access():
    params = dict(endpoint_private_access=True, endpoint_public_access=True, public_access_cidrs=["203.0.113.0/24"])
    assert mod.endpoint_changes(existing(), params) == {}
    params["public_access_cidrs"] = ["198.51.100.7/32", "203.0.113.0/24"]
    assert mod.endpoint_changes(existing(), params) == {"publicAccessCidrs": ["198.51.100.7/32", "203.0.113.0/24"]}
    params = dict(endpoint_private_access=True, endpoint_public_access=False, public_access_cidrs=["10.0.0.0/8"])
    assert mod.endpoint_changes(existing(), params) == {"endpointPublicAccess": False}


def test_plan_is_empty_for_a_converged_cluster_and_ordered_otherwise():
    params = dict(BASE_ARGS, encryption_key_arn=None, security_groups=None, support_type=None)
    assert mod.plan_updates(existing(), params) == []
    params.update(version="1.36", log_types=["api"], encryption_key_arn=KEY, public_access_cidrs=["0.0.0.0/0"])
    assert [kind for kind, _ in mod.plan_updates(existing(), params)] == ["version", "endpoint", "logging", "encryption"]


def test_support_type_only_compared_when_reported():
    params = dict(support_type="STANDARD")
    assert mod.plan_updates(existing(), params) == []
    assert mod.plan_updates(existing(upgradePolicy={"supportType": "EXTENDED"}), params) == [
        ("support", {"supportType": "STANDARD"})]


@pytest.mark.parametrize("change,field", [
    (dict(role_arn=ROLE + "-x"), "role_arn"),
    (dict(subnets=["subnet-a", "subnet-b"]), "subnets"),
    (dict(security_groups=["sg-1"]), "security_groups"),
])
def test_immutable_fields_are_refused(change, field):
    with pytest.raises(mod.ClusterSpecError, match=field):
        mod.plan_updates(existing(), dict(BASE_ARGS, **change))


def test_encryption_key_cannot_change():
    cluster = existing(encryptionConfig=mod.encryption_request(KEY))
    with pytest.raises(mod.ClusterSpecError, match="encryption_key_arn"):
        mod.plan_updates(cluster, dict(encryption_key_arn=KEY + "0"))
    assert mod.plan_updates(cluster, dict(encryption_key_arn=KEY)) == []


def test_create_request():
    request = mod.create_request(dict(BASE_ARGS, encryption_key_arn=KEY, support_type="STANDARD", security_groups=None))
    assert request == {
        "name": "dev",
        "version": "1.35",
        "roleArn": ROLE,
        "resourcesVpcConfig": {"subnetIds": SUBNETS, "securityGroupIds": [], "endpointPrivateAccess": True,
                               "endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]},
        "logging": mod.logging_request(["api", "audit", "authenticator"]),
        "encryptionConfig": [{"resources": ["secrets"], "provider": {"keyArn": KEY}}],
        "upgradePolicy": {"supportType": "STANDARD"},
        "tags": {"spotflow:cluster": "dev"},
    }
    private_only = mod.create_request(dict(BASE_ARGS, endpoint_public_access=False))
    assert "publicAccessCidrs" not in private_only["resourcesVpcConfig"]
    with pytest.raises(mod.ClusterSpecError, match="role_arn"):
        mod.create_request(dict(name="dev", subnets=SUBNETS))


@pytest.mark.parametrize("current,desired,steps", [
    ("CONFIG_MAP", "API", ["API_AND_CONFIG_MAP", "API"]),
    ("CONFIG_MAP", "API_AND_CONFIG_MAP", ["API_AND_CONFIG_MAP"]),
    ("API_AND_CONFIG_MAP", "API", ["API"]),
    ("API", "API", []),
    ("API", None, []),
])
def test_authentication_mode_moves_one_step_at_a_time(current, desired, steps):
    assert mod.authentication_mode_steps(current, desired) == steps


def test_authentication_mode_never_goes_back():
    with pytest.raises(mod.ClusterSpecError, match="cluster is API, authentication_mode is API_AND_CONFIG_MAP"):
        mod.authentication_mode_steps("API", "API_AND_CONFIG_MAP")


def test_access_config_sent_at_creation_and_a_cluster_without_one_is_config_map():
    request = mod.create_request(dict(BASE_ARGS, authentication_mode="API", bootstrap_cluster_creator_admin_permissions=True))
    assert request["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": True}
    assert "accessConfig" not in mod.create_request(BASE_ARGS)
    assert mod.authentication_mode(existing()) == "CONFIG_MAP"
    assert mod.predicted_cluster(mod.create_request(BASE_ARGS))["accessConfig"]["authenticationMode"] == "CONFIG_MAP"


# ---------------------------------------------------------------- the module


@pytest.mark.parametrize("check_mode", [False, True])
def test_create_then_rerun_is_a_no_op(monkeypatch, capsys, check_mode):
    client = FakeEKS()
    result = run(BASE_ARGS, client, monkeypatch, capsys, check_mode=check_mode)
    assert result["_rc"] == 0 and result["changed"] is True
    assert result["diff"]["after"]["log_types"] == ["api", "audit", "authenticator"]
    assert result["diff"]["after"]["public_access_cidrs"] == ["203.0.113.0/24"]
    if check_mode:
        assert client.calls == [] and result["cluster"]["status"] == "CREATING"
        return
    assert client.mutations() == ["create"]
    assert result["cluster"]["status"] == "ACTIVE"
    assert result["cluster"]["resources_vpc_config"]["cluster_security_group_id"] == "sg-eks"
    again = run(BASE_ARGS, client, monkeypatch, capsys)
    assert again["changed"] is False and client.mutations() == ["create"]
    assert again["diff"]["before"] == again["diff"]["after"]


def test_create_without_wait_returns_at_once(monkeypatch, capsys):
    client = FakeEKS()
    original = client.create_cluster

    def creating(**request):
        response = original(**request)
        client.cluster["status"] = "CREATING"
        response["cluster"]["status"] = "CREATING"
        return response

    client.create_cluster = creating
    result = run(dict(BASE_ARGS, wait=False), client, monkeypatch, capsys)
    assert result["changed"] is True and result["cluster"]["status"] == "CREATING"
    # a rerun without wait while it is still being created changes nothing and does not wait
    again = run(dict(BASE_ARGS, wait=False), client, monkeypatch, capsys)
    assert again["changed"] is False and again["cluster"]["status"] == "CREATING"


def test_a_role_iam_has_not_propagated_yet_is_waited_for(monkeypatch, capsys):
    """CreateCluster refuses a role made seconds ago ("could not be assumed"): retried, not failed;
    any other InvalidParameterException fails at once."""
    from ansible_collections.spotflow.eks.plugins.module_utils import aws as aws_utils

    slept = []
    monkeypatch.setattr(aws_utils.time, "sleep", slept.append)
    client = FakeEKS()
    original, refusals = client.create_cluster, []

    def fresh_role(**request):
        if len(refusals) < 2:
            refusals.append(request["roleArn"])
            raise ClientError({"Error": {"Code": "InvalidParameterException", "Message": (
                "Role with arn: {0}, could not be assumed because it does not exist or the trusted entity "
                "is not correct".format(request["roleArn"]))}}, "CreateCluster")
        return original(**request)

    client.create_cluster = fresh_role
    result = run(BASE_ARGS, client, monkeypatch, capsys)
    assert result["_rc"] == 0 and result["changed"] is True and refusals == [ROLE, ROLE]
    assert slept == [2.0, 4.0]

    def bad_subnet(**request):
        raise ClientError({"Error": {"Code": "InvalidParameterException", "Message": "Subnets specified must be in "
                                     "at least two different AZs"}}, "CreateCluster")

    client = FakeEKS()
    client.create_cluster = bad_subnet
    slept.clear()
    result = run(BASE_ARGS, client, monkeypatch, capsys)
    assert result["_rc"] == 1 and "two different AZs" in result["msg"] and slept == []


def test_role_propagation_retries_are_bounded():
    from ansible_collections.spotflow.eks.plugins.module_utils import aws as aws_utils

    calls, slept = [], []

    def never(**_):
        calls.append(1)
        raise ClientError({"Error": {"Code": "MalformedPolicyDocumentException",
                                     "Message": "Policy contains a statement with one or more invalid principals."}}, "CreateKey")

    with pytest.raises(ClientError):
        aws_utils.while_role_propagates(never, timeout=30, sleep=slept.append)
    assert sum(slept) == 30 and len(calls) == len(slept) + 1


@pytest.mark.parametrize("check_mode", [False, True])
def test_updates_are_made_one_at_a_time_and_waited_for(monkeypatch, capsys, check_mode):
    client = FakeEKS(existing(tags={"spotflow:cluster": "dev", "old": "x"}))
    args = dict(BASE_ARGS, version="1.36", public_access_cidrs=["198.51.100.7/32"], log_types=["api", "audit"],
                encryption_key_arn=KEY, tags={"spotflow:cluster": "dev", "team": "data"})
    result = run(args, client, monkeypatch, capsys, check_mode=check_mode)
    assert result["_rc"] == 0 and result["changed"] is True
    after = result["diff"]["after"]
    assert after["version"] == "1.36" and after["public_access_cidrs"] == ["198.51.100.7/32"]
    assert after["log_types"] == ["api", "audit"] and after["encryption_key_arn"] == KEY
    assert after["tags"] == {"spotflow:cluster": "dev", "team": "data"}
    if check_mode:
        assert client.calls == []
        return
    assert client.mutations() == ["update_version", "update_config", "update_config", "associate_encryption",
                                  "untag", "tag"]
    # every update was followed by a wait on DescribeUpdate before the next request
    kinds = [c[0] for c in client.calls]
    for index, kind in enumerate(kinds):
        if kind in ("update_version", "update_config", "associate_encryption"):
            assert kinds[index + 1] == "describe_update"
    assert client.calls[2][1] == {"resourcesVpcConfig": {"publicAccessCidrs": ["198.51.100.7/32"]}}
    assert result["update_ids"] == ["u1", "u2", "u3", "u4"]
    again = run(args, client, monkeypatch, capsys)
    assert again["changed"] is False


@pytest.mark.parametrize("check_mode", [False, True])
def test_a_config_map_cluster_is_moved_to_api_in_two_updates(monkeypatch, capsys, check_mode):
    client = FakeEKS(existing())
    result = run(dict(BASE_ARGS, authentication_mode="API"), client, monkeypatch, capsys, check_mode=check_mode)
    assert result["_rc"] == 0 and result["changed"] is True
    assert (result["diff"]["before"]["authentication_mode"], result["diff"]["after"]["authentication_mode"]) == (
        "CONFIG_MAP", "API")
    if check_mode:
        assert client.calls == []
        return
    assert [c[1] for c in client.calls if c[0] == "update_config"] == [
        {"accessConfig": {"authenticationMode": "API_AND_CONFIG_MAP"}}, {"accessConfig": {"authenticationMode": "API"}}]
    assert run(dict(BASE_ARGS, authentication_mode="API"), client, monkeypatch, capsys)["changed"] is False
    back = run(dict(BASE_ARGS, authentication_mode="CONFIG_MAP"), client, monkeypatch, capsys)
    assert back["_rc"] == 1 and "authentication_mode is CONFIG_MAP" in back["msg"]


def test_failed_update_fails_the_task(monkeypatch, capsys):
    client = FakeEKS(existing(), update_status="Failed")
    result = run(dict(BASE_ARGS, log_types=["api"]), client, monkeypatch, capsys)
    assert result["_rc"] == 1 and "failed" in result["msg"].lower()


def test_refusal_names_the_field(monkeypatch, capsys):
    client = FakeEKS(existing())
    result = run(dict(BASE_ARGS, version="1.33"), client, monkeypatch, capsys)
    assert result["_rc"] == 1 and "downgrade" in result["msg"]
    result = run(dict(BASE_ARGS, role_arn=ROLE + "-other"), client, monkeypatch, capsys)
    assert result["_rc"] == 1 and "role_arn" in result["msg"]
    assert client.mutations() == []


@pytest.mark.parametrize("check_mode", [False, True])
def test_absent_then_absent_again(monkeypatch, capsys, check_mode):
    client = FakeEKS(existing())
    result = run(dict(name="dev", state="absent"), client, monkeypatch, capsys, check_mode=check_mode)
    assert result["changed"] is True and result["cluster"] == {}
    assert client.mutations() == ([] if check_mode else ["delete"])
    again = run(dict(name="dev", state="absent"), FakeEKS(), monkeypatch, capsys, check_mode=check_mode)
    assert again["changed"] is False


def test_absent_of_a_deleting_cluster_waits_without_a_second_delete(monkeypatch, capsys):
    client = FakeEKS(existing(status="DELETING"))
    states = iter([existing(status="DELETING"), None])

    def describe(name, aws_retry=False):
        cluster = next(states, None)
        if cluster is None:
            raise not_found("DescribeCluster")
        return {"cluster": cluster}

    client.describe_cluster = describe
    monkeypatch.setitem(aws_utils._WAITERS["eks"]["ClusterDeleted"], "delay", 1)
    result = run(dict(name="dev", state="absent"), client, monkeypatch, capsys)
    assert result["changed"] is False and client.mutations() == []


def test_create_needs_role_and_subnets(monkeypatch, capsys):
    result = run(dict(name="dev"), FakeEKS(), monkeypatch, capsys)
    assert result["_rc"] == 1 and "role_arn is required" in result["msg"]
