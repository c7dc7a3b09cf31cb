"""The whole journey against the local cloud, with the playbooks a user runs.

- site.yml --check on an empty account creates nothing;
- site.yml converges on real nodes (a local cloud of its own: Airflow really
  starts against the PostgreSQL behind RDS, with its EFS volumes); a second
  run and a --check run report changed=0;
- verify.yml passes (it runs the smoke DAG on Spot through the Airflow API);
  `make ui`'s forward serves the UI and the admin password from Secrets
  Manager logs in; the Spot interruption drill reclaims the node under a
  running task (no retries) and the DAG run still succeeds;
- Spot interruptions do not use up retries (spotflow_spot_cases, tries
  interrupted as a reclaim does: cordon + eviction): retries=0 interrupted
  once succeeds, retries=1 interrupted twice keeps its retry, exit 1 with
  retries=0 fails after one try, more interruptions than the limit fail;
- a DAG change (`make dags`: site.yml --tags ecr_image,airflow_app with a new
  DAG file) rolls out a new image without a migration or admin Job, and the
  API serves the new DAG;
- teardown.yml removes everything: listing every resource type site.yml
  creates finds none of ours; a second teardown changes nothing;
- a site.yml killed in the middle of a role converges on the next run with no
  duplicates (access points, OIDC provider, secrets, security groups).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kubernetes import client

from localcloud.testing import recap

REPO = Path(__file__).resolve().parents[2]
# part of `make test`; `make e2e` runs only these
pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _vars(cluster: str) -> dict:
    return {"spotflow_cluster_name": cluster}


def ours(localcloud, cluster: str) -> dict[str, list]:
    """Every resource type site.yml creates, filtered to this cluster's."""
    tag = {"Key": "spotflow:cluster", "Value": cluster}
    b = localcloud.boto3
    found: dict[str, list] = {}
    eks = b("eks")
    found["eks_clusters"] = [c for c in eks.list_clusters()["clusters"] if c == cluster]
    found["eks_nodegroups"] = eks.list_nodegroups(clusterName=cluster)["nodegroups"] if found["eks_clusters"] else []
    efs = b("efs")
    filesystems = [f for f in efs.describe_file_systems()["FileSystems"] if tag in f.get("Tags", [])]
    found["efs_file_systems"] = [f["FileSystemId"] for f in filesystems]
    found["efs_mount_targets"] = [m["MountTargetId"] for f in filesystems
                                  for m in efs.describe_mount_targets(FileSystemId=f["FileSystemId"])["MountTargets"]]
    found["efs_access_points"] = [a["AccessPointId"] for a in efs.describe_access_points()["AccessPoints"]
                                  if tag in a.get("Tags", [])]
    rds = b("rds")
    found["rds_instances"] = [i["DBInstanceIdentifier"] for i in rds.describe_db_instances()["DBInstances"]
                              if tag in i.get("TagList", [])]
    found["rds_subnet_groups"] = [g["DBSubnetGroupName"] for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]
                                  if g["DBSubnetGroupName"].startswith(cluster)]
    found["rds_parameter_groups"] = [g["DBParameterGroupName"] for g in rds.describe_db_parameter_groups()["DBParameterGroups"]
                                     if g["DBParameterGroupName"].startswith(cluster)]
    ec2 = b("ec2")
    f = [{"Name": "tag:spotflow:cluster", "Values": [cluster]}]
    found["security_groups"] = [g["GroupId"] for g in ec2.describe_security_groups(Filters=f)["SecurityGroups"]]
    found["vpcs"] = [v["VpcId"] for v in ec2.describe_vpcs(Filters=f)["Vpcs"]]
    found["subnets"] = [s["SubnetId"] for s in ec2.describe_subnets(Filters=f)["Subnets"]]
    found["internet_gateways"] = [g["InternetGatewayId"] for g in ec2.describe_internet_gateways(Filters=f)["InternetGateways"]]
    # moto ignores tag filters of DescribeNatGateways: match the tag here
    found["nat_gateways"] = [g["NatGatewayId"] for g in ec2.describe_nat_gateways()["NatGateways"]
                             if tag in g.get("Tags", []) and g["State"] not in ("deleted", "deleting")]
    found["route_tables"] = [t["RouteTableId"] for t in ec2.describe_route_tables(Filters=f)["RouteTables"]]
    found["elastic_ips"] = [a["AllocationId"] for a in ec2.describe_addresses(Filters=f)["Addresses"]]
    found["ecr_repositories"] = [r["repositoryName"] for r in b("ecr").describe_repositories()["repositories"]
                                 if r["repositoryName"].startswith(f"spotflow/{cluster}")]
    found["log_groups"] = [g["logGroupName"] for g in b("logs").describe_log_groups(
        logGroupNamePrefix=f"/aws/eks/{cluster}/")["logGroups"]]
    iam = b("iam")
    found["iam_roles"] = [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(cluster)]
    found["iam_policies"] = [p["PolicyName"] for p in iam.list_policies(Scope="Local")["Policies"]
                             if p["PolicyName"].startswith(cluster)]
    found["oidc_providers"] = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]
                               if tag in iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=p["Arn"]).get("Tags", [])]
    found["secrets"] = [s["Name"] for s in b("secretsmanager").list_secrets()["SecretList"]
                        if s["Name"].startswith(f"spotflow/{cluster}/") and "DeletedDate" not in s]
    # Kubernetes objects live in the cluster's own control plane: no cluster, none of them
    found["k8s_namespaces"] = found["k8s_persistent_volumes"] = found["k8s_nodes"] = []
    if found["eks_clusters"]:
        v1 = client.CoreV1Api(localcloud.k8s(cluster))
        found["k8s_namespaces"] = [n.metadata.name for n in v1.list_namespace(
            label_selector="app.kubernetes.io/part-of=spotflow").items]
        found["k8s_persistent_volumes"] = [p.metadata.name for p in v1.list_persistent_volume(
            label_selector="app.kubernetes.io/part-of=spotflow").items]
        found["k8s_nodes"] = [n.metadata.name for n in v1.list_node().items]
    return found


