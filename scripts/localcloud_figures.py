#!/usr/bin/env python
"""Measure the local cloud with real nodes and print the figures.

Starts a local cloud of its own (ports from --port-base, state in DIR/state,
removed first if a previous run left it), and measures:

- cold `up` (a state dir that does not exist yet; the caches in
  ~/.cache/spotflow - the Kubernetes build, the node images, the Airflow
  stand-in - are kept) and warm `up` (after `down`, same state dir), each as
  `python -m localcloud up` in a subprocess;
- CreateCluster -> ACTIVE, and CreateNodegroup (1 node, ON_DEMAND) -> the Node
  Ready in the cluster's Kubernetes API;
- memory: RSS (and PSS, which shares shared pages out instead of counting
  them in every process) of one node's processes with no pod and with one
  small pod, and of the whole cloud. A node's processes are its recorded pids
  (pids/*.json of the node: kubelet, containerd, efs-csi-node), every process
  in its containerd's mount namespace (the shims, which containerd starts
  there and which then leave its process tree) and all their descendants (the
  pods' processes); the cloud's are every pid recorded in its state dir, the
  nodes' processes and their descendants. Never by process name;
- image pull: the Airflow stand-in (apache/airflow:3.3.2 from the docker
  daemon) copied into the cloud's registry, then a pod of it on the node,
  which has never pulled it: pod creation -> container running.

Figures come from this run; nothing is asserted. The machine's load is printed
with them: other work on the 2 cores makes every figure larger.

    .venv/bin/python scripts/localcloud_figures.py [--json FILE] [--dir /tmp/lc-figures] [--port-base 31000]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from localcloud import procs  # noqa: E402
from localcloud.testing import isolated, isolated_env  # noqa: E402

CLUSTER, GROUP = "figures", "figures-od"
AIRFLOW = "apache/airflow:3.3.2"
SETTLE = 10  # seconds a node (or a pod) runs before its memory is read


# --- processes and memory (by pid, never by name) --------------------------------
def proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, mount namespace) of every process now."""
    table = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                table[int(d.name)] = (ppid, os.readlink(d / "ns" / "mnt"))
            except OSError:
                pass  # gone meanwhile
    return table


def closure(table: dict[int, tuple[int, str]], roots, namespaces=frozenset()) -> set[int]:
    """``roots``, every process in one of the mount ``namespaces``, and all their descendants."""
    found = {p for p in roots if p in table} | {p for p, (_, ns) in table.items() if ns in namespaces}
    children = defaultdict(list)
    for pid, (ppid, _) in table.items():
        children[ppid].append(pid)
    todo = list(found)
    while todo:
        for child in children[todo.pop()]:
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def recorded(where: Path) -> list[int]:
    """The live pids recorded in pids/*.json under ``where`` (start time checked: no recycled pid)."""
    return [pid for f in where.rglob("pids/*.json") if (pid := procs.running_pid(f.parent, f.stem))]


def processes(where: Path) -> set[int]:
    """What runs for ``where`` (a node's directory, or the whole state dir): see the module's docstring."""
    table = proc_table()
    containerds = [procs.running_pid(f.parent, "containerd") for f in where.rglob("pids/containerd.json")]
    own = os.readlink("/proc/self/ns/mnt")  # a node's namespace is never the host's: guard anyway
    namespaces = {table[p][1] for p in containerds if p in table} - {own}
    return closure(table, recorded(where), namespaces)


def memory_mib(pids) -> tuple[float, float]:
    """Summed RSS and PSS of ``pids``, MiB."""
    rss = pss = 0
    for pid in pids:
        try:
            rss += _kib(Path(f"/proc/{pid}/status").read_text(), "VmRSS:")
            pss += _kib(Path(f"/proc/{pid}/smaps_rollup").read_text(), "Pss:")
        except OSError:
            pass
    return rss / 1024, pss / 1024


def _kib(text: str, key: str) -> int:
    return next((int(line.split()[1]) for line in text.splitlines() if line.startswith(key)), 0)


