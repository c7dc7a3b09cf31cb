"""The DAG, cluster-policy and image tests, under the pinned Airflow in its own venv.

Airflow 3.3.2's pins clash with our tooling venv, so tests/airflow/run.sh keeps a
separate, cached venv and runs pytest there; this test runs it and surfaces its
summary.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_airflow_dags_policy_and_image():
    proc = subprocess.run(["bash", str(REPO / "tests/airflow/run.sh"), "-q"], cwd=REPO, capture_output=True, text=True,
                          env=dict(os.environ, DOCKER_BUILDKIT="0"), timeout=3600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    summary = [line for line in out.splitlines() if " passed" in line]
    assert summary and " failed" not in summary[-1], out[-3000:]
