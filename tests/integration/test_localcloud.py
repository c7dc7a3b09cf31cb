"""The local cloud itself, tested against its running processes."""

from __future__ import annotations

import base64
import datetime
import json
import os
import socket
import ssl
import time
import urllib.error
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError
from kubernetes import client

CLUSTER = "lc-test"


def isolated_port_base(index: int) -> int:
    """Ports for the ``index``-th isolated local cloud a test starts. A cloud takes its base port up to
    base + 999 (RDS from base + 800), so clouds are 1000 apart: apart from the session's cloud, from each
    other (they run side by side under xdist), and below the kernel's ephemeral ports (from 32768), which
    outgoing connections hold (make test on 16000: 26000-29999; a developer's on 15000: 25000-28999)."""
    from localcloud.cloud import PORT_SPAN
    from localcloud.kube.controlplane import FIRST_PORT_OFFSET, MAX_CLUSTERS, PORTS_PER_CLUSTER

    assert FIRST_PORT_OFFSET + PORTS_PER_CLUSTER * MAX_CLUSTERS < PORT_SPAN
    return int(os.environ.get("SPOTFLOW_LOCALCLOUD_PORT_BASE", "15000")) + 10000 + PORT_SPAN * index


def _get(localcloud, cluster: str, path: str, token: str) -> int:
    """GET ``path`` on ``cluster``'s apiserver (found through DescribeCluster) with a bearer token."""
    c = localcloud.boto3("eks").describe_cluster(name=cluster)["cluster"]
    ctx = ssl.create_default_context(cadata=base64.b64decode(c["certificateAuthority"]["data"]).decode())
    req = urllib.request.Request(c["endpoint"] + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


@pytest.fixture(scope="module")
def cluster(localcloud):
    localcloud.ensure_cluster(CLUSTER)
    yield CLUSTER
    localcloud.delete_cluster(CLUSTER)


# --- EKS authentication ---------------------------------------------------------
def test_describe_cluster_points_at_its_own_apiserver(localcloud, cluster):
    c = localcloud.boto3("eks").describe_cluster(name=cluster)["cluster"]
    assert c["status"] == "ACTIVE"
    assert c["endpoint"].startswith("https://127.0.0.1:")
    # the CA DescribeCluster gives is the one that signed that apiserver's certificate
    host, port = c["endpoint"][len("https://"):].split(":")
    ctx = ssl.create_default_context(cadata=base64.b64decode(c["certificateAuthority"]["data"]).decode())
    with socket.create_connection((host, int(port)), timeout=5) as sock, ctx.wrap_socket(sock, server_hostname=host):
        pass
    sg = c["resourcesVpcConfig"]["clusterSecurityGroupId"]
    groups = localcloud.boto3("ec2").describe_security_groups(GroupIds=[sg])["SecurityGroups"]
    assert groups[0]["VpcId"] == localcloud.vpc()["vpc_id"]
    # its own OIDC issuer, as on AWS (moto gives every cluster the same one)
    assert c["identity"]["oidc"]["issuer"].startswith("https://oidc.eks.")
    other = localcloud.ensure_cluster(cluster + "-other")
    try:
        assert other["identity"]["oidc"]["issuer"] != c["identity"]["oidc"]["issuer"]
    finally:
        localcloud.delete_cluster(cluster + "-other")


def test_token_from_emulated_sts_is_accepted(localcloud, cluster):
    assert _get(localcloud, cluster, "/api/v1/namespaces", localcloud.eks_token(cluster)) == 200


def test_anonymous_and_garbage_tokens_are_refused(localcloud, cluster):
    assert _get(localcloud, cluster, "/api/v1/namespaces", "") == 401
    assert _get(localcloud, cluster, "/api/v1/namespaces", "k8s-aws-v1.bm90LWEtdXJs") == 401
    assert _get(localcloud, cluster, "/api/v1/namespaces", "not-even-eks") == 401


def test_forged_token_is_refused(localcloud, cluster):
    token = localcloud.eks_token(cluster)
    raw = token[len("k8s-aws-v1."):]
    url = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
    # same URL, signature of another request: flip the last hex digit
    forged = url[:-1] + ("0" if url[-1] != "0" else "1")
    assert _get(localcloud, cluster, "/api/v1/namespaces", "k8s-aws-v1." + base64.urlsafe_b64encode(forged.encode()).decode().rstrip("=")) == 401
    # a token signed with a secret the account does not know
    import botocore.session

    sess = botocore.session.Session()
    sess.set_credentials(localcloud.cfg.access_key, "wrong-secret")
    sts = sess.create_client("sts", region_name=localcloud.cfg.region, endpoint_url=localcloud.env["AWS_ENDPOINT_URL"])
    from ansible_collections.spotflow.eks.plugins.module_utils.eks_token import generate_token

    assert _get(localcloud, cluster, "/api/v1/namespaces", generate_token(cluster, localcloud.cfg.region, client=sts)[0]) == 401


def test_token_for_another_cluster_is_refused(localcloud, cluster):
    assert _get(localcloud, cluster, "/api/v1/namespaces", localcloud.eks_token("no-such-cluster")) == 401
    # a valid token for another existing cluster is good there, and only there
    other = cluster + "-aud"
    localcloud.ensure_cluster(other)
    try:
        token = localcloud.eks_token(other)
        assert _get(localcloud, other, "/api/v1/namespaces", token) == 200
        assert _get(localcloud, cluster, "/api/v1/namespaces", token) == 401
    finally:
        localcloud.delete_cluster(other)


def test_two_clusters_share_nothing(localcloud, cluster):
    """Each EKS cluster has its own Kubernetes: own endpoint, CA, objects; deleting one stops only its processes."""
    other = cluster + "-two"
    a = localcloud.boto3("eks").describe_cluster(name=cluster)["cluster"]
    b = localcloud.ensure_cluster(other)
    try:
        assert a["endpoint"] != b["endpoint"]
        assert a["certificateAuthority"]["data"] != b["certificateAuthority"]["data"]
        va, vb = client.CoreV1Api(localcloud.k8s(cluster)), client.CoreV1Api(localcloud.k8s(other))
        ns = f"only-in-{other}"
        vb.create_namespace({"metadata": {"name": ns}})
        assert ns in [n.metadata.name for n in vb.list_namespace().items]
        assert ns not in [n.metadata.name for n in va.list_namespace().items]
        # the service account issuer is the cluster's own OIDC issuer (what IRSA trusts)
        sa_token = vb.create_namespaced_service_account_token if hasattr(vb, "create_namespaced_service_account_token") else None
        assert sa_token is not None
        tr = vb.create_namespaced_service_account_token("default", "default", {"spec": {"audiences": ["sts.amazonaws.com"]}})
        payload = tr.status.token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert claims["iss"] == b["identity"]["oidc"]["issuer"]
    finally:
        localcloud.delete_cluster(other)
    # the deleted cluster's apiserver stops answering; the other one is untouched
    port = int(b["endpoint"].rsplit(":", 1)[1])
    deadline = time.monotonic() + 30
    while _port_open(port):
        assert time.monotonic() < deadline, "the deleted cluster's apiserver still listens"
        time.sleep(0.5)
    assert _get(localcloud, cluster, "/api/v1/namespaces", localcloud.eks_token(cluster)) == 200


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_expired_token_is_refused(localcloud, cluster, monkeypatch):
    import botocore.auth

    past = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=16)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: past)
    token = localcloud.eks_token(cluster)
    monkeypatch.undo()
    assert _get(localcloud, cluster, "/api/v1/namespaces", token) == 401