def leftovers(found: dict[str, list]) -> dict[str, list]:
    return {k: v for k, v in found.items() if v}


def run_ok(localcloud, playbook: str, cluster: str, **kw):
    proc = localcloud.run_playbook(REPO / "playbooks" / playbook, extra_vars=_vars(cluster) | kw.pop("extra_vars", {}), **kw)
    assert proc.returncode == 0, f"{playbook} failed:\n{proc.stdout[-8000:]}\n{proc.stderr[-2000:]}"
    return proc


def test_check_mode_on_an_empty_account_creates_nothing(localcloud):
    # no cluster name may start with another's: ours() filters some resource types by name prefix, and
    # make test runs these tests side by side
    cluster = "checked"
    proc = run_ok(localcloud, "site.yml", cluster, check=True, tags="eks_cluster,spot_nodegroup,efs_storage,rds_postgres,ecr_image,airflow_app")
    assert proc.recap["changed"] > 0, "check mode reported no plan"
    assert leftovers(ours(localcloud, cluster)) == {}


@pytest.fixture(scope="module")
def real_cloud(tmp_path_factory):
    """A local cloud of the journey's own with real nodes: Airflow really starts, its database is the
    PostgreSQL behind RDS and its volumes the EFS directories (verify.yml checks every component's heartbeat
    in it); on the way out, proof that ``down`` left nothing behind."""
    from localcloud.testing import isolated

    from .test_localcloud import isolated_port_base

    with isolated(tmp_path_factory.mktemp("journey") / "state", isolated_port_base(3)) as h:
        yield h


def _http(url: str, body: dict | None = None, token: str | None = None, timeout: float = 30) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json", "Accept": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, {}