# --- the cloud ----------------------------------------------------------------------
def run(argv: list[str], log: Path, env: dict | None = None) -> float:
    """Run ``argv``, its output appended to ``log``; seconds it took."""
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - t0
    with open(log, "a") as f:
        f.write(f"$ {' '.join(argv)}  ({elapsed:.1f}s, rc={proc.returncode})\n{proc.stdout}{proc.stderr}")
    if proc.returncode:
        raise RuntimeError(f"{' '.join(argv[:4])} failed (rc={proc.returncode}); log: {log}")
    return elapsed


def localcloud(cmd: str, env: dict, log: Path) -> float:
    """``python -m localcloud CMD`` for this cloud; seconds it took."""
    return run([sys.executable, "-m", "localcloud", cmd], log, env)


def run_pod(v1, name: str, image: str, node: str, timeout: float = 600) -> float:
    """A pod of ``image`` on ``node`` (through the scheduler); seconds from its creation to its container running."""
    t0 = time.monotonic()
    v1.create_namespaced_pod("default", {"metadata": {"name": name}, "spec": {
        "nodeSelector": {"kubernetes.io/hostname": node}, "tolerations": [{"operator": "Exists"}],
        "terminationGracePeriodSeconds": 1,
        "containers": [{"name": "main", "image": image, "command": ["sleep", "3600"]}]}})
    while True:
        statuses = v1.read_namespaced_pod(name, "default").status.container_statuses or []
        if statuses and statuses[0].state.running:
            return time.monotonic() - t0
        waiting = statuses[0].state.waiting if statuses else None
        if waiting and waiting.reason in ("ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff", "InvalidImageName"):
            raise RuntimeError(f"pod {name}: {waiting.reason}: {waiting.message}")
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"pod {name} not running after {timeout}s")
        time.sleep(0.2)


def pulled_mib(registry: str, repo: str, tag: str) -> float:
    """What a pull transfers: the manifest's config and (compressed) layers, MiB."""
    req = urllib.request.Request(f"http://{registry}/v2/{repo}/manifests/{tag}", headers={"Accept": ", ".join([
        "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json"])})
    with urllib.request.urlopen(req, timeout=10) as r:
        manifest = json.load(r)
    return (manifest["config"]["size"] + sum(layer["size"] for layer in manifest["layers"])) / 2**20


