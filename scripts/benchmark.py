#!/usr/bin/env python
"""Measure site.yml against a local cloud with AWS-like creation latencies, on real nodes.

Starts an isolated local cloud (its own ports and state, real kubelets and containers) in which EKS
clusters, node groups, RDS instances and EFS file systems stay CREATING for AWS's typical times scaled
down, and measures, one after the other:

1. the converge: site.yml on the empty account (it ends with verify.yml: the smoke DAG runs on Spot),
2. the no-op re-run: site.yml again (changed=0 expected),
3. `--tags airflow_app` alone on the converged stack,
4. the DAG change: a new DAG file in dags/, then the documented command (`make dags`, which is
   `site.yml --tags ecr_image,airflow_app`: new image, push, rollout), until the new DAG is parsed
   and visible through the Airflow API; the file is removed again afterwards,

then tears down and prints, each with the task count and the seconds per role:

- converge / chain. The chain is the longest path of injected waits (the cluster, then a node group;
  RDS and EFS need only the VPC) plus what must follow them, measured on the cluster afterwards: the
  on-demand nodes joining after their group is ACTIVE, the image pull, the migration Job's container
  and Airflow's core from start to Ready (the longest of its pods).
- no-op re-run / converge, `--tags airflow_app` / converge, DAG change / converge.

Figures come from this run; nothing here is asserted.

    .venv/bin/python scripts/benchmark.py [--scale 0.5] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

# Typical AWS creation times, seconds (EKS docs and observation, late 2026).
AWS_SECONDS = {"eks_cluster": 600, "eks_nodegroup": 180, "rds_instance": 480, "efs": 30}
CLUSTER = "spotflow-bench"
CORE = ("scheduler", "api-server", "dag-processor", "triggerer")
# the journey (tests/integration/test_e2e.py) makes the same DAG change
NEW_DAG = '''"""A new DAG to time a DAG change (scripts/benchmark.py adds it and removes it again)."""
import pendulum
from airflow.sdk import dag, task


@dag(dag_id="{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def bench():
    @task
    def hello():
        return "hello"

    hello()


bench()
'''


def run(argv, env, log: Path) -> dict:
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    log.write_text(out)
    m = re.search(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", proc.stdout)
    # the summaries of ansible.posix.profile_roles and profile_tasks: '<name> ----- 12.34s' lines
    roles_recap, _, tasks_recap = proc.stdout.split("ROLES RECAP", 1)[-1].partition("TASKS RECAP")
    line = re.compile(r"^(\S[^\n]*?) -{3,} (\d+(?:\.\d+)?)s$", re.M)
    # profile_tasks stamps every task with the time since the start: when did verify.yml begin?
    verify = re.search(r"^PLAY \[Verify Spotflow\][^\n]*\n(?:[^\n]*\n)*?[^\n]*\(\d+:\d\d:[\d.]+\)\s+(\d+):(\d\d):([\d.]+)",
                       proc.stdout, re.M)
    return {"seconds": time.monotonic() - t0, "rc": proc.returncode, "log": log,
            "recap": dict(zip(("ok", "changed", "unreachable", "failed", "skipped"), map(int, m.groups()))) if m else {},
            "tasks": len(re.findall(r"^TASK \[", proc.stdout, re.M)),
            "roles": {r[1].strip(): float(r[2]) for r in line.finditer(roles_recap) if r[1].strip() != "total"},
            "slowest tasks": [(r[1].strip(), float(r[2])) for r in line.finditer(tasks_recap)][:6],
            "before verify": int(verify[1]) * 3600 + int(verify[2]) * 60 + float(verify[3]) if verify else None}


def _t(value) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def tail_after_nodegroup(kubeconfig: str, nodegroup_active: float, namespace: str = "airflow") -> dict[str, float]:
    """What must follow the node group's ACTIVE, from the cluster's own timestamps (work, not waiting)."""
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=kubeconfig)
    core = client.CoreV1Api(api)

    def ready_at(conditions) -> float | None:
        return next((_t(c.last_transition_time) for c in conditions or [] if c.type == "Ready" and c.status == "True"), None)

    nodes = core.list_node(label_selector="eks.amazonaws.com/capacityType=ON_DEMAND").items
    first_ready = min((t for n in nodes if (t := ready_at(n.status.conditions))), default=nodegroup_active)
    # the migration pod is the first on a core node, so it pulls the image
    pulls = [float(m[1]) for e in core.list_namespaced_event(namespace).items if e.reason == "Pulled"
             and "migrate" in e.involved_object.name and (m := re.search(r" in (\d+(?:\.\d+)?)s", e.message or ""))]
    migration = 0.0
    for pod in core.list_namespaced_pod(namespace, label_selector="spotflow.io/job=migrate").items:
        for cs in pod.status.container_statuses or []:
            if cs.state.terminated:
                migration = max(migration, _t(cs.state.terminated.finished_at) - _t(cs.state.terminated.started_at))
    core_ready = 0.0
    for pod in core.list_namespaced_pod(namespace).items:
        component = (pod.metadata.labels or {}).get("app.kubernetes.io/component", "")
        running = [cs.state.running.started_at for cs in pod.status.container_statuses or [] if cs.state.running]
        if component in CORE and running and (ready := ready_at(pod.status.conditions)):
            core_ready = max(core_ready, ready - min(_t(s) for s in running))
    return {"nodes joining after ACTIVE": max(0.0, first_ready - nodegroup_active),
            "image pull": max(pulls, default=0.0), "migration Job": migration, "core start to Ready": core_ready}


def nodegroup_active_at(latency: float) -> float:
    """When the on-demand group became ACTIVE: its creation plus the injected wait (what the emulation does)."""
    import boto3

    eks = boto3.client("eks")
    names = eks.list_nodegroups(clusterName=CLUSTER)["nodegroups"]
    groups = [eks.describe_nodegroup(clusterName=CLUSTER, nodegroupName=n)["nodegroup"] for n in names]
    return min(g["createdAt"].timestamp() for g in groups if g["capacityType"] == "ON_DEMAND") + latency


def dag_change(playbook: list[str], env: dict, state: Path, kubeconfig: str, timeout: float = 900) -> dict:
    """A new DAG file, the documented command, until the API lists the DAG."""
    from kubernetes import config
    from airflow_admin_password import admin_secret
    from airflow_latency import AirflowApi

    dag_id = "spotflow_bench_" + dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d%H%M%S")
    path = REPO / "dags" / f"{dag_id}.py"
    airflow = AirflowApi(config.new_client_from_config(config_file=kubeconfig), "airflow", "airflow-api-server")
    t0 = time.monotonic()
    try:
        path.write_text(NEW_DAG.format(dag_id=dag_id))
        result = run(playbook + ["playbooks/site.yml", "--tags", "ecr_image,airflow_app"], env, state / "dag-change.log")
        if result["rc"]:
            raise SystemExit(f"site.yml --tags ecr_image,airflow_app failed (rc={result['rc']}); log: {result['log']}")
        secret = admin_secret(CLUSTER)
        airflow.login(secret["username"], secret["password"])
        while True:
            try:
                if airflow.call("GET", f"/api/v2/dags/{dag_id}").get("dag_id") == dag_id:
                    break
            except Exception:  # noqa: BLE001 - not found until the dag-processor has parsed it, or the API restarting
                pass
            if time.monotonic() - t0 > timeout:
                raise SystemExit(f"DAG {dag_id} not visible through the API after {timeout} s")
            time.sleep(1)
    finally:
        path.unlink(missing_ok=True)
    result["playbook seconds"], result["seconds"] = result["seconds"], time.monotonic() - t0
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.5, help="fraction of AWS's times to inject (default 0.5)")
    ap.add_argument("--port-base", type=int, default=27000)
    ap.add_argument("--keep", action="store_true", help="leave the stack and the cloud up")
    args = ap.parse_args()

    latency = {k: round(v * args.scale, 1) for k, v in AWS_SECONDS.items()}
    state = Path(tempfile.mkdtemp(prefix="spotflow-bench-"))
    os.environ.update(SPOTFLOW_LOCALCLOUD_PORT_BASE=str(args.port_base), SPOTFLOW_LOCALCLOUD_STATE=str(state),
                      SPOTFLOW_LOCALCLOUD_LATENCY=json.dumps(latency), SPOTFLOW_LOCALCLOUD_NODES="real")
    from localcloud.cloud import LocalCloud

    cloud = LocalCloud()
    cloud.up()
    os.environ.update(cloud.cfg.env())
    # the stand-in for apache/airflow (cached; what `make images` does)
    subprocess.run(["bash", "localcloud/images/build-airflow-base.sh"], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_roles,ansible.posix.profile_tasks")
    playbook = [str(REPO / ".venv/bin/ansible-playbook"), "-i", "inventories/local",
                "-e", f"spotflow_cluster_name={CLUSTER}"]
    kubeconfig = str(state / "clusters" / CLUSTER / "admin.kubeconfig")
    runs: dict[str, dict] = {}
    try:
        for name, extra in (("converge", []), ("no-op re-run", []), ("--tags airflow_app", ["--tags", "airflow_app"])):
            runs[name] = run(playbook + ["playbooks/site.yml"] + extra, env, state / f"{name.strip('-').replace(' ', '-')}.log")
            if runs[name]["rc"]:
                print(f"site.yml ({name}) failed (rc={runs[name]['rc']}); log: {runs[name]['log']}", file=sys.stderr)
                return runs[name]["rc"]
            if name == "converge":
                tail = tail_after_nodegroup(kubeconfig, nodegroup_active_at(latency["eks_nodegroup"]))
        runs["DAG change"] = dag_change(playbook, env, state, kubeconfig)
        if not args.keep:
            run(playbook + ["playbooks/teardown.yml", "-e", "teardown_confirm=yes",
                            "-e", "rds_postgres_skip_final_snapshot=true"], env, state / "teardown.log")
    finally:
        if not args.keep:
            cloud.down(quiet=True)

    groups = 2  # the On-Demand core group and one Spot group (site.yml's defaults)
    total = latency["eks_cluster"] + groups * latency["eks_nodegroup"] + latency["rds_instance"] + latency["efs"]
    # Dependencies: node groups need the cluster; RDS and EFS need only the VPC.
    waits = max(latency["eks_cluster"] + latency["eks_nodegroup"], latency["rds_instance"], latency["efs"])
    chain = waits + sum(tail.values())
    converge = runs["converge"]["seconds"]
    print(f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, real nodes, "
          f"injected latencies (s, {args.scale:g} x AWS): {latency}")
    print(f"sum of injected waits       {total:8.1f} s  (a sequential run is near this plus the tail)")
    print(f"longest chain of waits      {waits:8.1f} s  (cluster -> node group)")
    for part, seconds in tail.items():
        print(f"  + {part:<24} {seconds:8.1f} s")
    print(f"chain                       {chain:8.1f} s")
    print(f"converge                    {converge:8.1f} s  = {converge / chain:.2f} x the chain (goal <= 1.15)")
    if before := runs["converge"]["before verify"]:
        print(f"  of which the roles        {before:8.1f} s  = {before / chain:.2f} x the chain; then verify.yml's proof "
              f"(smoke DAG on Spot) and the summary {converge - before:.1f} s")
    noop = runs["no-op re-run"]
    print(f"no-op re-run                {noop['seconds']:8.1f} s  = {noop['seconds'] / converge:.2f} of the converge "
          f"(goal <= 0.12), changed={noop['recap'].get('changed')}")
    tags = runs["--tags airflow_app"]
    print(f"--tags airflow_app alone    {tags['seconds']:8.1f} s  = {tags['seconds'] / converge:.2f} of the converge, "
          f"changed={tags['recap'].get('changed')}")
    change = runs["DAG change"]
    print(f"DAG change live             {change['seconds']:8.1f} s  = {change['seconds'] / converge:.2f} of the converge "
          f"(goal <= 0.25; the playbook {change['playbook seconds']:.1f} s, then until the API lists the DAG)")
    names = list(runs)
    print("tasks / seconds per role    " + "".join(f"{n:>22}" for n in names))
    print("  tasks                     " + "".join(f"{runs[n]['tasks']:>22}" for n in names))
    roles = sorted({r for n in names for r in runs[n]["roles"]}, key=lambda r: -runs["converge"]["roles"].get(r, 0))
    for role in roles:
        print(f"  {role:<25} " + "".join(f"{runs[n]['roles'].get(role, 0.0):>22.1f}" for n in names))
    for name in ("converge", "no-op re-run"):
        print(f"slowest tasks, {name}: " + "; ".join(f"{t} {sec:.1f} s" for t, sec in runs[name]["slowest tasks"]))
    print(f"logs: {state}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
