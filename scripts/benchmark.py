#!/usr/bin/env python
"""Measure site.yml against a local cloud with AWS-like creation latencies.

Starts an isolated local cloud (its own ports and state) in which EKS
clusters, node groups, RDS instances and EFS file systems stay CREATING for
AWS's typical times scaled down, runs site.yml twice (converge, then no-op),
tears down, and prints:

- wall time of the converge / the longest dependency chain of injected waits
  (1.0 is ideal; a strictly sequential run would approach sum / chain),
- the no-op re-run time as a fraction of the converge,
- the number of tasks,
- where the time goes: seconds per role (and outside roles) for both runs,
  from the ansible.posix.profile_roles callback.

Figures come from this run; nothing here is asserted.

    .venv/bin/python scripts/benchmark.py [--scale 0.1] [--keep]
"""

from __future__ import annotations

import argparse
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

# Typical AWS creation times, seconds (EKS docs and observation, late 2026).
AWS_SECONDS = {"eks_cluster": 600, "eks_nodegroup": 180, "rds_instance": 480, "efs": 30}


def run(argv, env, log: Path) -> tuple[float, str, int]:
    t0 = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.monotonic() - t0
    log.write_text(proc.stdout + proc.stderr)
    return elapsed, proc.stdout, proc.returncode


def per_role(out: str) -> dict[str, float]:
    """profile_roles' summary: '<role> ----- 12.34s' lines after the recap."""
    tail = out.split("PLAY RECAP", 1)[-1]
    return {m[1].strip(): float(m[2]) for m in re.finditer(r"^(\S[^\n]*?) -{3,} (\d+(?:\.\d+)?)s$", tail, re.M)}


def recap(out: str) -> dict[str, int]:
    m = re.search(r"ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)\s+skipped=(\d+)", out)
    return dict(zip(("ok", "changed", "unreachable", "failed", "skipped"), map(int, m.groups()))) if m else {}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.1, help="fraction of AWS's times to inject (default 0.1)")
    ap.add_argument("--port-base", type=int, default=27000)
    ap.add_argument("--keep", action="store_true", help="leave the stack and the cloud up")
    args = ap.parse_args()

    latency = {k: round(v * args.scale, 1) for k, v in AWS_SECONDS.items()}
    state = Path(tempfile.mkdtemp(prefix="spotflow-bench-"))
    os.environ.update(SPOTFLOW_LOCALCLOUD_PORT_BASE=str(args.port_base), SPOTFLOW_LOCALCLOUD_STATE=str(state),
                      SPOTFLOW_LOCALCLOUD_LATENCY=json.dumps(latency))
    from localcloud.cloud import LocalCloud

    cloud = LocalCloud()
    cloud.up()
    env = dict(os.environ, **cloud.cfg.env(), ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_roles")
    playbook = [str(REPO / ".venv/bin/ansible-playbook"), "-i", "inventories/local",
                "-e", "spotflow_cluster_name=spotflow-bench"]
    try:
        t_first, out_first, rc = run(playbook + ["playbooks/site.yml"], env, state / "site-1.log")
        if rc:
            print(f"site.yml failed (rc={rc}); log: {state / 'site-1.log'}", file=sys.stderr)
            return rc
        t_second, out_second, rc = run(playbook + ["playbooks/site.yml"], env, state / "site-2.log")
        tasks = len(re.findall(r"^TASK \[", out_first, re.M))
        rerun = recap(out_second)
        if not args.keep:
            run(playbook + ["playbooks/teardown.yml", "-e", "teardown_confirm=yes",
                            "-e", "rds_postgres_skip_final_snapshot=true"], env, state / "teardown.log")
    finally:
        if not args.keep:
            cloud.down(quiet=True)

    groups = 2  # the On-Demand core group and one Spot group (site.yml's defaults)
    total = latency["eks_cluster"] + groups * latency["eks_nodegroup"] + latency["rds_instance"] + latency["efs"]
    # Dependencies: node groups need the cluster; RDS and EFS need only the VPC.
    chain = max(latency["eks_cluster"] + latency["eks_nodegroup"], latency["rds_instance"], latency["efs"])
    print(f"injected latencies (s, {args.scale:g} x AWS): {latency}")
    print(f"sum of injected waits       {total:8.1f} s  (a sequential run is near this)")
    print(f"longest dependency chain    {chain:8.1f} s  (cluster -> node group)")
    print(f"site.yml converge           {t_first:8.1f} s")
    print(f"converge / longest chain    {t_first / chain:8.2f}    (goal: close to 1.0; sum / chain = {total / chain:.2f})")
    print(f"no-op re-run                {t_second:8.1f} s  = {t_second / t_first:.2f} of the converge, changed={rerun.get('changed')}")
    print(f"tasks in the converge       {tasks:8d}")
    first_roles, second_roles = per_role(out_first), per_role(out_second)
    print("seconds per role            converge    no-op")
    for role in sorted(first_roles, key=first_roles.get, reverse=True):
        print(f"  {role:<25} {first_roles[role]:8.1f} {second_roles.get(role, 0.0):8.1f}")
    print(f"logs: {state}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