def test_access_entries_decide_who_gets_in(localcloud, cluster):
    """As EKS in API mode: the creator is bootstrapped as admin (an access entry); another IAM user
    is refused (401) until it has an entry, is authenticated but forbidden (403) with an entry and no
    access policy, admin with AmazonEKSClusterAdminPolicy, refused again once the entry is deleted."""
    eks = localcloud.boto3("eks")
    assert eks.describe_cluster(name=cluster)["cluster"]["accessConfig"]["authenticationMode"] == "API"
    iam = localcloud.boto3("iam")
    user = f"lc-{uuid.uuid4().hex[:8]}"
    arn = iam.create_user(UserName=user)["User"]["Arn"]
    key = iam.create_access_key(UserName=user)["AccessKey"]
    import botocore.session

    from ansible_collections.spotflow.eks.plugins.module_utils.eks_token import generate_token

    sess = botocore.session.Session()
    sess.set_credentials(key["AccessKeyId"], key["SecretAccessKey"])
    sts = sess.create_client("sts", region_name=localcloud.cfg.region, endpoint_url=localcloud.env["AWS_ENDPOINT_URL"])

    def status():
        time.sleep(1.1)  # a fresh token (X-Amz-Date has seconds): the apiserver caches each token's answer 30 s
        return _get(localcloud, cluster, "/api/v1/namespaces", generate_token(cluster, localcloud.cfg.region, client=sts)[0])

    admin = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    try:
        assert status() == 401
        eks.create_access_entry(clusterName=cluster, principalArn=arn)
        assert status() == 403
        eks.associate_access_policy(clusterName=cluster, principalArn=arn, policyArn=admin, accessScope={"type": "cluster"})
        assert status() == 200
        eks.delete_access_entry(clusterName=cluster, principalArn=arn)
        assert status() == 401
    finally:
        iam.delete_access_key(UserName=user, AccessKeyId=key["AccessKeyId"])
        iam.delete_user(UserName=user)
        try:
            eks.delete_access_entry(clusterName=cluster, principalArn=arn)
        except eks.exceptions.ResourceNotFoundException:
            pass


# --- simulated nodes ---------------------------------------------------------------
def _labels(node):
    return node.metadata.labels


def test_nodegroup_becomes_nodes_and_goes_away(localcloud, cluster):
    names = localcloud.make_nodegroup(
        cluster, "lc-spot", "SPOT", labels={"lifecycle": "Ec2Spot", "team": "data"},
        taints=[{"key": "spotInstance", "value": "true", "effect": "PREFER_NO_SCHEDULE"}], size=3,
        instance_types=["m5.large", "m5a.large", "m6i.large"])
    try:
        assert len(names) == 3
        nodes = localcloud.nodes_of(cluster, "lc-spot")
        subnets = localcloud.boto3("ec2").describe_subnets(SubnetIds=localcloud.vpc()["subnet_ids"])["Subnets"]
        zones = {s["AvailabilityZone"] for s in subnets}
        for n in nodes:
            lb = _labels(n)
            assert lb["eks.amazonaws.com/nodegroup"] == "lc-spot"
            assert lb["eks.amazonaws.com/capacityType"] == "SPOT"
            assert lb["lifecycle"] == "Ec2Spot" and lb["team"] == "data"
            assert lb["node.kubernetes.io/instance-type"] in {"m5.large", "m5a.large", "m6i.large"}
            assert lb["topology.kubernetes.io/zone"] in zones
            assert [(t.key, t.value, t.effect) for t in n.spec.taints] == [("spotInstance", "true", "PreferNoSchedule")]
            assert n.status.capacity["cpu"] == "2" and n.status.capacity["memory"] in ("8Gi", "8192Mi")
            assert n.spec.provider_id.startswith("aws:///")
        assert len({_labels(n)["node.kubernetes.io/instance-type"] for n in nodes}) == 3  # diversified

        # label and taint updates through the EKS API reach existing nodes; others' taints stay
        v1 = client.CoreV1Api(localcloud.k8s(cluster))
        first = nodes[0].metadata.name
        n0 = v1.read_node(first)
        v1.patch_node(first, {"spec": {"taints": [t.to_dict() for t in n0.spec.taints] + [{"key": "mine", "effect": "NoSchedule"}]}})
        localcloud.boto3("eks").update_nodegroup_config(
            clusterName=cluster, nodegroupName="lc-spot",
            labels={"addOrUpdateLabels": {"team": "ml"}, "removeLabels": ["lifecycle"]},
            taints={"addOrUpdateTaints": [{"key": "spotInstance", "value": "yes", "effect": "PREFER_NO_SCHEDULE"}]},
            scalingConfig={"minSize": 0, "maxSize": 6, "desiredSize": 4})
        localcloud.wait_for_nodes(cluster, "lc-spot", 4)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            nodes = localcloud.nodes_of(cluster, "lc-spot")
            if all(_labels(n).get("team") == "ml" and "lifecycle" not in _labels(n)
                   and ("spotInstance", "yes") in [(t.key, t.value) for t in n.spec.taints] for n in nodes):
                break
            time.sleep(0.5)
        else:
            pytest.fail("label/taint update did not reach the nodes")
        mine = v1.read_node(first)
        assert ("mine", "NoSchedule") in [(t.key, t.effect) for t in mine.spec.taints]
        assert [t.key for t in mine.spec.taints].count("spotInstance") == 1
    finally:
        localcloud.delete_nodegroup(cluster, "lc-spot")
    assert localcloud.nodes_of(cluster, "lc-spot") == []


