"""ansible-test sanity passes for the spotflow.eks collection (all its tests, Python 3.12), offline."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_ansible_test_sanity_passes():
    proc = subprocess.run(["bash", str(REPO / "scripts/sanity.sh")], cwd=REPO, capture_output=True, text=True,
                          timeout=1800)
    out = proc.stdout + proc.stderr
    problems = [line for line in out.splitlines() if line.startswith(("ERROR", "FATAL"))]
    assert proc.returncode == 0, "\n".join(problems) or out[-4000:]
    assert "Running sanity test \"validate-modules\"" in out and "Running sanity test \"pylint\"" in out
