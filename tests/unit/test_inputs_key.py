"""spotflow.eks.inputs_key: a role's inputs -> one key (validate.yml runs again only for another key)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"

# (task vars, expected: same key as the base case?)
CASES = {
    "base": ({}, True),
    "an excluded switch": ({"demo_wait": False}, True),
    "another role's variable": ({"other_role_size": 9}, True),
    "a role-internal variable": ({"demo__plan": "x"}, True),
    "another secret value": ({"spotflow_aws_secret_key": "other"}, True),
    "an input": ({"demo_size": 3}, False),
    "an input's template": ({"other_value": "changed"}, False),
    "a shared input": ({"spotflow_region": "eu-west-1"}, False),
    "no secret key": ({"spotflow_aws_secret_key": ""}, False),
}


def run_keys(play):
    base = {
        "demo_size": 2,
        "demo_name": "{{ other_value }}",
        "demo_wait": True,
        "other_value": "v",
        "spotflow_region": "us-east-1",
        "spotflow_aws_secret_key": "s3cret",
    }
    tasks = [
        {
            "name": name,
            "ansible.builtin.debug": {"msg": "{{ lookup('spotflow.eks.inputs_key', 'demo', exclude=['demo_wait']) }}"},
            "vars": dict(base, **extra),
        }
        for name, (extra, _) in CASES.items()
    ]
    proc, tasks = play(tasks)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {t["task"]["name"]: t["hosts"]["localhost"]["msg"] for t in tasks}


def test_the_key_follows_the_role_inputs_only(play):
    keys = run_keys(play)
    assert all(re.fullmatch(r"[0-9a-f]{40}", key) for key in keys.values()), keys
    for name, (_, same) in CASES.items():
        assert (keys[name] == keys["base"]) is same, name
    assert "s3cret" not in json.dumps(keys)


def test_no_validate_yml_reads_a_pass_switch():
    """The switches are left out of the key: a check that read one would not run again when it changed."""
    for role in sorted(p.name for p in ROLES.iterdir() if (p / "vars/main.yml").is_file()):
        role_vars = yaml.safe_load((ROLES / role / "vars/main.yml").read_text())
        validate = (ROLES / role / "tasks/validate.yml").read_text()
        assert f"lookup('spotflow.eks.inputs_key', '{role}'" in role_vars[f"{role}__validate_key"], role
        for switch in role_vars.get(f"{role}__pass_switches", []):
            assert re.search(rf"\b{switch}\b", validate) is None, f"{role}/tasks/validate.yml reads {switch}"