# --- the real scheduler ------------------------------------------------------------
SPOT_TOLERATION = {"key": "spotInstance", "operator": "Equal", "value": "true", "effect": "PreferNoSchedule"}


def _pod(name, affinity=None, tolerations=None):
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "lc-probe"}},
        "spec": {"containers": [{"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "100m"}}}],
                 "affinity": affinity, "tolerations": tolerations, "restartPolicy": "Never"},
    }


@pytest.fixture(scope="module")
def pools(localcloud, cluster):
    localcloud.make_nodegroup(cluster, "lc-sched-spot", "SPOT", labels={"lifecycle": "Ec2Spot"},
                              taints=[{"key": "spotInstance", "value": "true", "effect": "PREFER_NO_SCHEDULE"}], size=2)
    localcloud.make_nodegroup(cluster, "lc-sched-od", "ON_DEMAND", labels={"lifecycle": "OnDemand"}, size=2,
                              instance_types=["m5.large"])
    ns = f"lc-{uuid.uuid4().hex[:6]}"
    v1 = client.CoreV1Api(localcloud.k8s(cluster))
    v1.create_namespace({"metadata": {"name": ns}})
    # Kubernetes 1.20 refuses pods until the token controller gave the default
    # ServiceAccount its token Secret (500 "No API token found"), not only until it exists
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(
            sa.metadata.name == "default" and sa.secrets for sa in v1.list_namespaced_service_account(ns).items):
        time.sleep(0.2)
    yield ns
    v1.delete_namespace(ns)
    localcloud.delete_nodegroup(cluster, "lc-sched-spot")
    localcloud.delete_nodegroup(cluster, "lc-sched-od")


def _wait_running(v1, ns, selector, count, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = [p for p in v1.list_namespaced_pod(ns, label_selector=selector).items
                if p.status.phase == "Running" and p.metadata.deletion_timestamp is None]
        if len(pods) >= count:
            return pods
        time.sleep(0.5)
    raise AssertionError(f"{selector}: fewer than {count} pods running")


def test_scheduler_places_workers_on_spot_and_core_on_demand(localcloud, cluster, pools):
    v1 = client.CoreV1Api(localcloud.k8s(cluster))
    apps = client.AppsV1Api(localcloud.k8s(cluster))
    ns = pools
    worker_affinity = {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 100, "preference": {"matchExpressions": [{"key": "lifecycle", "operator": "In", "values": ["Ec2Spot"]}]}}]}}
    for i in range(4):
        body = _pod(f"worker-{i}", worker_affinity, [SPOT_TOLERATION])
        body["metadata"]["labels"] = {"app": "worker"}
        v1.create_namespaced_pod(ns, body)
    core_affinity = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "lifecycle", "operator": "NotIn", "values": ["Ec2Spot"]}]}]}}}
    apps.create_namespaced_deployment(ns, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "core"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "core"}},
                 "template": {"metadata": {"labels": {"app": "core"}},
                              "spec": {"affinity": core_affinity,
                                       "containers": [{"name": "c", "image": "busybox",
                                                       "resources": {"requests": {"cpu": "100m"}}}]}}}})
    workers = _wait_running(v1, ns, "app=worker", 4)
    core = _wait_running(v1, ns, "app=core", 3)
    lifecycle = {n.metadata.name: n.metadata.labels.get("lifecycle") for n in v1.list_node().items}
    assert {lifecycle[p.spec.node_name] for p in workers} == {"Ec2Spot"}
    assert {lifecycle[p.spec.node_name] for p in core} == {"OnDemand"}
    # the Deployment became available: the simulator plays the kubelet
    deadline = time.monotonic() + 30
    while (apps.read_namespaced_deployment("core", ns).status.available_replicas or 0) < 3:
        assert time.monotonic() < deadline, "Deployment never became available"
        time.sleep(0.5)


def test_job_pods_succeed(localcloud, cluster, pools):
    batch = client.BatchV1Api(localcloud.k8s(cluster))
    batch.create_namespaced_job(pools, {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "50m"}}}]}}}})
    deadline = time.monotonic() + 60
    while (batch.read_namespaced_job("migrate", pools).status.succeeded or 0) < 1:
        assert time.monotonic() < deadline, "Job never completed"
        time.sleep(0.5)


# --- Spot interruption -----------------------------------------------------------------
FIS_TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "fis.amazonaws.com"},
                                                   "Action": "sts:AssumeRole"}]}


def _fis_role(localcloud) -> str:
    return localcloud.boto3("iam").create_role(RoleName=f"fis-{uuid.uuid4().hex[:6]}",
                                               AssumeRolePolicyDocument=json.dumps(FIS_TRUST))["Role"]["Arn"]


def _wait_until_propagated(localcloud, role_arn: str) -> None:
    from localcloud.aws.iam import IAM_PROPAGATION_SECONDS

    made = localcloud.boto3("iam").get_role(RoleName=role_arn.rsplit("/", 1)[-1])["Role"]["CreateDate"]
    age = (datetime.datetime.now(datetime.timezone.utc) - made).total_seconds()
    time.sleep(max(0.0, IAM_PROPAGATION_SECONDS - age) + 0.5)