@contextlib.contextmanager
def airflow_api(localcloud, cluster: str):
    """`make ui` (scripts/airflow-ui.sh): the forward serves the API on the host, the password that
    scripts/airflow_admin_password.py reads from Secrets Manager logs the admin in (a wrong one does not);
    yields the forward's base URL and the admin's token."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"} | localcloud.env | {
        "SPOTFLOW_CLUSTER_NAME": cluster, "SPOTFLOW_UI_PORT": str(port)}
    forward = subprocess.Popen(["bash", "scripts/airflow-ui.sh"], cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
        while True:
            try:
                if _http(f"{base}/api/v2/monitor/health")[0] == 200:
                    break
            except OSError:
                pass
            assert forward.poll() is None and time.monotonic() < deadline, forward.communicate(timeout=10)[0]
            time.sleep(1)
        password = subprocess.run([sys.executable, "scripts/airflow_admin_password.py", "--cluster", cluster], cwd=REPO,
                                  env=env, capture_output=True, text=True, check=True).stdout.strip()
        assert _http(f"{base}/auth/token", {"username": "admin", "password": password + "x"})[0] == 401
        status, login = _http(f"{base}/auth/token", {"username": "admin", "password": password})
        assert status == 201 and login["access_token"]
        yield base, login["access_token"]
    finally:
        forward.send_signal(signal.SIGINT)
        forward.wait(timeout=30)


def ui_login(localcloud, cluster: str) -> list[dict]:
    """Log in through `make ui`'s forward; the smoke DAG's runs."""
    with airflow_api(localcloud, cluster) as (base, token):
        status, runs = _http(f"{base}/api/v2/dags/spotflow_smoke/dagRuns", token=token)
        assert status == 200
        return runs["dag_runs"]


# dags/spotflow_spot_cases.py: which tries hold (to be interrupted) and which fail by themselves
CASES_CONF = {"seconds": 600, "hold": {"retries_0": [1], "retries_1": [1, 2], "limited": [1, 2]},
              "fail": {"retries_1": [3], "exits_1": [1]}}
CASES_ROUNDS = ({"retries_0": 1, "retries_1": 1, "limited": 1}, {"retries_1": 2, "limited": 2})


def _until(what: str, probe, timeout: float = 300, every: float = 2):
    deadline = time.monotonic() + timeout
    while not (found := probe()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)
    return found


def _holding_pod(v1, run_id: str, task_id: str, try_number: int):
    """The worker pod of that try, once the task is in its own code (its 'holding' line in the pod log)."""
    selector = f"dag_id=spotflow_spot_cases,run_id={run_id},task_id={task_id},try_number={try_number}"

    def probe():
        for pod in v1.list_namespaced_pod("airflow", label_selector=selector).items:
            if pod.status.phase == "Running" and "spotflow-cases: " + task_id in v1.read_namespaced_pod_log(
                    pod.metadata.name, "airflow", container="base"):
                return pod
        return None

    return _until(f"{task_id} try {try_number} to hold", probe)


def _reclaim(v1, pods) -> None:
    """What a Spot reclaim does to the pods' nodes, as the AWS Node Termination Handler or an EKS managed node
    group does it: cordon, evict (SIGTERM, the grace period honoured); once the pods are gone the nodes are
    uncordoned (the instances stay: the retries may land on them again)."""
    nodes = {p.spec.node_name for p in pods}
    for node in nodes:
        v1.patch_node(node, {"spec": {"unschedulable": True}})
    try:
        for pod in pods:
            v1.create_namespaced_pod_eviction(pod.metadata.name, "airflow", {
                "apiVersion": "policy/v1beta1", "kind": "Eviction",
                "metadata": {"name": pod.metadata.name, "namespace": "airflow"}})
        for pod in pods:
            _until(f"pod {pod.metadata.name} to go", lambda: not v1.list_namespaced_pod(
                "airflow", field_selector=f"metadata.name={pod.metadata.name}").items, timeout=180)
    finally:
        for node in nodes:
            v1.patch_node(node, {"spec": {"unschedulable": False}})


def spot_cases(localcloud, cluster: str) -> dict:
    """Issue 13's cases against the real Airflow: run spotflow_spot_cases, interrupt chosen tries (two rounds),
    return {task_id: (state, try_number, max_tries)} and, per task, which tries' logs name a Spot interruption."""
    v1 = client.CoreV1Api(localcloud.k8s(cluster))
    with airflow_api(localcloud, cluster) as (base, token):
        run_id = f"spot-cases-{int(time.time())}"
        dag = f"{base}/api/v2/dags/spotflow_spot_cases"
        status, _ = _http(f"{dag}/dagRuns", {"dag_run_id": run_id, "logical_date": None, "conf": CASES_CONF}, token)
        assert status == 200, status
        for reclaim in CASES_ROUNDS:
            _reclaim(v1, [_holding_pod(v1, run_id, task, n) for task, n in reclaim.items()])
        run = _until("the cases run to end", lambda: (r := _http(f"{dag}/dagRuns/{run_id}", token=token)[1]).get(
            "state") in ("success", "failed") and r, timeout=600, every=5)
        tis = _http(f"{dag}/dagRuns/{run_id}/taskInstances", token=token)[1]["task_instances"]
        interrupted = {
            # once under a loaded CI one log read took 54 s (the next ones 0.2 s): a generous timeout
            ti["task_id"]: [n for n in range(1, ti["try_number"] + 1) if "Spot interruption: its Spot node" in json.dumps(
                _http(f"{dag}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/logs/{n}?full_content=true", token=token,
                      timeout=300)[1])]
            for ti in tis}
    api_log = "".join(v1.read_namespaced_pod_log(p.metadata.name, "airflow", container="api-server")
                      for p in v1.list_namespaced_pod("airflow", label_selector="app.kubernetes.io/component=api-server").items)
    return {"run": run["state"], "tasks": {ti["task_id"]: (ti["state"], ti["try_number"], ti["max_tries"]) for ti in tis},
            "interrupted": interrupted, "api_log": api_log, "run_id": run_id}


