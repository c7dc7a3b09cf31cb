"""The local cloud's AWS process: moto's server with our fixes, the EKS token
webhook, each EKS cluster's control plane and the node simulator, sharing
moto's in-memory backends.

Run by ``python -m localcloud up`` as
``python -m localcloud.aws.server --config STATE/config.json``.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from ..config import Config


def _authority(cfg: Config):
    from moto.eks.models import eks_backends
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    from .eks_access import kubernetes_identity
    from .eks_auth import Authority

    def secret_for(akid: str):
        if akid == cfg.access_key:
            return cfg.secret_key
        for per_account in list(iam_backends.values()):
            for iam in list(per_account.values()):
                for user in list(iam.users.values()):
                    for key in user.access_keys:
                        if key.access_key_id == akid and key.status == "Active":
                            return key.secret_access_key
        return None

    def caller_identity(akid: str):
        from moto.core import DEFAULT_ACCOUNT_ID

        user_id, arn, account = sts_backends[DEFAULT_ACCOUNT_ID]["global"].get_caller_identity(akid, cfg.region)
        return user_id, arn, account

    def clusters():
        names = []
        for per_account in list(eks_backends.values()):
            for eks in list(per_account.values()):
                names += [c.name for c in list(eks.clusters.values())]
        return names

    def access(name: str, arn: str):
        for per_account in list(eks_backends.values()):
            for eks in list(per_account.values()):
                c = eks.clusters.get(name)
                if c is not None:
                    return kubernetes_identity(c, arn)
        return None

    hosts = {f"{cfg.host}:{cfg.moto_port}", f"localhost:{cfg.moto_port}"}
    return Authority(sts_hosts=hosts, secret_for=secret_for, caller_identity=caller_identity,
                     access=access, clusters=clusters)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    args = parser.parse_args(argv)
    with open(args.config) as f:
        cfg = Config.from_json(f.read())

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # AWS managed policies (AmazonEKSClusterPolicy ...) must exist to be attached.
    os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "false")

    from moto.server import ThreadedMotoServer  # noqa: F401  (import moto before patching)

    from ..kube.controlplane import ControlPlanes
    from ..nodes.simulator import NodeSimulator
    from . import apply_all
    from .common import HOOKS
    from .eks_auth import serve

    control_planes = ControlPlanes(cfg)
    apply_all(cfg, control_planes)
    from .rds_postgres import patch_rds_postgres

    rds_servers = patch_rds_postgres(cfg)  # each postgres DB instance is a real PostgreSQL server
    sim = NodeSimulator(control_planes, real=cfg.nodes == "real")
    HOOKS.interrupt_instances = sim.interrupt

    def admin_interrupt(body: dict) -> dict:
        """POST /localcloud/interrupt {"instance_ids": [...], "region": ..., "notice_seconds": n}"""
        from moto.core import DEFAULT_ACCOUNT_ID

        done = threading.Event()
        result = {}

        def finished(status):
            result["status"] = status
            done.set()

        sim.interrupt(DEFAULT_ACCOUNT_ID, body.get("region", cfg.region), body["instance_ids"],
                      float(body.get("notice_seconds", cfg.spot_notice_seconds)), finished)
        done.wait(float(body.get("timeout", 120)))
        return result or {"status": "timeout"}

    webhook = serve(cfg.host, cfg.webhook_port, _authority(cfg), {"/localcloud/interrupt": admin_interrupt})
    from ..images import standin

    standin_registry = standin.serve(cfg.host, cfg.standin_port, f"{cfg.host}:{cfg.registry_port}")
    sim.start()

    from werkzeug.serving import make_server

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    app = DomainDispatcherApplication(create_backend_app)
    server = make_server(cfg.host, cfg.moto_port, app, threaded=True)

    def stop(*_):
        sim.stop()
        webhook.shutdown()
        standin_registry.shutdown()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.getLogger("localcloud").info("AWS on %s, token webhook on %s:%s", cfg.moto_url, cfg.host, cfg.webhook_port)
    server.serve_forever()
    sim.stop_real_nodes()  # kubelets and containerds, every container of theirs
    control_planes.stop_all()  # each cluster's processes and network, by pid
    rds_servers.stop_all()  # the DB instances' PostgreSQL servers, by pid, and their data
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