def test_fis_spot_interruption_evicts_and_replaces(localcloud, cluster, pools):
    v1 = client.CoreV1Api(localcloud.k8s(cluster))
    ns = pools
    ec2 = localcloud.boto3("ec2")
    spot_nodes = {n.metadata.name: n for n in localcloud.nodes_of(cluster, "lc-sched-spot")}
    victim_name = sorted(spot_nodes)[0]
    victim_instance = spot_nodes[victim_name].spec.provider_id.rsplit("/", 1)[-1]
    body = _pod("victim", None, [SPOT_TOLERATION])
    body["spec"]["nodeName"] = victim_name
    v1.create_namespaced_pod(ns, body)
    _wait_running(v1, ns, "app=lc-probe", 1)

    role = _fis_role(localcloud)
    fis = localcloud.boto3("fis")
    tpl = fis.create_experiment_template(
        clientToken=uuid.uuid4().hex, description="reclaim one spot node", roleArn=role,
        stopConditions=[{"source": "none"}],
        targets={"spot": {"resourceType": "aws:ec2:spot-instance", "resourceArns": [
            f"arn:aws:ec2:{localcloud.cfg.region}:123456789012:instance/{victim_instance}"], "selectionMode": "ALL"}},
        actions={"interrupt": {"actionId": "aws:ec2:send-spot-instance-interruptions",
                               "parameters": {"durationBeforeInterruption": "PT2M"}, "targets": {"SpotInstances": "spot"}}},
    )["experimentTemplate"]
    _wait_until_propagated(localcloud, role)  # FIS cannot assume a role seconds old (the test below)
    exp = fis.start_experiment(experimentTemplateId=tpl["id"], clientToken=uuid.uuid4().hex)["experiment"]
    deadline = time.monotonic() + 60
    while fis.get_experiment(id=exp["id"])["experiment"]["state"]["status"] != "completed":
        assert time.monotonic() < deadline, "experiment never completed"
        time.sleep(0.5)
    # the pod was evicted, the node is gone, the instance terminated, the group is whole again
    names = [p.metadata.name for p in v1.list_namespaced_pod(ns, label_selector="app=lc-probe").items]
    assert "victim" not in names
    assert victim_name not in [n.metadata.name for n in v1.list_node().items]
    state = ec2.describe_instances(InstanceIds=[victim_instance])["Reservations"][0]["Instances"][0]["State"]["Name"]
    assert state == "terminated"
    after = localcloud.wait_for_nodes(cluster, "lc-sched-spot", 2)
    assert victim_name not in after
    for n in localcloud.nodes_of(cluster, "lc-sched-spot"):
        assert n.metadata.labels["lifecycle"] == "Ec2Spot"
        assert ("spotInstance", "PreferNoSchedule") in [(t.key, t.effect) for t in n.spec.taints]


# --- moto fixes ----------------------------------------------------------------------------
def test_efs_legacy_tag_api(localcloud):
    efs = localcloud.boto3("efs")
    fs = efs.create_file_system(CreationToken=uuid.uuid4().hex, Encrypted=True, Tags=[{"Key": "Name", "Value": "lc"}])
    try:
        assert efs.describe_tags(FileSystemId=fs["FileSystemId"])["Tags"] == [{"Key": "Name", "Value": "lc"}]
        efs.create_tags(FileSystemId=fs["FileSystemId"], Tags=[{"Key": "team", "Value": "data"}])
        efs.delete_tags(FileSystemId=fs["FileSystemId"], TagKeys=["Name"])
        assert efs.describe_tags(FileSystemId=fs["FileSystemId"])["Tags"] == [{"Key": "team", "Value": "data"}]
    finally:
        efs.delete_file_system(FileSystemId=fs["FileSystemId"])


def test_secret_marked_for_deletion_answers_as_aws(localcloud):
    sm = localcloud.boto3("secretsmanager")
    name = "test/localcloud/marked-" + uuid.uuid4().hex[:6]
    sm.create_secret(Name=name, SecretString="x")
    sm.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId=name)
    assert e.value.response["Error"]["Code"] == "InvalidRequestException"
    # the text amazon.aws.secretsmanager_secret's on_deleted looks for
    assert "marked for deletion" in e.value.response["Error"]["Message"]
    sm.delete_secret(SecretId=name, ForceDeleteWithoutRecovery=True)


def test_eks_addons(localcloud, cluster):
    eks = localcloud.boto3("eks")
    versions = eks.describe_addon_versions(addonName="aws-efs-csi-driver", kubernetesVersion="1.35")["addons"]
    default = [v["addonVersion"] for v in versions[0]["addonVersions"] if v["compatibilities"][0]["defaultVersion"]]
    assert default
    a = eks.create_addon(clusterName=cluster, addonName="aws-efs-csi-driver",
                         serviceAccountRoleArn="arn:aws:iam::123456789012:role/efs-csi")["addon"]
    assert a["addonVersion"] == default[0] and a["status"] == "ACTIVE"
    eks.tag_resource(resourceArn=a["addonArn"], tags={"team": "data"})
    assert eks.list_tags_for_resource(resourceArn=a["addonArn"])["tags"] == {"team": "data"}
    assert eks.list_addons(clusterName=cluster)["addons"] == ["aws-efs-csi-driver"]
    upd = eks.update_addon(clusterName=cluster, addonName="aws-efs-csi-driver", addonVersion="v3.3.0-eksbuild.1")["update"]
    assert eks.describe_update(name=cluster, updateId=upd["id"], addonName="aws-efs-csi-driver")["update"]["status"] == "Successful"
    assert eks.describe_addon(clusterName=cluster, addonName="aws-efs-csi-driver")["addon"]["addonVersion"] == "v3.3.0-eksbuild.1"
    eks.delete_addon(clusterName=cluster, addonName="aws-efs-csi-driver")
    with pytest.raises(eks.exceptions.ResourceNotFoundException):
        eks.describe_addon(clusterName=cluster, addonName="aws-efs-csi-driver")


def test_oidc_provider_client_ids(localcloud):
    iam = localcloud.boto3("iam")
    arn = iam.create_open_id_connect_provider(Url=f"https://oidc.example/{uuid.uuid4().hex}", ClientIDList=["sts.amazonaws.com"],
                                              ThumbprintList=["a" * 40])["OpenIDConnectProviderArn"]
    try:
        iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="other")
        iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="sts.amazonaws.com")
        assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"] == ["other"]
    finally:
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