def measure(args, state: Path, log: Path, add) -> None:
    env = dict(os.environ, **isolated_env(state, args.port_base))
    add("cold up (state dir did not exist; ~/.cache/spotflow kept)", localcloud("up", env, log), "s")
    localcloud("down", env, log)
    add("warm up (after down, same state dir)", localcloud("up", env, log), "s")
    dockerd = "ours" if (state / "pids" / "dockerd.json").exists() else "already running, not ours"
    add(f"whole cloud RSS, no cluster (dockerd: {dockerd})", memory_mib(processes(state))[0], "MiB")

    with isolated(state, args.port_base) as h:  # already up: the handle, and down + its leak checks at the end
        from kubernetes import client

        # the Airflow stand-in into this cloud's registry, before anything else is timed (skopeo takes CPU)
        registry = h.env["SPOTFLOW_REGISTRY"]
        run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"docker-daemon:{AIRFLOW}",
             f"docker://{registry}/figures/airflow:3.3.2"], log)

        t0 = time.monotonic()
        h.ensure_cluster(CLUSTER, timeout=300)
        add("CreateCluster -> ACTIVE", time.monotonic() - t0, "s")
        t0 = time.monotonic()
        [node] = h.make_nodegroup(CLUSTER, GROUP, "ON_DEMAND", size=1, instance_types=["m5.large"], timeout=300)
        add("CreateNodegroup (1 node, ON_DEMAND) -> Node Ready", time.monotonic() - t0, "s")

        v1 = client.CoreV1Api(h.k8s(CLUSTER))
        node_dir = state / "clusters" / CLUSTER / "nodes" / node
        time.sleep(SETTLE)
        pods = v1.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
        rss, pss = memory_mib(pids := processes(node_dir))
        add(f"one node, {len(pods)} pods: RSS ({len(pids)} processes)", rss, "MiB")
        add(f"one node, {len(pods)} pods: PSS", pss, "MiB")

        toolbox = f"{registry}/localcloud/toolbox:1"
        add("small pod (toolbox, 2 MB) created -> running", run_pod(v1, "small", toolbox, node), "s")
        time.sleep(SETTLE)
        rss, pss = memory_mib(pids := processes(node_dir))
        add(f"one node + 1 small pod: RSS ({len(pids)} processes)", rss, "MiB")
        add("one node + 1 small pod: PSS", pss, "MiB")
        rss, pss = memory_mib(pids := processes(state))
        add(f"whole cloud, 1 cluster, 1 node, 1 pod: RSS ({len(pids)} processes)", rss, "MiB")
        add("whole cloud, 1 cluster, 1 node, 1 pod: PSS", pss, "MiB")

        image = f"{registry}/figures/airflow:3.3.2"
        add("Airflow stand-in pod created -> running (node lacks the image)", run_pod(v1, "airflow", image, node), "s")
        add("  its image as pulled (config + compressed layers)", pulled_mib(registry, "figures/airflow", "3.3.2"), "MiB")
        size = subprocess.run(["docker", "image", "inspect", "--format", "{{.Size}}", AIRFLOW], capture_output=True,
                              text=True, check=True).stdout
        add("  its image unpacked (docker's size)", int(size) / 2**20, "MiB")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/lc-figures"), help="state (DIR/state) and log (DIR/figures.log)")
    ap.add_argument("--port-base", type=int, default=31000)
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON to FILE")
    args = ap.parse_args()

    if subprocess.run(["docker", "image", "inspect", AIRFLOW], capture_output=True).returncode:
        print(f"{AIRFLOW} (the stand-in) is not in a running docker daemon: make up images", file=sys.stderr)
        return 2
    state, log = args.dir / "state", args.dir / "figures.log"
    env = dict(os.environ, **isolated_env(state, args.port_base))
    if state.exists():  # a previous run's: stop whatever of it runs, then the state goes (cold means cold)
        subprocess.run([sys.executable, "-m", "localcloud", "down"], cwd=REPO, env=env, capture_output=True)
        shutil.rmtree(state)
    args.dir.mkdir(parents=True, exist_ok=True)
    log.write_text("")

    meminfo = Path("/proc/meminfo").read_text()
    report = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "nproc": os.cpu_count(),
              "mem_total_mib": round(_kib(meminfo, "MemTotal:") / 1024),
              "loadavg_start": os.getloadavg()[0], "figures": []}

    def add(figure: str, value: float, unit: str) -> None:
        report["figures"].append({"figure": figure, "value": round(value, 1), "unit": unit})
        print(f"[figures] {figure}: {value:.1f} {unit}", file=sys.stderr, flush=True)

    errors = []
    try:
        measure(args, state, log, add)
    except Exception as e:  # the figures so far are still printed
        errors.append(f"{type(e).__name__}: {e}")
    try:
        localcloud("down", env, log)  # always; a no-op once isolated() has stopped it
    except Exception as e:
        errors.append(f"{type(e).__name__}: {e}")
    report["loadavg_end"] = os.getloadavg()[0]
    error = "; ".join(errors)
    if error:
        report["error"] = error

    print(f"date {report['date']}   nproc {report['nproc']}   memory {report['mem_total_mib']} MiB   "
          f"load (1 min) {report['loadavg_start']:.2f} at start, {report['loadavg_end']:.2f} at end")
    width = max(len(f["figure"]) for f in report["figures"]) if report["figures"] else 10
    print(f"{'figure':<{width}}  {'value':>8}  unit")
    for f in report["figures"]:
        print(f"{f['figure']:<{width}}  {f['value']:>8.1f}  {f['unit']}")
    if error:
        print(f"ERROR (figures above are those measured before it): {error}")
    print(f"log: {log}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 1 if error else 0


if __name__ == "__main__":
    raise SystemExit(main())
