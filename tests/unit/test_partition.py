"""Managed policy ARNs follow the account's partition (aws, aws-cn, aws-us-gov), never a hard-coded arn:aws."""

from __future__ import annotations

import re

import yaml
from jinja2 import Environment

from tests.unit.test_module_docs import REPO


def test_eks_cluster_policies_are_in_the_partition_of_the_account():
    v = yaml.safe_load((REPO / "roles/eks_cluster/vars/main.yml").read_text())
    env = Environment()
    ctx = {"eks_cluster__partition": "aws-cn"}
    ctx["eks_cluster__managed_policy"] = env.from_string(v["eks_cluster__managed_policy"]).render(ctx)
    arns = [env.from_string(a).render(ctx) for a in v["eks_cluster__cluster_policies"] + v["eks_cluster__node_policies"]]
    assert arns and all(a.startswith("arn:aws-cn:iam::aws:policy/") for a in arns), arns


def test_no_role_or_playbook_hard_codes_the_aws_partition():
    hits = [f"{p.relative_to(REPO)}:{n}" for p in [*REPO.glob("roles/*/tasks/*.yml"), *REPO.glob("roles/*/vars/*.yml"),
                                                 *REPO.glob("roles/*/templates/*.j2"), *REPO.glob("playbooks/*.yml")]
            for n, line in enumerate(p.read_text().splitlines(), 1)
            if re.search(r"arn:aws:", line) and not line.lstrip().startswith("#") and "like arn:aws" not in line]
    assert hits == []