def test_nodegroup_update_config_default_and_subnet_check(localcloud, cluster):
    eks = localcloud.boto3("eks")
    with pytest.raises(eks.exceptions.InvalidParameterException):
        eks.create_nodegroup(clusterName=cluster, nodegroupName="bad", nodeRole="arn:aws:iam::123456789012:role/n",
                             subnets=["subnet-doesnotexist"])
    localcloud.make_nodegroup(cluster, "lc-uc", "ON_DEMAND", size=0)
    eks.create_nodegroup(clusterName=cluster, nodegroupName="lc-uc2", nodeRole="arn:aws:iam::123456789012:role/n",
                         subnets=localcloud.vpc()["subnet_ids"], updateConfig={"maxUnavailablePercentage": 33},
                         scalingConfig={"minSize": 0, "maxSize": 1, "desiredSize": 0})
    assert eks.describe_nodegroup(clusterName=cluster, nodegroupName="lc-uc2")["nodegroup"]["updateConfig"] == \
        {"maxUnavailablePercentage": 33}
    localcloud.delete_nodegroup(cluster, "lc-uc2")
    try:
        ng = eks.describe_nodegroup(clusterName=cluster, nodegroupName="lc-uc")["nodegroup"]
        assert ng["updateConfig"] == {"maxUnavailable": 1}
        eks.tag_resource(resourceArn=ng["nodegroupArn"], tags={"team": "data"})
        eks.untag_resource(resourceArn=ng["nodegroupArn"], tagKeys=["team"])
        eks.tag_resource(resourceArn=ng["nodegroupArn"], tags={"owner": "spotflow"})
        assert eks.describe_nodegroup(clusterName=cluster, nodegroupName="lc-uc")["nodegroup"]["tags"] == {"owner": "spotflow"}
        asg = ng["resources"]["autoScalingGroups"][0]["name"]
        groups = localcloud.boto3("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[asg])["AutoScalingGroups"]
        tags = {t["Key"]: t["Value"] for t in groups[0]["Tags"]}
        assert tags["eks:nodegroup-name"] == "lc-uc" and tags[f"k8s.io/cluster-autoscaler/{cluster}"] == "owned"
    finally:
        localcloud.delete_nodegroup(cluster, "lc-uc")


def test_a_node_group_needs_its_types_in_every_zone_of_its_subnets(localcloud, cluster):
    """As EKS: CreateNodegroup refuses an instance type one of its subnets' zones does not offer (moto's
    us-east-1e has only old types), even when the group's other zones offer it; nothing is made."""
    ec2, eks = localcloud.boto3("ec2"), localcloud.boto3("eks")
    vpc = ec2.create_vpc(CidrBlock="10.98.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.98.{i}.0/24", AvailabilityZone=f"{localcloud.cfg.region}{z}")
               ["Subnet"]["SubnetId"] for i, z in enumerate("ae")]
    try:
        with pytest.raises(ClientError, match=r"instance type \(m7i.large\) is not supported in your requested "
                                              r"Availability Zone \(us-east-1e\)") as refused:
            eks.create_nodegroup(clusterName=cluster, nodegroupName="lc-zones", nodeRole="arn:aws:iam::123456789012:role/n",
                                 subnets=subnets, instanceTypes=["m7i.large", "m5.xlarge"], capacityType="SPOT",
                                 scalingConfig={"minSize": 0, "maxSize": 1, "desiredSize": 0})
        assert refused.value.response["Error"]["Code"] == "InvalidRequestException"
        assert "lc-zones" not in eks.list_nodegroups(clusterName=cluster)["nodegroups"]
    finally:
        for subnet in subnets:
            ec2.delete_subnet(SubnetId=subnet)
        ec2.delete_vpc(VpcId=vpc)


def test_what_is_in_use_cannot_be_deleted_and_eks_leaves_its_interfaces_a_while(localcloud):
    """As AWS: DeleteSubnet / DeleteSecurityGroup / DeleteVpc refuse while something uses them (moto deletes
    anyway), and EKS's control-plane network interfaces and cluster security group outlive DeleteCluster."""
    from localcloud.aws.eks import NETWORK_RELEASE_SECONDS
    from localcloud.testing import CLUSTER_ROLE_ARN

    ec2, eks = localcloud.boto3("ec2"), localcloud.boto3("eks")
    vpc = ec2.create_vpc(CidrBlock="10.98.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.98.{i}.0/24",
                                 AvailabilityZone=f"{localcloud.cfg.region}{z}")["Subnet"]["SubnetId"]
               for i, z in enumerate("ab")]
    name = f"lc-net-{uuid.uuid4().hex[:6]}"
    created = eks.create_cluster(name=name, roleArn=CLUSTER_ROLE_ARN, resourcesVpcConfig={"subnetIds": subnets})
    # as on AWS, the cluster security group is not there at once (roles must wait for it)
    assert "clusterSecurityGroupId" not in created["cluster"]["resourcesVpcConfig"]
    t0 = time.monotonic()
    while "clusterSecurityGroupId" not in eks.describe_cluster(name=name)["cluster"]["resourcesVpcConfig"]:
        assert time.monotonic() - t0 < 30, "the cluster security group never appeared"
        time.sleep(0.5)
    sg = eks.describe_cluster(name=name)["cluster"]["resourcesVpcConfig"]["clusterSecurityGroupId"]

    def interfaces():
        return ec2.describe_network_interfaces(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NetworkInterfaces"]

    assert sorted((i["SubnetId"], i["Description"]) for i in interfaces()) == sorted((s, f"Amazon EKS {name}") for s in subnets)
    assert [g["GroupId"] for i in interfaces() for g in i["Groups"]] == [sg, sg]
    eks.delete_cluster(name=name)
    deleted = time.monotonic()
    for call in (lambda: ec2.delete_subnet(SubnetId=subnets[0]), lambda: ec2.delete_security_group(GroupId=sg),
                 lambda: ec2.delete_vpc(VpcId=vpc)):
        with pytest.raises(ClientError) as refused:
            call()
        assert refused.value.response["Error"]["Code"] == "DependencyViolation"
    while interfaces():
        assert time.monotonic() - deleted < NETWORK_RELEASE_SECONDS + 10, "EKS's interfaces never went"
        time.sleep(0.5)
    assert time.monotonic() - deleted >= NETWORK_RELEASE_SECONDS - 1
    assert not ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [sg]}])["SecurityGroups"]
    for subnet in subnets:
        ec2.delete_subnet(SubnetId=subnet)
    other = ec2.create_security_group(GroupName="still-here", Description="not the default group", VpcId=vpc)["GroupId"]
    with pytest.raises(ClientError) as refused:
        ec2.delete_vpc(VpcId=vpc)
    assert refused.value.response["Error"]["Code"] == "DependencyViolation"
    ec2.delete_security_group(GroupId=other)
    ec2.delete_vpc(VpcId=vpc)


