"""Where the local cloud keeps its state, which ports it uses, which keys it accepts."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
K8S_VERSION = "1.20.2"
# what localcloud/scripts/build-kubernetes.sh builds and caches
K8S_BINARIES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


@dataclass
class Config:
    """All settings; everything listens on 127.0.0.1 only."""

    state_dir: Path = field(default_factory=lambda: Path(os.environ.get("SPOTFLOW_LOCALCLOUD_STATE", REPO_ROOT / ".localcloud")))
    cache_dir: Path = field(default_factory=lambda: Path(os.environ.get("SPOTFLOW_CACHE", Path.home() / ".cache" / "spotflow")))
    host: str = "127.0.0.1"
    port_base: int = field(default_factory=lambda: _env_int("SPOTFLOW_LOCALCLOUD_PORT_BASE", 15000))
    region: str = field(default_factory=lambda: os.environ.get("SPOTFLOW_LOCALCLOUD_REGION", "us-east-1"))
    # The one AWS identity of the local account. moto accepts any key; the EKS
    # token webhook verifies SigV4 signatures, so it must know the secret.
    access_key: str = "AKIASPOTFLOWLOCAL001"
    secret_key: str = "spotflow-local-cloud-secret-key-not-for-aws"
    # Injected latency (seconds) before resources leave CREATING/creating.
    latency: dict = field(default_factory=lambda: json.loads(os.environ.get("SPOTFLOW_LOCALCLOUD_LATENCY", "{}")))
    # Seconds between a Spot interruption notice and the instance going away
    # (AWS gives two minutes; the local cloud scales it down, but not below what
    # a loaded 2-core machine needs to deliver the SIGTERM and let the task handle
    # it: with 2 s a drill's interrupted task was killed with its node before its
    # SIGTERM handler had run, and the try counted).
    spot_notice_seconds: float = field(default_factory=lambda: float(os.environ.get("SPOTFLOW_SPOT_NOTICE_SECONDS", "20")))
    # EKS nodes: "simulated" (Node objects, pods marked Running) or "real"
    # (a kubelet and containerd per instance; localcloud/nodes/kubelet.py)
    nodes: str = field(default_factory=lambda: os.environ.get("SPOTFLOW_LOCALCLOUD_NODES", "simulated"))

    # ports -------------------------------------------------------------
    @property
    def moto_port(self) -> int:
        return self.port_base

    @property
    def webhook_port(self) -> int:
        return self.port_base + 1

    @property
    def registry_port(self) -> int:
        return self.port_base + 2

    @property
    def standin_port(self) -> int:  # images that cannot be had offline (localcloud/images/standin.py)
        return self.port_base + 3

    # paths -------------------------------------------------------------
    @property
    def k8s_bin_dir(self) -> Path:
        return self.cache_dir / f"k8s-v{K8S_VERSION}"

    @property
    def pid_dir(self) -> Path:
        return self.state_dir / "pids"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def moto_url(self) -> str:
        return f"http://{self.host}:{self.moto_port}"

    def env(self) -> dict[str, str]:
        """What a shell, an inventory or a test needs to use the local cloud."""
        return {
            "AWS_ENDPOINT_URL": self.moto_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "SPOTFLOW_LOCALCLOUD_STATE": str(self.state_dir),
            "SPOTFLOW_LOCALCLOUD_PORT_BASE": str(self.port_base),
            "SPOTFLOW_LOCALCLOUD_NODES": self.nodes,
            "SPOTFLOW_REGISTRY": f"{self.host}:{self.registry_port}",
            # the CA of every RDS DB instance's server certificate (sslrootcert): localcloud/aws/rds_postgres.py
            "SPOTFLOW_RDS_CA_BUNDLE": str(self.state_dir / "rds" / "ca.crt"),
        }

    def to_json(self) -> str:
        d = asdict(self)
        return json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in d.items()})

    @classmethod
    def from_json(cls, text: str) -> "Config":
        d = json.loads(text)
        d["state_dir"] = Path(d["state_dir"])
        d["cache_dir"] = Path(d["cache_dir"])
        return cls(**d)
