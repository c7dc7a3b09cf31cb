"""spotflow.eks's AWS modules against the local cloud: real moto, real
ansible-playbook runs, no mocks.

Each playbook under playbooks/aws_modules/ is written like an Ansible
integration target (check mode -> create -> idempotent re-run -> update ->
delete -> delete again, cleanup in ``always``) and asserts inside; here we
check it ran to the end without failures.

A few APIs the modules use are missing from moto and not (yet) emulated by
the local cloud. They are probed first; playbook steps that need one are
skipped and the test says so in a warning, so the gap is visible instead of
hidden (see ``GAPS``).
"""

from __future__ import annotations

import uuid
import warnings
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

PLAYBOOKS = Path(__file__).resolve().parent / "playbooks" / "aws_modules"
NODE_ROLE_ARN = "arn:aws:iam::123456789012:role/spotflow-it-node"

GAPS = {
    "eks_tag_resource": "EKS TagResource/UntagResource on a node group or add-on ARN (moto tags clusters only)",
    "iam_oidc_client_ids": "IAM AddClientIDToOpenIDConnectProvider / RemoveClientIDFromOpenIDConnectProvider (moto: HTTP 500)",
}


class MotoGapWarning(UserWarning):
    """A playbook step was skipped because the local cloud lacks an AWS API."""


def _prefix() -> str:
    return "sfw-it-" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def cluster(localcloud):
    name = _prefix()
    localcloud.ensure_cluster(name)
    yield name
    localcloud.delete_cluster(name)


def _probe_eks_tag_resource(localcloud, cluster) -> bool:
    eks = localcloud.boto3("eks")
    name = "probe-" + uuid.uuid4().hex[:6]
    arn = eks.create_nodegroup(
        clusterName=cluster, nodegroupName=name, nodeRole=NODE_ROLE_ARN, subnets=localcloud.vpc()["subnet_ids"],
        scalingConfig={"minSize": 0, "maxSize": 1, "desiredSize": 0},
    )["nodegroup"]["nodegroupArn"]
    try:
        eks.tag_resource(resourceArn=arn, tags={"probe": "1"})
        return eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"].get("tags", {}).get("probe") == "1"
    except (ClientError, BotoCoreError, ResponseParserError):  # moto answers unknown actions with HTML 500s
        return False
    finally:
        localcloud.delete_nodegroup(cluster, name)


def _probe_iam_oidc_client_ids(localcloud) -> bool:
    iam = localcloud.boto3("iam")
    arn = iam.create_open_id_connect_provider(
        Url="https://probe.example.invalid/" + uuid.uuid4().hex, ClientIDList=["a"])["OpenIDConnectProviderArn"]
    try:
        iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="b")
        iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="a")
        return iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"] == ["b"]
    except (ClientError, BotoCoreError, ResponseParserError):  # moto answers unknown actions with HTML 500s
        return False
    finally:
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


@pytest.fixture(scope="module")
def moto_gaps(localcloud, cluster) -> list[str]:
    gaps = []
    if not _probe_eks_tag_resource(localcloud, cluster):
        gaps.append("eks_tag_resource")
    if not _probe_iam_oidc_client_ids(localcloud):
        gaps.append("iam_oidc_client_ids")
    return gaps


# Tasks each playbook runs (the PLAY RECAP's ok + skipped + ignored), the
# failures it provokes on purpose and checks (ignored), and how many tasks each
# gap skips. The recap must match exactly: a step that silently did not run fails.
PLAYBOOK_TASKS = {
    "eks_nodegroup.yml": dict(tasks=33, ignored=1, gated={"eks_tag_resource": 2}),
    "eks_addon.yml": dict(tasks=24, ignored=0, gated={"eks_tag_resource": 2}),
    "efs_access_point.yml": dict(tasks=25, ignored=1, gated={}),
    "iam_oidc_provider.yml": dict(tasks=20, ignored=0, gated={"iam_oidc_client_ids": 3}),
    "eks_access_entry.yml": dict(tasks=16, ignored=1, gated={}),
}


def run_playbook(localcloud, name: str, gaps: list[str], **extra_vars):
    expected = PLAYBOOK_TASKS[name]
    skipped = 0
    for gap, count in expected["gated"].items():
        if gap in gaps:
            skipped += count
            warnings.warn(MotoGapWarning("{0}: {1} step(s) skipped, the local cloud lacks {2}".format(name, count, GAPS[gap])))
    proc = localcloud.run_playbook(PLAYBOOKS / name, extra_vars=dict(extra_vars, moto_gaps=gaps))
    output = proc.stdout[-6000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, output
    assert proc.recap is not None, output
    assert proc.recap["failed"] == 0 and proc.recap["unreachable"] == 0, output
    ran = dict((k, proc.recap[k]) for k in ("ok", "skipped", "ignored"))
    assert ran == dict(ok=expected["tasks"] - expected["ignored"] - skipped, skipped=skipped, ignored=expected["ignored"]), output
    return proc


def test_eks_nodegroup(localcloud, cluster, moto_gaps):
    prefix = _prefix()
    run_playbook(localcloud, "eks_nodegroup.yml", moto_gaps,
                 cluster_name=cluster, subnet_ids=localcloud.vpc()["subnet_ids"], node_role_arn=NODE_ROLE_ARN,
                 resource_prefix=prefix)
    # the playbook cleaned up after itself
    assert prefix + "-spot" not in localcloud.boto3("eks").list_nodegroups(clusterName=cluster)["nodegroups"]


def test_eks_addon(localcloud, cluster, moto_gaps):
    eks = localcloud.boto3("eks")
    described = eks.describe_cluster(name=cluster)["cluster"]
    versions = eks.describe_addon_versions(addonName="aws-efs-csi-driver", kubernetesVersion=described["version"])
    other = [v["addonVersion"] for v in versions["addons"][0]["addonVersions"]
             if not any(c.get("defaultVersion") for c in v["compatibilities"])]
    assert other, "the local cloud offers only one aws-efs-csi-driver version; the update step needs two"
    prefix = _prefix()
    run_playbook(localcloud, "eks_addon.yml", moto_gaps,
                 cluster_name=cluster, oidc_issuer=described["identity"]["oidc"]["issuer"], other_version=other[0],
                 resource_prefix=prefix)
    assert eks.list_addons(clusterName=cluster)["addons"] == []
    iam = localcloud.boto3("iam")
    assert not [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(prefix)]


def test_eks_access_entry(localcloud, cluster, moto_gaps):
    prefix = _prefix()
    run_playbook(localcloud, "eks_access_entry.yml", moto_gaps, cluster_name=cluster, resource_prefix=prefix)
    entries = localcloud.boto3("eks").list_access_entries(clusterName=cluster)["accessEntries"]
    assert not [e for e in entries if prefix in e], entries


def test_efs_access_point(localcloud, moto_gaps):
    prefix = _prefix()
    run_playbook(localcloud, "efs_access_point.yml", moto_gaps, resource_prefix=prefix)
    efs = localcloud.boto3("efs")
    leftovers = [fs["FileSystemId"] for fs in efs.describe_file_systems()["FileSystems"] if fs.get("Name") == prefix + "-fs"]
    assert leftovers == []


def test_iam_oidc_provider(localcloud, moto_gaps):
    prefix = _prefix()
    run_playbook(localcloud, "iam_oidc_provider.yml", moto_gaps,
                 resource_prefix=prefix)
    arns = [p["Arn"] for p in localcloud.boto3("iam").list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    assert not [a for a in arns if prefix in a]