def test_a_new_role_is_refused_until_iam_has_propagated_it(localcloud):
    """As AWS: EKS cannot assume, and KMS will not name, a role made seconds ago; later both accept it."""
    from localcloud.aws.iam import IAM_PROPAGATION_SECONDS

    iam, eks, kms = localcloud.boto3("iam"), localcloud.boto3("eks"), localcloud.boto3("kms")
    name = f"lc-iam-{uuid.uuid4().hex[:6]}"
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "eks.amazonaws.com"},
                                                     "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    made = time.monotonic()
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": arn}, "Action": "kms:Decrypt", "Resource": "*"}]})
    try:
        with pytest.raises(ClientError) as refused:
            eks.create_cluster(name=name, roleArn=arn, resourcesVpcConfig={"subnetIds": localcloud.vpc()["subnet_ids"]})
        assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
        assert "could not be assumed" in refused.value.response["Error"]["Message"]
        with pytest.raises(ClientError) as refused:
            kms.create_key(Policy=policy)
        assert refused.value.response["Error"]["Code"] == "MalformedPolicyDocumentException"
        assert time.monotonic() - made < IAM_PROPAGATION_SECONDS
        time.sleep(max(0.0, IAM_PROPAGATION_SECONDS - (time.monotonic() - made)) + 0.5)
        key = kms.create_key(Policy=policy)["KeyMetadata"]["KeyId"]
        kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
        assert eks.create_cluster(name=name, roleArn=arn, resourcesVpcConfig={
            "subnetIds": localcloud.vpc()["subnet_ids"]})["cluster"]["status"] == "CREATING"
    finally:
        localcloud.delete_cluster(name)
        iam.delete_role(RoleName=name)


def test_fis_cannot_assume_a_role_iam_has_not_propagated(localcloud):
    """As AWS: the template takes a role made seconds ago (FIS only checks iam:PassRole then), but an experiment
    started with it fails at once, AuthorizationFailure, its reason saying the role cannot be assumed, and
    interrupts nothing; once IAM has propagated the role the same template runs (the drill retries on this)."""
    from localcloud.aws.iam import IAM_PROPAGATION_SECONDS

    iam, fis = localcloud.boto3("iam"), localcloud.boto3("fis")
    role = _fis_role(localcloud)
    made = time.monotonic()
    tpl = fis.create_experiment_template(
        clientToken=uuid.uuid4().hex, description="lc: role propagation", roleArn=role, stopConditions=[{"source": "none"}],
        targets={"spot": {"resourceType": "aws:ec2:spot-instance", "resourceTags": {"lc-test": uuid.uuid4().hex},
                          "selectionMode": "ALL"}},
        actions={"interrupt": {"actionId": "aws:ec2:send-spot-instance-interruptions",
                               "parameters": {"durationBeforeInterruption": "PT2M"}, "targets": {"SpotInstances": "spot"}}},
        experimentOptions={"emptyTargetResolutionMode": "skip"},
    )["experimentTemplate"]
    try:
        started = fis.start_experiment(experimentTemplateId=tpl["id"], clientToken=uuid.uuid4().hex)["experiment"]
        assert started["state"]["status"] in ("pending", "initiating")  # StartExperiment itself accepts
        state = fis.get_experiment(id=started["id"])["experiment"]["state"]
        assert time.monotonic() - made < IAM_PROPAGATION_SECONDS
        assert state["status"] == "failed", state
        assert state.get("error", {}).get("code") == "AuthorizationFailure", state
        assert role in state["reason"] and "assume" in state["reason"].lower(), state
        _wait_until_propagated(localcloud, role)
        again = fis.start_experiment(experimentTemplateId=tpl["id"], clientToken=uuid.uuid4().hex)["experiment"]
        deadline = time.monotonic() + 30
        while (state := fis.get_experiment(id=again["id"])["experiment"]["state"])["status"] not in ("completed", "failed"):
            assert time.monotonic() < deadline, state
            time.sleep(0.5)
        assert state["status"] == "completed", state  # no target: skipped, as the template asks
    finally:
        fis.delete_experiment_template(id=tpl["id"])
        iam.delete_role(RoleName=role.rsplit("/", 1)[-1])


def test_no_cluster_in_a_zone_without_eks(localcloud):
    """As EKS: subnets in a zone ID without control planes (us-east-1e is use1-az3 in moto's account) are
    refused with UnsupportedAvailabilityZoneException, which names the zones that would do."""
    import boto3

    from localcloud.testing import CLUSTER_ROLE_ARN

    def client(service):
        return boto3.client(service, endpoint_url=localcloud.env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                            aws_access_key_id=localcloud.cfg.access_key, aws_secret_access_key=localcloud.cfg.secret_key)

    ec2 = client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.97.0.0/16")["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.97.{i}.0/24", AvailabilityZone=z)["Subnet"]["SubnetId"]
               for i, z in enumerate(["us-east-1a", "us-east-1e"])]
    try:
        with pytest.raises(ClientError) as refused:
            client("eks").create_cluster(name="lc-zone", roleArn=CLUSTER_ROLE_ARN, resourcesVpcConfig={"subnetIds": subnets})
        error = refused.value.response
        assert error["Error"]["Code"] == "UnsupportedAvailabilityZoneException"
        assert "us-east-1e" in error["Error"]["Message"] and "us-east-1e" not in error.get("validZones", [])
        assert "us-east-1a" in error.get("validZones", []), error
    finally:
        for subnet in subnets:
            ec2.delete_subnet(SubnetId=subnet)
        ec2.delete_vpc(VpcId=vpc)