def dag_change(localcloud, cluster: str, tmp: Path) -> None:
    """`make dags` after a new DAG file (in a copy of the build context): a new image whose runtime is the same,
    so the Deployments roll to it while the migration and admin Jobs stay as they were; the API serves the DAG."""
    context = tmp / "context"
    for part in ("dags", "docker"):
        shutil.copytree(REPO / part, context / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # the DAG scripts/benchmark.py adds to time the same loop
    spec = importlib.util.spec_from_file_location("benchmark", REPO / "scripts" / "benchmark.py")
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    (context / "dags" / "spotflow_dag_change.py").write_text(benchmark.NEW_DAG.format(dag_id="spotflow_dag_change"))
    api = localcloud.k8s(cluster)

    def state():
        jobs = sorted(j.metadata.name for j in client.BatchV1Api(api).list_namespaced_job("airflow").items)
        images = {d.metadata.name: d.spec.template.spec.containers[0].image
                  for d in client.AppsV1Api(api).list_namespaced_deployment("airflow").items}
        return jobs, images

    jobs, images = state()
    changed = run_ok(localcloud, "site.yml", cluster, tags="ecr_image,airflow_app",
                     extra_vars={"ecr_image_context_dir": str(context)})
    assert changed.recap["changed"] > 0
    jobs_after, images_after = state()
    assert jobs_after == jobs and any(j.startswith("airflow-migrate-") for j in jobs), (jobs, jobs_after)
    assert images_after.keys() == images.keys() and len(set(images_after.values())) == 1, images_after
    assert set(images_after.values()).isdisjoint(images.values()), (images, images_after)
    with airflow_api(localcloud, cluster) as (base, token):
        _until("the API to serve the new DAG", lambda: _http(f"{base}/api/v2/dags/spotflow_dag_change", token=token)[0] == 200,
               timeout=300, every=5)


def test_the_journey(real_cloud, tmp_path):
    localcloud, cluster = real_cloud, "e2e"
    first = run_ok(localcloud, "site.yml", cluster)
    assert first.recap["changed"] > 0
    assert "Cost/day" in first.stdout and "Secrets Manager" in first.stdout
    built = ours(localcloud, cluster)
    for kind in ("eks_clusters", "eks_nodegroups", "efs_file_systems", "efs_access_points", "rds_instances",
                 "ecr_repositories", "oidc_providers", "secrets", "k8s_namespaces", "k8s_nodes", "log_groups"):
        assert built[kind], f"site.yml made no {kind}"
    assert len(built["efs_access_points"]) == 2 and len(built["oidc_providers"]) == 1
    (group,) = localcloud.boto3("logs").describe_log_groups(logGroupNamePrefix=f"/aws/eks/{cluster}/")["logGroups"]
    assert group["retentionInDays"] == 30, group

    second = run_ok(localcloud, "site.yml", cluster)
    assert second.recap["changed"] == 0, second.stdout[-6000:]
    # nothing the smoke run proved changed: its verify reuses the first one's run instead of starting another
    smoke = " ".join(second.stdout.rsplit("Smoke DAG", 1)[-1].split())[:300]
    assert re.match(r"spotflow_smoke run spotflow-verify-[0-9a-f]{16}-\d+T\d+: success \(ended [^)]+\), reused: the newest "
                    r"run, made for this same image, config and Spot node groups", smoke), smoke
    # the summary prints the core pods on On-Demand: after verify.yml from what its airflow_app check published,
    # alone (--tags summary) from its own read
    summary_alone = run_ok(localcloud, "site.yml", cluster, tags="summary")
    for proc in (first, second, summary_alone):
        core = " ".join(proc.stdout.rsplit("Core pods", 1)[-1].split("Workers", 1)[0].split())
        assert "airflow-scheduler-" in core and "airflow-api-server-" in core and "on on_demand" in core, core
        assert "spot" not in core, core
    # the subnets eks_cluster read and left are described in spotflow_cluster: rds_postgres and efs_storage check
    # those instead of reading them again (the checks themselves ran: they would fail on a missing vpc_id or zone)
    # and the Kubernetes objects in place are not applied again (spotflow.eks.k8s_unapplied): no apply runs
    for task in ("rds_postgres : Look up the subnets (unless spotflow_cluster describes them)",
                 "efs_storage : Look up the subnets for the mount targets (unless spotflow_cluster describes them)",
                 "eks_cluster : Apply the cluster-autoscaler objects that are missing or differ (one call)",
                 "airflow_app : Create the namespace, service accounts and RBAC, StorageClass, EFS volumes and claims",
                 "airflow_app : Store the keys, the DB connection and the admin password in Kubernetes Secrets",
                 "airflow_app : Create the ConfigMap (airflow.cfg, worker pod template), the core's Deployments, "
                 "PodDisruptionBudgets and Services, the image pre-puller"):
        header = "TASK [%s]" % task
        after = second.stdout.split(header, 1)[-1].lstrip(" *\n")
        assert header in second.stdout and after.startswith("skipping:"), (header, after[:300])
    planned = run_ok(localcloud, "site.yml", cluster, check=True)
    assert planned.recap["changed"] == 0, planned.stdout[-6000:]
    # a role alone reads what the others left in AWS instead of their facts, and changes nothing
    for role in ("rds_postgres", "airflow_app"):
        alone = run_ok(localcloud, "site.yml", cluster, tags=role)
        assert alone.recap["changed"] == 0, alone.stdout[-6000:]
        assert f"TASK [{role} : " in alone.stdout
    dag_change(localcloud, cluster, tmp_path)

    run_ok(localcloud, "verify.yml", cluster)
    # the first site.yml's verify and verify.yml (alone: it always runs the DAG) ran the smoke DAG to success;
    # the second site.yml's reused the first's run
    runs = ui_login(localcloud, cluster)
    assert len(runs) == 2 and {r["state"] for r in runs} == {"success"}, runs
    drill = run_ok(localcloud, "spot_interruption_drill.yml", cluster)
    # the drill reclaimed the node under a running task (its own assertions: the run succeeded, no task failed,
    # tries one at a time, the SIGTERM in the interrupted try's log); one try lost per interrupted task
    cost = re.search(r"tasks interrupted (\d+), tries lost to interruptions (\d+)", " ".join(drill.stdout.split()))
    assert cost and 1 <= int(cost[1]) == int(cost[2]), drill.stdout[-4000:]
    # the worker image is held on every Spot node, the one that replaced the reclaimed node too, and on no other
    v1 = client.CoreV1Api(localcloud.k8s(cluster))

    def held():
        spot = {n.metadata.name for n in v1.list_node(label_selector="eks.amazonaws.com/capacityType=SPOT").items
                if not n.spec.unschedulable}
        pods = v1.list_namespaced_pod("airflow", label_selector="app.kubernetes.io/component=worker-image").items
        running = {p.spec.node_name for p in pods if p.status.phase == "Running"}
        return {p.spec.node_name for p in pods} if spot and running >= spot else None

    holders = _until("the worker image held on every Spot node", held, timeout=300)
    on_demand = {n.metadata.name for n in v1.list_node(label_selector="eks.amazonaws.com/capacityType=ON_DEMAND").items}
    assert on_demand and not holders & on_demand, (holders, on_demand)
    # Spot interruptions do not use up retries (the tasks above have none): the four cases of issue 13
    cases = spot_cases(localcloud, cluster)
    assert cases["tasks"] == {
        "retries_0": ("success", 2, 1),  # retries=0, interrupted once while running: succeeds, 1 uncounted
        "retries_1": ("success", 4, 3),  # retries=1, interrupted twice, then fails by itself: its retry is there
        "exits_1": ("failed", 1, 0),  # exits 1 on a Spot node with retries=0: fails after one try
        "limited": ("failed", 2, 1),  # interrupted twice with a limit of 1: fails
    }, cases
    assert cases["run"] == "failed" and cases["interrupted"] == {
        "retries_0": [1], "retries_1": [1, 2], "exits_1": [], "limited": [1, 2]}, cases
    assert (f"spotflow_spot_cases.limited run {cases['run_id']} map_index -1 try 2: Spot interruption 2, more than the "
            "limit of 1 per task instance: the task fails") in cases["api_log"], cases["api_log"][-3000:]
    assert f"spotflow_spot_cases.retries_0 run {cases['run_id']} map_index -1 try 1: Spot interruption 1 of at most 5, " \
        "not counted against retries" in cases["api_log"]

    run_ok(localcloud, "teardown.yml", cluster, extra_vars={"teardown_confirm": "yes"})
    assert leftovers(ours(localcloud, cluster)) == {}
    snapshots = localcloud.boto3("rds").describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    assert any(s["DBSnapshotIdentifier"].startswith(f"{cluster}-") for s in snapshots), "no final snapshot kept"

    again = run_ok(localcloud, "teardown.yml", cluster, extra_vars={"teardown_confirm": "yes"})
    assert again.recap["changed"] == 0, again.stdout[-6000:]


def test_interrupted_site_converges_without_duplicates(localcloud):
    cluster = "killed"
    env = dict(os.environ, **localcloud.env, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PYTHONUNBUFFERED="1")
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "inventories/local", "playbooks/site.yml",
            "-e", f"spotflow_cluster_name={cluster}"]
    proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    killed_at = None
    in_access_points = False
    deadline = time.monotonic() + 900
    try:
        for line in proc.stdout:
            # stop it in the middle of efs_storage: after the first access point, before the second
            if line.startswith("TASK [efs_storage : Access points"):
                in_access_points = True
            elif in_access_points and "(item=" in line:
                killed_at = line.strip()
                os.killpg(proc.pid, signal.SIGKILL)
                break
            assert time.monotonic() < deadline, "site.yml took too long to reach the access points"
    finally:
        proc.wait(timeout=60)
    assert killed_at, "site.yml never reached the efs_storage access points"

    # simulated nodes run nothing: no verify.yml (it runs the smoke DAG); the journey verifies
    run_ok(localcloud, "site.yml", cluster, extra_args=["--skip-tags", "verify"])
    found = ours(localcloud, cluster)
    assert len(found["efs_access_points"]) == 2, found["efs_access_points"]
    assert len(found["oidc_providers"]) == 1, found["oidc_providers"]
    assert len(found["efs_file_systems"]) == 1
    assert len(set(found["secrets"])) == len(found["secrets"])
    ec2 = localcloud.boto3("ec2")
    names = [g["GroupName"] for g in ec2.describe_security_groups(GroupIds=found["security_groups"])["SecurityGroups"]]
    assert len(names) == len(set(names)), names

    run_ok(localcloud, "teardown.yml", cluster,
           extra_vars={"teardown_confirm": "yes", "rds_postgres_skip_final_snapshot": True})
    assert leftovers(ours(localcloud, cluster)) == {}


def test_recap_parser():
    assert recap("localhost : ok=3 changed=1 unreachable=0 failed=0 skipped=2 rescued=0 ignored=0")["changed"] == 1
