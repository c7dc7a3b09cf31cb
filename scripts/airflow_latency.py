#!/usr/bin/env python
"""Measure how fast a deployed Spotflow runs a task: trigger to worker pod, and a short task end to end.

Against a running deployment (the local cloud after `make site`, or AWS with your credentials), it
triggers the smoke DAG (``spotflow_smoke``, two tasks side by side) with ``{"seconds": N}`` through the
Airflow API, the way verify.yml does (the Kubernetes API server's service proxy, the admin user from
Secrets Manager), watches the run's worker pods, and prints per run:

- trigger to the first worker pod Running (the pod watch sees phase Running),
- trigger to the first task running (its task instance's start_date),
- the run's wall time end to end: trigger to the DAG run's end_date, for tasks of N seconds,
- the tasks' own durations.

Figures come from this run; nothing here is asserted. Each run leaves a DAG run in Airflow's history.

    make latency                                     # the local cloud, 3 runs of 1-second tasks
    .venv/bin/python scripts/airflow_latency.py [--runs 3] [--seconds 1] [--cluster spotflow] [--json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

from kubernetes import client, config, watch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from airflow_admin_password import admin_secret  # noqa: E402


class AirflowApi:
    """The Airflow REST API through the Kubernetes API server's service proxy (Airflow's token as its cookie)."""

    def __init__(self, api: client.ApiClient, namespace: str, service: str):
        self.api, self.base = api, f"/api/v1/namespaces/{namespace}/services/{service}:http/proxy"
        self.token = ""

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = self.api.call_api(self.base + path, method, header_params={
            "Accept": "application/json", "Content-Type": "application/json", "Cookie": f"_token={self.token}"},
            body=body, auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=True)
        return json.loads(data.data or b"{}")

    def login(self, username: str, password: str) -> None:
        self.token = self.call("POST", "/auth/token", {"username": username, "password": password})["access_token"]


def _time(value: str | None) -> float | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


def one_run(airflow: AirflowApi, core: client.CoreV1Api, namespace: str, dag_id: str, seconds: float,
            timeout: float) -> dict:
    run_id = "spotflow-latency-" + dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%f")
    first_running: list[float] = []
    stop = threading.Event()

    def watch_pods() -> None:
        w = watch.Watch()
        for event in w.stream(core.list_namespaced_pod, namespace, label_selector=f"dag_id={dag_id},run_id={run_id}",
                              timeout_seconds=int(timeout)):
            if event["object"].status.phase == "Running" and not first_running:
                first_running.append(time.time())
            if stop.is_set() or first_running:
                w.stop()

    watcher = threading.Thread(target=watch_pods, daemon=True)
    watcher.start()
    time.sleep(0.5)  # the watch is established before the trigger
    t0 = time.time()
    airflow.call("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                 {"dag_run_id": run_id, "logical_date": None, "conf": {"seconds": seconds},
                  "note": "scripts/airflow_latency.py"})
    deadline = t0 + timeout
    while (run := airflow.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}"))["state"] not in ("success", "failed"):
        if time.time() > deadline:
            raise SystemExit(f"run {run_id} not finished after {timeout} s (state {run['state']})")
        time.sleep(0.5)
    stop.set()
    tis = airflow.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
    starts = [s for s in (_time(t["start_date"]) for t in tis) if s]
    return {
        "run_id": run_id, "state": run["state"],
        "trigger_to_first_pod_running_s": round(first_running[0] - t0, 1) if first_running else None,
        "trigger_to_first_task_running_s": round(min(starts) - t0, 1) if starts else None,
        "trigger_to_run_end_s": round(_time(run["end_date"]) - t0, 1) if run.get("end_date") else None,
        "task_durations_s": [round(t["duration"] or 0, 1) for t in tis],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cluster", default=os.environ.get("SPOTFLOW_CLUSTER_NAME", "spotflow"))
    ap.add_argument("--kubeconfig", help="default: $KUBECONFIG, else ~/.spotflow/<cluster>/kubeconfig (eks_cluster's)")
    ap.add_argument("--namespace", default="airflow")
    ap.add_argument("--dag-id", default="spotflow_smoke")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=1.0, help="how long each task runs (default 1)")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    kubeconfig = args.kubeconfig or os.environ.get("KUBECONFIG") or os.path.expanduser(f"~/.spotflow/{args.cluster}/kubeconfig")
    api = config.new_client_from_config(config_file=kubeconfig)
    airflow = AirflowApi(api, args.namespace, "airflow-api-server")
    secret = admin_secret(args.cluster)
    airflow.login(secret["username"], secret["password"])
    core = client.CoreV1Api(api)
    runs = [one_run(airflow, core, args.namespace, args.dag_id, args.seconds, args.timeout) for _ in range(args.runs)]
    keys = ("trigger_to_first_pod_running_s", "trigger_to_first_task_running_s", "trigger_to_run_end_s")
    median = {k: statistics.median(v) for k in keys if (v := [r[k] for r in runs if r[k] is not None])}
    report = {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "cluster": args.cluster,
              "dag_id": args.dag_id, "task_seconds": args.seconds, "cpus": os.cpu_count(), "runs": runs, "median": median}
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{report['date']}  cluster {args.cluster}, {args.dag_id} with {args.seconds:g}-second tasks, "
          f"{args.runs} runs, {os.cpu_count()} CPUs")
    print(f"{'run':<42} {'state':<8} {'pod Running':>12} {'task running':>13} {'run end':>8}  task durations")
    for r in runs:
        print(f"{r['run_id']:<42} {r['state']:<8} {r[keys[0]]!s:>11}s {r[keys[1]]!s:>12}s {r[keys[2]]!s:>7}s  "
              f"{', '.join(f'{d:g}s' for d in r['task_durations_s'])}")
    print(f"{'median (seconds after the trigger)':<51} {median.get(keys[0])!s:>11}s {median.get(keys[1])!s:>12}s "
          f"{median.get(keys[2])!s:>7}s")
    return 0 if all(r["state"] == "success" for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