# --- lifecycle: a second, isolated local cloud -------------------------------------------
def test_up_is_idempotent_and_down_leaves_nothing(tmp_path, monkeypatch):
    from localcloud.cloud import LocalCloud, running_pid
    from localcloud.config import Config

    monkeypatch.setenv("SPOTFLOW_LOCALCLOUD_STATE", str(tmp_path / "state"))
    base = isolated_port_base(0)
    monkeypatch.setenv("SPOTFLOW_LOCALCLOUD_PORT_BASE", str(base))
    monkeypatch.setenv("SPOTFLOW_LOCALCLOUD_LATENCY", '{"eks_cluster": 3, "rds_instance": 3, "efs": 3}')
    cfg = Config()
    cloud = LocalCloud(cfg)
    cloud.up()
    try:
        pids = cloud.status()
        assert all(pids.values())
        t0 = time.monotonic()
        cloud.up()  # already up: nothing restarted
        assert time.monotonic() - t0 < 5
        assert cloud.status() == pids

        # injected latency: CREATING for the configured seconds, then ACTIVE
        from localcloud.testing import Handle

        h = Handle(cloud)
        slow = h.ensure_cluster("slow", wait=False)
        assert slow["status"] == "CREATING"
        assert h.boto3("eks").describe_cluster(name="slow")["cluster"]["status"] == "CREATING"
        efs = h.boto3("efs")
        fs = efs.create_file_system(CreationToken="slow", Encrypted=True)
        assert fs["LifeCycleState"] == "creating"
        assert efs.describe_file_systems(FileSystemId=fs["FileSystemId"])["FileSystems"][0]["LifeCycleState"] == "creating"
        # a DB instance is a PostgreSQL server: creating for the injected latency and until it serves
        rds = h.boto3("rds")
        rds.create_db_instance(DBInstanceIdentifier="slow", Engine="postgres", EngineVersion="17.7",
                               DBInstanceClass="db.t4g.micro", AllocatedStorage=20, MasterUsername="master",
                               MasterUserPassword="slow-Password-1", DBName="app")
        assert rds.describe_db_instances(DBInstanceIdentifier="slow")["DBInstances"][0]["DBInstanceStatus"] == "creating"
        h.boto3("eks").get_waiter("cluster_active").wait(name="slow", WaiterConfig={"Delay": 1, "MaxAttempts": 90})
        assert efs.describe_file_systems(FileSystemId=fs["FileSystemId"])["FileSystems"][0]["LifeCycleState"] == "available"
        assert time.monotonic() - t0 >= 3
        db = _wait_db_status(rds, "slow")
        from localcloud.aws.rds_postgres import host_endpoint

        postgres = host_endpoint(cfg, "slow")
        assert postgres["pid"] and _psql(h, "slow", "slow-Password-1", "select 1").stdout.strip() == "1"
        assert db["Endpoint"]["Port"] == 5432
    finally:
        cloud.down()
    for name, pid in pids.items():
        assert running_pid(cfg, name) is None
        if not isinstance(pid, int):  # a dockerd that was running before is not ours
            continue
        try:
            import os

            os.kill(pid, 0)
            alive = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
        except (ProcessLookupError, FileNotFoundError):
            alive = False
        assert not alive, f"{name} (pid {pid}) still running"
    # the cluster's own control plane went with it: ports closed, state removed
    cluster_port = int(slow["endpoint"].rsplit(":", 1)[1])
    for port in (base, base + 1, base + 2, base + 3, cluster_port, cluster_port + 1, cluster_port + 2):
        assert not _port_open(port), f"port {port} still open"
    assert not list((cfg.state_dir / "clusters").glob("*"))
    # and the DB instance's PostgreSQL: process, port and data
    assert _gone(postgres["pid"], postgres["port"]), f"PostgreSQL {postgres} still runs"
    assert not os.path.exists(postgres["data_dir"])


