"""Real nodes in the local cloud: kubelets and containerd running real containers.

One isolated local cloud with real nodes (own state dir and ports) for the
module: a cluster, a Spot node group of two tainted nodes. Everything is
asserted against what really ran: container output, exec, port-forward,
traffic between pods on different nodes, Service DNS, the in-cluster apiserver
with RBAC, SIGTERM on a Spot reclaim and the replacement node, isolation by
inspecting routes and rules, and nothing left after ``down``.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.stream import portforward, stream

from localcloud.testing import alive, netns

from .test_localcloud import isolated_port_base

PORT_BASE = isolated_port_base(1)
CLUSTER = "real-nodes"
GROUP = "real-spot"
SPOT_TAINT = {"key": "spotInstance", "value": "true", "effect": "PREFER_NO_SCHEDULE"}
TOLERATE_ALL = [{"operator": "Exists"}]
@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """An isolated local cloud with real nodes; on the way out, proof that ``down`` leaves nothing."""
    from localcloud.testing import isolated

    with isolated(tmp_path_factory.mktemp("real-nodes") / "state", PORT_BASE) as h:
        h.make_nodegroup(CLUSTER, GROUP, "SPOT", labels={"lifecycle": "Ec2Spot"}, taints=[SPOT_TAINT], size=2,
                         instance_types=["m5.large", "m5a.large"], timeout=120)
        yield h


def _v1(real) -> client.CoreV1Api:
    return client.CoreV1Api(real.k8s(CLUSTER))


def _toolbox(real) -> str:
    return f"{real.env['SPOTFLOW_REGISTRY']}/localcloud/toolbox:1"


def _run_pod(real, name: str, command: str, node: str | None = None, labels: dict | None = None,
             sa: str | None = None, grace: int = 5, ns: str = "default"):
    v1 = _v1(real)
    spec = {"terminationGracePeriodSeconds": grace, "tolerations": TOLERATE_ALL,
            "containers": [{"name": "main", "image": _toolbox(real), "command": ["sh", "-c", command]}]}
    if node:
        spec["nodeName"] = node
    if sa:
        spec["serviceAccountName"] = sa
    v1.create_namespaced_pod(ns, {"metadata": {"name": name, "labels": labels or {"app": name}}, "spec": spec})
    deadline = time.monotonic() + 90
    while True:
        pod = v1.read_namespaced_pod(name, ns)
        if pod.status.phase == "Running" and all(c.ready for c in pod.status.container_statuses or []):
            return pod
        assert time.monotonic() < deadline, f"pod {name} not running: {pod.status}"
        time.sleep(0.3)


def _exec(real, pod: str, cmd: str, ns: str = "default") -> str:
    return stream(_v1(real).connect_get_namespaced_pod_exec, pod, ns, command=["sh", "-c", cmd],
                  stderr=True, stdin=False, stdout=True, tty=False)


def _logs_contain(real, pod: str, text: str, timeout: float = 30, why=lambda: "") -> str:
    deadline = time.monotonic() + timeout
    while True:
        logs = _v1(real).read_namespaced_pod_log(pod, "default")
        if text in logs:
            return logs
        assert time.monotonic() < deadline, f"{text!r} not in the logs of {pod}: {logs!r}\n{why()}"
        time.sleep(0.5)


LISTEN = "nc -ll -p 8080 -e echo pong & while true; do sleep 1; done"


@pytest.fixture(scope="module")
def pair(real):
    """Two pods on the two different nodes, each answering 'pong' on 8080."""
    nodes = real.wait_for_nodes(CLUSTER, GROUP, 2)
    a = _run_pod(real, "pod-a", "echo started on $(hostname); " + LISTEN, node=nodes[0], labels={"app": "pair", "who": "a"})
    b = _run_pod(real, "pod-b", LISTEN, node=nodes[1], labels={"app": "pair", "who": "b"})
    _v1(real).create_namespaced_service("default", {"metadata": {"name": "pod-b"}, "spec": {
        "selector": {"who": "b"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    return a, b


def test_nodes_join_as_eks_starts_them(real):
    """Node name = the instance's private DNS name, IP = its private IP, the group's labels and taints."""
    asg = real.boto3("eks").describe_nodegroup(clusterName=CLUSTER, nodegroupName=GROUP)["nodegroup"]["resources"]
    group = real.boto3("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[asg["autoScalingGroups"][0]["name"]])["AutoScalingGroups"][0]
    ids = [i["InstanceId"] for i in group["Instances"]]
    instances = {i["InstanceId"]: i for r in real.boto3("ec2").describe_instances(InstanceIds=ids)["Reservations"]
                 for i in r["Instances"]}
    nodes = real.nodes_of(CLUSTER, GROUP)
    assert len(nodes) == 2
    for n in nodes:
        iid = n.spec.provider_id.rsplit("/", 1)[-1]
        inst = instances[iid]
        assert n.metadata.name == f"ip-{inst['PrivateIpAddress'].replace('.', '-')}.ec2.internal"
        assert {a.type: a.address for a in n.status.addresses}["InternalIP"] == inst["PrivateIpAddress"]
        assert n.status.node_info.kubelet_version == "v1.20.2"
        assert n.status.node_info.container_runtime_version.startswith("containerd://1.6")
        assert n.metadata.labels["lifecycle"] == "Ec2Spot"
        assert n.metadata.labels["eks.amazonaws.com/capacityType"] == "SPOT"
        assert ("spotInstance", "true", "PreferNoSchedule") in [(t.key, t.value, t.effect) for t in n.spec.taints]
    # every kubelet runs with the EC2 metadata address switched off
    for environ in real.cfg.state_dir.glob(f"clusters/{CLUSTER}/nodes/*/pids/kubelet.json"):
        pid = json.loads(environ.read_text())["pid"]
        assert b"AWS_EC2_METADATA_DISABLED=true" in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")


def test_logs_exec_and_port_forward(real, pair):
    a, _ = pair
    assert "started on pod-a" in _logs_contain(real, "pod-a", "started on pod-a")
    assert _exec(real, "pod-a", "echo $((6 * 7))").strip() == "42"
    pf = portforward(_v1(real).connect_get_namespaced_pod_portforward, "pod-a", "default", ports="8080")
    sock = pf.socket(8080)
    sock.setblocking(True)
    sock.sendall(b"ping\n")
    got = b""
    deadline = time.monotonic() + 10
    while b"pong" not in got and time.monotonic() < deadline:
        got += sock.recv(100)
    sock.close()
    assert b"pong" in got


def test_pod_to_pod_across_nodes_by_ip_and_by_service_name(real, pair):
    a, b = pair
    assert a.spec.node_name != b.spec.node_name
    assert "pong" in _exec(real, "pod-a", f"echo hi | nc -w 3 {b.status.pod_ip} 8080")
    # cluster DNS answers the Service's name (the pod's resolv.conf points at it); kube-proxy leads
    # its ClusterIP to pod-b. (busybox's nslookup resolves; its static nc cannot load glibc's resolver)
    svc_ip = _v1(real).read_namespaced_service("pod-b", "default").spec.cluster_ip
    lookup = "nslookup pod-b.default.svc.cluster.local | awk '/^Address: / {print $2}'"
    deadline = time.monotonic() + 30
    while (out := _exec(real, "pod-a", lookup).strip()) != svc_ip:
        assert time.monotonic() < deadline, (out, _exec(real, "pod-a", "nslookup pod-b.default.svc.cluster.local; cat /etc/resolv.conf"))
        time.sleep(1)
    assert "pong" in _exec(real, "pod-a", f"echo hi | nc -w 3 $({lookup}) 80")


def test_pod_calls_the_apiserver_in_cluster_as_rbac_allows(real):
    """A pod's service account token works at https://kubernetes.default.svc, allowed and refused per RBAC."""
    v1, rbac = _v1(real), client.RbacAuthorizationV1Api(real.k8s(CLUSTER))
    v1.create_namespaced_service_account("default", {"metadata": {"name": "reader"}})
    # Kubernetes 1.20 refuses a pod of a service account whose token secret the token controller
    # has not made yet (500 "No API token found ..., retry after"): wait for it, as kubectl users do
    deadline = time.monotonic() + 60
    while not v1.read_namespaced_service_account("reader", "default").secrets:
        assert time.monotonic() < deadline, "the token controller made no token for the service account reader"
        time.sleep(0.5)
    rbac.create_namespaced_role("default", {"metadata": {"name": "pod-reader"}, "rules": [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]})
    rbac.create_namespaced_role_binding("default", {"metadata": {"name": "reader"}, "roleRef": {
        "apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": "default"}]})
    _run_pod(real, "caller", "while true; do sleep 1; done", sa="reader")
    call = ('wget -S -q -O- --no-check-certificate --header "Authorization: Bearer '
            '$(cat /var/run/secrets/kubernetes.io/serviceaccount/token)" '
            'https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/api/v1/namespaces/default/{} 2>&1')
    allowed = _exec(real, "caller", call.format("pods"))
    assert "HTTP/1.1 200" in allowed and '"kind":"PodList"' in allowed.replace(" ", "")
    refused = _exec(real, "caller", call.format("secrets"))
    assert "403" in refused


