"""Each role's molecule scenario against the local cloud.

Molecule runs converge, idempotence (changed=0), verify, cleanup; this wrapper
also proves that the scenario did something: its converge must report changed
tasks, and no step may fail.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(p.parents[2].name for p in (REPO / "roles").glob("*/molecule/default/molecule.yml"))


@pytest.mark.parametrize("role", ROLES)
def test_molecule_default_scenario(localcloud, role):
    # molecule's default working directory is ~/.ansible/tmp/molecule.<hash of the role's directory NAME>:
    # the same for every checkout, so two runs of one scenario (two clones, a developer and CI) would
    # share and wipe each other's state. Each local cloud gets its own.
    ephemeral = localcloud.cfg.state_dir / "molecule" / role
    env = dict(os.environ, **localcloud.env, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", PY_COLORS="0",
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), MOLECULE_NO_LOG="false",
               MOLECULE_EPHEMERAL_DIRECTORY=str(ephemeral))
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    # an interrupted earlier run leaves molecule's state "prepared", and prepare would be skipped
    subprocess.run([str(Path(sys.executable).parent / "molecule"), "reset", "-s", "default"],
                   cwd=REPO / "roles" / role, env=env, capture_output=True, text=True, timeout=300)
    proc = subprocess.run([str(Path(sys.executable).parent / "molecule"), "test", "-s", "default"],
                          cwd=REPO / "roles" / role, env=env, capture_output=True, text=True, timeout=1800)
    out = proc.stdout + proc.stderr
    log = localcloud.cfg.state_dir / "logs" / f"molecule-{role}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(out)
    assert proc.returncode == 0, f"molecule test failed for {role} (full log: {log}):\n{out[-6000:]}"
    recaps = re.findall(r"changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", out)
    assert recaps, f"{role}: no PLAY RECAP at all: the scenario ran nothing"
    assert all(int(failed) == 0 for _, failed in recaps)
    assert any(int(changed) > 0 for changed, _ in recaps), f"{role}: no task changed anything: converge did not run"