def test_ecr_leads_to_the_local_registry(localcloud, tmp_path):
    """An ECR repository URI + authorization token reach a real registry; ECR lists what was pushed."""
    import io
    import subprocess
    import tarfile

    ecr = localcloud.boto3("ecr")
    name = f"lc/{uuid.uuid4().hex[:8]}"
    uri = ecr.create_repository(repositoryName=name)["repository"]["repositoryUri"]
    assert uri == f"{localcloud.env['SPOTFLOW_REGISTRY']}/{name}"
    auth = ecr.get_authorization_token()["authorizationData"][0]
    user, password = base64.b64decode(auth["authorizationToken"]).decode().split(":", 1)
    login = subprocess.run(["docker", "login", "-u", user, "--password-stdin", auth["proxyEndpoint"]],
                           input=password, text=True, capture_output=True)
    assert login.returncode == 0, login.stderr
    # a one-file image, made locally (nothing can be pulled)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"spotflow\n"
        info = tarfile.TarInfo("hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    subprocess.run(["docker", "import", "-", f"{uri}:v1"], input=buf.getvalue(), check=True, capture_output=True)
    try:
        push = subprocess.run(["docker", "push", f"{uri}:v1"], capture_output=True, text=True)
        assert push.returncode == 0, push.stderr
        images = ecr.describe_images(repositoryName=name)["imageDetails"]
        assert [i["imageTags"] for i in images] == [["v1"]]
        assert images[0]["imageDigest"] in push.stdout
        ecr.delete_repository(repositoryName=name, force=True)
        with urllib.request.urlopen(f"http://{localcloud.env['SPOTFLOW_REGISTRY']}/v2/{name}/tags/list") as r:
            assert not json.load(r).get("tags")
    finally:
        subprocess.run(["docker", "rmi", f"{uri}:v1"], capture_output=True)


# --- RDS: each DB instance is a real PostgreSQL --------------------------------------------
def _psql(localcloud, instance: str, password: str, sql: str, database: str = "app", user: str = "master",
          tls: bool = True):
    """psql to the instance's server as a client on this machine does: the endpoint's name, checked
    against the local cloud's RDS CA (verify-full), at the local port the local cloud maps it to."""
    import subprocess

    from localcloud.aws.rds_postgres import host_endpoint, postgres_bin

    ep = host_endpoint(localcloud.cfg, instance)
    ssl = f"sslmode=verify-full sslrootcert={localcloud.env['SPOTFLOW_RDS_CA_BUNDLE']}" if tls else "sslmode=disable"
    dsn = f"host={ep['address']} hostaddr={ep['host']} port={ep['port']} dbname={database} user={user} {ssl} connect_timeout=5"
    return subprocess.run([str(postgres_bin() / "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", dsn, "-c", sql],
                          env={"PATH": "/usr/bin:/bin", "PGPASSWORD": password}, capture_output=True, text=True, timeout=30)


def _wait_db_status(rds, instance: str, want: str = "available", timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        db = rds.describe_db_instances(DBInstanceIdentifier=instance)["DBInstances"][0]
        if db["DBInstanceStatus"] == want:
            return db
        assert db["DBInstanceStatus"] in ("creating", "backing-up", "modifying", "starting"), db["DBInstanceStatus"]
        assert time.monotonic() < deadline, f"{instance} is {db['DBInstanceStatus']}, not {want}"
        time.sleep(0.2)


def _gone(pid: int, port: int) -> bool:
    from localcloud.procs import port_open

    alive = os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    return not alive and not port_open("127.0.0.1", port)


@pytest.fixture(scope="module")
def postgres_instance(localcloud):
    """A postgres DB instance with rds.force_ssl=1, as the rds_postgres role makes it."""
    rds = localcloud.boto3("rds")
    name = f"lc-pg-{uuid.uuid4().hex[:6]}"
    rds.create_db_parameter_group(DBParameterGroupName=name, DBParameterGroupFamily="postgres17", Description="lc")
    rds.modify_db_parameter_group(DBParameterGroupName=name, Parameters=[
        {"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "immediate"},
        {"ParameterName": "max_connections", "ParameterValue": "42", "ApplyMethod": "pending-reboot"}])
    t0 = time.monotonic()
    created = rds.create_db_instance(
        DBInstanceIdentifier=name, Engine="postgres", EngineVersion="17.7", DBInstanceClass="db.t4g.micro",
        AllocatedStorage=20, MasterUsername="master", MasterUserPassword="first-Password-1", DBName="app",
        DBParameterGroupName=name)["DBInstance"]
    assert created["DBInstanceStatus"] == "creating"  # not before its server accepts connections
    db = _wait_db_status(rds, name)
    print(f"\nDB instance {name} available after {time.monotonic() - t0:.1f}s")
    yield {"name": name, "db": db, "password": "first-Password-1"}
    try:
        rds.delete_db_instance(DBInstanceIdentifier=name, SkipFinalSnapshot=True)
    except ClientError:
        pass
    rds.delete_db_parameter_group(DBParameterGroupName=name)


def test_rds_instance_is_a_postgresql_with_tls(localcloud, postgres_instance):
    """The master user and database of CreateDBInstance, over TLS verified with the local cloud's CA
    against the endpoint's name; the API answers the endpoint and version it was asked for."""
    from localcloud.aws.rds_postgres import host_endpoint

    db, name = postgres_instance["db"], postgres_instance["name"]
    assert db["Endpoint"]["Port"] == 5432 and db["Endpoint"]["Address"].startswith(f"{name}.")
    assert db["EngineVersion"] == "17.7"
    ep = host_endpoint(localcloud.cfg, name)
    assert ep["address"] == db["Endpoint"]["Address"] and ep["host"] == "127.0.0.1"
    assert localcloud.cfg.port_base + 800 <= ep["port"] < localcloud.cfg.port_base + 900
    out = _psql(localcloud, name, postgres_instance["password"],
                "select current_user, current_database(), ssl from pg_stat_ssl where pid = pg_backend_pid()")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "master|app|t"
    # the parameter group's other settings, where PostgreSQL has them
    assert _psql(localcloud, name, postgres_instance["password"], "show max_connections").stdout.strip() == "42"


def test_rds_force_ssl_refuses_connections_without_tls(localcloud, postgres_instance):
    out = _psql(localcloud, postgres_instance["name"], postgres_instance["password"], "select 1", tls=False)
    assert out.returncode != 0
    assert "no encryption" in out.stderr, out.stderr


def test_rds_modify_master_password(localcloud, postgres_instance):
    """ModifyDBInstance MasterUserPassword: the old password is refused at once, the new one works."""
    rds, name = localcloud.boto3("rds"), postgres_instance["name"]
    rds.modify_db_instance(DBInstanceIdentifier=name, MasterUserPassword="second-Password-2", ApplyImmediately=False)
    old = _psql(localcloud, name, postgres_instance["password"], "select 1")
    assert old.returncode != 0 and "password authentication failed" in old.stderr, old.stderr
    new = _psql(localcloud, name, "second-Password-2", "select current_user")
    assert new.returncode == 0 and new.stdout.strip() == "master", new.stderr
    postgres_instance["password"] = "second-Password-2"


def test_rds_delete_with_final_snapshot_then_restore(localcloud, postgres_instance):
    """DeleteDBInstance stops the server (pid gone, port closed, data removed); its final snapshot is a dump
    that RestoreDBInstanceFromDBSnapshot loads into a new server."""
    from localcloud.aws.rds_postgres import host_endpoint

    rds, name, password = localcloud.boto3("rds"), postgres_instance["name"], postgres_instance["password"]
    made = _psql(localcloud, name, password, "create table kept (v text); insert into kept values ('before delete')")
    assert made.returncode == 0, made.stderr
    ep = host_endpoint(localcloud.cfg, name)
    assert ep["pid"] and os.path.isdir(ep["data_dir"])
    rds.delete_db_instance(DBInstanceIdentifier=name, FinalDBSnapshotIdentifier=f"{name}-final")
    deadline = time.monotonic() + 30
    while not _gone(ep["pid"], ep["port"]):
        assert time.monotonic() < deadline, "the deleted instance's PostgreSQL still runs"
        time.sleep(0.2)
    assert not os.path.exists(ep["data_dir"])
    with pytest.raises(KeyError):
        host_endpoint(localcloud.cfg, name)

    restored = f"{name}-restored"
    rds.restore_db_instance_from_db_snapshot(DBInstanceIdentifier=restored, DBSnapshotIdentifier=f"{name}-final",
                                             DBParameterGroupName=name)
    try:
        _wait_db_status(rds, restored)
        out = _psql(localcloud, restored, password, "select v from kept")
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "before delete"
        assert _psql(localcloud, restored, password, "select 1", tls=False).returncode != 0  # force_ssl still on
    finally:
        rds.delete_db_instance(DBInstanceIdentifier=restored, SkipFinalSnapshot=True)
        rds.delete_db_snapshot(DBSnapshotIdentifier=f"{name}-final")


def test_rds_parameters_postgresql_refuses_make_the_instance_incompatible(localcloud):
    """A parameter group value PostgreSQL cannot start with: incompatible-parameters, as on RDS."""
    rds = localcloud.boto3("rds")
    name = f"lc-pgbad-{uuid.uuid4().hex[:6]}"
    rds.create_db_parameter_group(DBParameterGroupName=name, DBParameterGroupFamily="postgres17", Description="lc")
    rds.modify_db_parameter_group(DBParameterGroupName=name, Parameters=[
        {"ParameterName": "max_connections", "ParameterValue": "many", "ApplyMethod": "pending-reboot"}])
    rds.create_db_instance(DBInstanceIdentifier=name, Engine="postgres", EngineVersion="17.7",
                           DBInstanceClass="db.t4g.micro", AllocatedStorage=20, MasterUsername="master",
                           MasterUserPassword="bad-Params-1", DBParameterGroupName=name)
    try:
        deadline = time.monotonic() + 60
        while (status := rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]["DBInstanceStatus"]) == "creating":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert status == "incompatible-parameters"
    finally:
        rds.delete_db_instance(DBInstanceIdentifier=name, SkipFinalSnapshot=True)
        rds.delete_db_parameter_group(DBParameterGroupName=name)