def test_nothing_can_leave_by_construction(real, pair):
    """Proof by inspection, never by sending packets out: the cluster's namespace has no route off it,
    no interface to the host; the host has no route into it and no rule of kube-proxy."""
    plane_ns = [n for n in netns() if n.startswith(f"spotflow-{PORT_BASE}-")]
    assert len(plane_ns) == 1
    ns = plane_ns[0]
    for family in ("-4", "-6"):
        routes = subprocess.run(["ip", family, "-n", ns, "route", "show", "table", "all"], capture_output=True, text=True,
                                check=True).stdout.splitlines()
        # only the pods' subnet and the namespace's own addresses: no default route, nothing towards the host
        unexpected = [r for r in routes if not (r.startswith(("local ", "broadcast ", "multicast ", "fe80::", "anycast "))
                                                or r.startswith("10.244.0.0/16 dev cni0"))]
        assert not unexpected, unexpected
    links = subprocess.run(["ip", "-n", ns, "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    names = {line.split(":")[1].strip().split("@")[0] for line in links.splitlines()}
    assert {n for n in names if not n.startswith("veth")} == {"lo", "cni0"}, names  # and the pods' veths
    host_routes = subprocess.run(["ip", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    assert "10.244." not in host_routes
    host_rules = subprocess.run(["iptables", "-S"], capture_output=True, text=True).stdout
    assert "KUBE-" not in host_rules
    # a pod's only way is the bridge: its default route leads into the namespace, which has none
    assert "default via 10.244.0.1" in _exec(real, "pod-a", "ip route")


def test_spot_interruption_sigterms_the_pod_and_a_new_node_joins(real, pair):
    """The pod hears SIGTERM while its node is still there (during the notice), then the node goes and another joins."""
    _, b = pair
    nodes = {n.metadata.name: n for n in real.nodes_of(CLUSTER, GROUP)}
    victim = next(n for n in nodes if n != b.spec.node_name)
    _run_pod(real, "listener", "while true; do nc -l -p 9000; done", node=b.spec.node_name)
    listener_ip = _v1(real).read_namespaced_pod("listener", "default").status.pod_ip
    # the trap tries five times: in one make test a single try went unheard (its cause not seen then; a failure
    # now shows the victim's kubelet lines)
    _run_pod(real, "victim", f"trap 'for i in 1 2 3 4 5; do echo got SIGTERM | nc -w 2 {listener_ip} 9000 && break; "
             "sleep 1; done; exit 0' TERM; while true; do sleep 1; done", node=victim, grace=20)
    instance = nodes[victim].spec.provider_id.rsplit("/", 1)[-1]
    node_dir = next(real.cfg.state_dir.glob(f"clusters/{CLUSTER}/nodes/{victim}"))
    kubelet_pid = json.loads((node_dir / "pids" / "kubelet.json").read_text())["pid"]
    notice = 30  # long enough for a kubelet on a machine as loaded as make test's
    answer: dict = {}

    def interrupt():
        req = urllib.request.Request(f"http://127.0.0.1:{real.cfg.webhook_port}/localcloud/interrupt", method="POST",
                                     data=json.dumps({"instance_ids": [instance], "notice_seconds": notice}).encode())
        with urllib.request.urlopen(req, timeout=120) as r:
            answer.update(json.load(r))

    t = threading.Thread(target=interrupt, daemon=True)
    t.start()
    try:
        # while the node is still there, so that a failure can say what its kubelet did
        _logs_contain(real, "listener", "got SIGTERM", timeout=notice - 5,
                      why=lambda: _kubelet_lines(node_dir, "victim"))
    finally:
        t.join(120)
    assert answer.get("status") == "completed", answer
    assert not alive(kubelet_pid)
    after = real.wait_for_nodes(CLUSTER, GROUP, 2, timeout=120)
    assert victim not in after
    assert "victim" not in [p.metadata.name for p in _v1(real).list_namespaced_pod("default").items]


def _kubelet_lines(node_dir: Path, word: str, last: int = 40) -> str:
    try:
        lines = (node_dir / "logs" / "kubelet.log").read_text(errors="replace").splitlines()
    except OSError as e:
        return f"no kubelet log: {e}"
    return "\n".join([line for line in lines if word in line][-last:])


def test_two_clusters_have_separate_networks(real):
    other = f"real-other-{uuid.uuid4().hex[:4]}"
    real.ensure_cluster(other)
    try:
        names = [n for n in netns() if n.startswith(f"spotflow-{PORT_BASE}-")]
        assert len(names) == 2
    finally:
        real.delete_cluster(other)
    deadline = time.monotonic() + 30
    while len([n for n in netns() if n.startswith(f"spotflow-{PORT_BASE}-")]) != 1:
        assert time.monotonic() < deadline, netns()
        time.sleep(0.5)


def test_an_image_that_cannot_be_had_offline_runs_the_labelled_stand_in(real):
    """cluster-autoscaler's image comes from registry.k8s.io: nothing is pulled from outside; the
    local cloud's stand-in runs under its name, says so, and does nothing."""
    v1 = _v1(real)
    v1.create_namespaced_pod("default", {"metadata": {"name": "autoscaler"}, "spec": {
        "tolerations": TOLERATE_ALL, "securityContext": {"runAsNonRoot": True, "runAsUser": 65534},
        "containers": [{"name": "cluster-autoscaler", "image": "registry.k8s.io/autoscaling/cluster-autoscaler:v1.35.1",
                        "command": ["./cluster-autoscaler", "--cloud-provider=aws", "--v=4"],
                        # as eks_cluster deploys it: the stand-in answers its health address, so probes pass
                        "readinessProbe": {"httpGet": {"path": "/health-check", "port": 8085}, "periodSeconds": 1}}]}})
    deadline = time.monotonic() + 60
    while not [c.ready for c in v1.read_namespaced_pod("autoscaler", "default").status.container_statuses or []] == [True]:
        assert time.monotonic() < deadline, v1.read_namespaced_pod("autoscaler", "default").status
        time.sleep(0.5)
    logs = _logs_contain(real, "autoscaler", "STAND-IN")
    assert '"cluster-autoscaler"' in logs and "--cloud-provider=aws" in logs


# PostgreSQL's wire protocol, as busybox's printf can write it: an SSLRequest, and a StartupMessage
# without TLS (protocol 3.0, user master, database app)
SSL_REQUEST = r"\000\000\000\010\004\322\026\057"
PLAIN_STARTUP = r"\000\000\000\042\000\003\000\000user\000master\000database\000app\000\000"


def test_a_db_instance_answers_pods_at_its_endpoint(real):
    """A DB instance in the cluster's VPC is reached from pods at the endpoint the RDS API returns: its
    name in the cluster DNS, its port; the server offers TLS and refuses a session without it (force_ssl).
    Once the instance is deleted, its name and address are gone from the cluster's network."""
    from localcloud.nodes.simulator import RDS_ADDRESSES

    from .test_localcloud import _wait_db_status

    rds, name = real.boto3("rds"), f"pods-{uuid.uuid4().hex[:4]}"
    rds.create_db_subnet_group(DBSubnetGroupName=name, DBSubnetGroupDescription="t", SubnetIds=real.vpc()["subnet_ids"])
    rds.create_db_parameter_group(DBParameterGroupName=name, DBParameterGroupFamily="postgres17", Description="t")
    rds.modify_db_parameter_group(DBParameterGroupName=name, Parameters=[
        {"ParameterName": "rds.force_ssl", "ParameterValue": "1", "ApplyMethod": "immediate"}])
    rds.create_db_instance(DBInstanceIdentifier=name, Engine="postgres", EngineVersion="17.7",
                           DBInstanceClass="db.t4g.micro", AllocatedStorage=20, MasterUsername="master",
                           MasterUserPassword="pods-Password-1", DBName="app", DBSubnetGroupName=name,
                           DBParameterGroupName=name)
    endpoint = _wait_db_status(rds, name)["Endpoint"]
    _run_pod(real, "db-client", "while true; do sleep 1; done")
    lookup = f"nslookup {endpoint['Address']} | awk '/^Address: / {{print $2}}'"
    deadline = time.monotonic() + 30
    while (address := _exec(real, "db-client", lookup).strip()) == "":
        assert time.monotonic() < deadline, _exec(real, "db-client", f"nslookup {endpoint['Address']}")
        time.sleep(1)
    assert address in [str(a) for a in RDS_ADDRESSES]
    port = endpoint["Port"]
    assert _exec(real, "db-client", f"printf '{SSL_REQUEST}' | nc -w 3 {address} {port} | head -c 1") == "S"
    refused = _exec(real, "db-client", f"printf '{PLAIN_STARTUP}' | nc -w 3 {address} {port} | tr '\\0' ' '")
    assert refused.startswith("E") and "no encryption" in refused, refused
    # a session that says nothing for a while (an idle pool connection, a watch) is not cut on the way
    took = _exec(real, "db-client", f"s=$(date +%s); (printf '{SSL_REQUEST}'; sleep 12) | nc -w 3 {address} {port} "
                 ">/dev/null; echo $(( $(date +%s) - s ))")
    assert int(took.strip()) >= 12, took

    rds.delete_db_instance(DBInstanceIdentifier=name, SkipFinalSnapshot=True)
    deadline = time.monotonic() + 30
    while _exec(real, "db-client", lookup).strip() or address in _lo_addresses():
        assert time.monotonic() < deadline, "the deleted instance still answers in the cluster's network"
        time.sleep(1)
    rds.delete_db_subnet_group(DBSubnetGroupName=name)
    rds.delete_db_parameter_group(DBParameterGroupName=name)


def _lo_addresses() -> str:
    ns = next(n for n in netns() if n.startswith(f"spotflow-{PORT_BASE}-"))
    return subprocess.run(["ip", "-n", ns, "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True).stdout
