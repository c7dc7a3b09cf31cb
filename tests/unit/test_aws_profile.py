"""spotflow_aws_profile reaches every AWS call: each module_defaults for the AWS modules, each
amazon.aws lookup's arguments and each role's argument spec (issue 15 finding 8: it reached only
eks_cluster, so a user with a named profile had the other roles fall back to the default chain)."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.unit.test_module_docs import REPO

PLAYS = sorted([*REPO.glob("roles/*/tasks/*.yml"), *REPO.glob("roles/*/molecule/*/*.yml"), *REPO.glob("roles/*/vars/*.yml"),
                *REPO.glob("playbooks/*.yml")])


def _aws_defaults(node):
    """Every ``group/spotflow.eks.aws`` module_defaults mapping in a loaded YAML document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "group/spotflow.eks.aws" and isinstance(value, dict):
                yield value
            else:
                yield from _aws_defaults(value)
    elif isinstance(node, list):
        for item in node:
            yield from _aws_defaults(item)


@pytest.mark.parametrize("path", PLAYS, ids=lambda p: str(p.relative_to(REPO)))
def test_every_aws_call_gets_the_profile(path):
    text = path.read_text()
    for defaults in _aws_defaults(yaml.safe_load(text)):
        assert "secret_key" not in defaults or defaults.get("profile") == "{{ spotflow_aws_profile | default(omit, true) }}", defaults
    # lookups do not see module_defaults: their argument dicts name the profile too
    assert len(re.findall(r"'secret_key': spotflow_aws_secret_key", text)) == len(re.findall(r"'profile': spotflow_aws_profile", text))


def test_every_role_documents_the_profile():
    for spec in REPO.glob("roles/*/meta/argument_specs.yml"):
        for name, entry in yaml.safe_load(spec.read_text())["argument_specs"].items():
            if "spotflow_aws_secret_key" in entry.get("options", {}):
                assert "spotflow_aws_profile" in entry["options"], f"{spec.parent.parent.name} {name}"
