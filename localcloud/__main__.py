"""``python -m localcloud up|down|status|env``"""

from __future__ import annotations

import argparse
import json
import sys

from .cloud import LocalCloud, LocalCloudError


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m localcloud", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("up", help="start everything (idempotent; builds the control plane once)")
    sub.add_parser("down", help="stop exactly the processes `up` started")
    sub.add_parser("status", help="show each process; exit 0 only when all are up and ready")
    e = sub.add_parser("env", help="print the variables a shell or an inventory needs")
    e.add_argument("--format", choices=["shell", "json"], default="shell")
    args = p.parse_args(argv)
    cloud = LocalCloud()
    try:
        if args.cmd == "up":
            cloud.up()
        elif args.cmd == "down":
            cloud.down()
        elif args.cmd == "status":
            st = cloud.status()
            for name, pid in st.items():
                print(f"{name:24} {('pid ' + str(pid)) if isinstance(pid, int) else (pid or 'stopped')}")
            healthy = cloud.healthy()
            print("ready" if healthy else "not ready")
            return 0 if healthy else 3
        elif args.cmd == "env":
            env = cloud.cfg.env()
            if args.format == "json":
                print(json.dumps(env, indent=2))
            else:
                print("".join(f"export {k}={v}\n" for k, v in env.items()), end="")
    except LocalCloudError as err:
        print(f"[localcloud] error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
