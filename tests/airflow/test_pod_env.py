"""Every container of airflow_app's pods that goes through the image's entrypoint (no `command:`)
skips the entrypoint's `airflow db check` (CONNECTION_CHECK_MAX_COUNT=0): an Airflow import, and
retries every 3 s, before the core's, the Jobs' and every worker's own command."""

from __future__ import annotations

import pytest
import yaml

from conftest import HASHES


def _pod_specs(doc: dict) -> list[dict]:
    if doc.get("kind") == "Pod":
        return [doc["spec"]]
    return [doc["spec"]["template"]["spec"]]


@pytest.mark.parametrize("template", ["deployments.yml.j2", "jobs.yml.j2", "pod_template.yaml.j2"])
def test_entrypoint_containers_skip_the_db_check(render_role_template, template):
    docs = [d for d in yaml.safe_load_all(render_role_template(template, **HASHES).read_text()) if d]
    through_entrypoint = [
        c for doc in docs for spec in _pod_specs(doc)
        for c in spec.get("initContainers", []) + spec["containers"] if "command" not in c
    ]
    # the four core components, the migration and FAB admin Jobs, the worker
    assert len(through_entrypoint) == {"deployments.yml.j2": 4, "jobs.yml.j2": 2, "pod_template.yaml.j2": 1}[template]
    for c in through_entrypoint:
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env.get("CONNECTION_CHECK_MAX_COUNT") == "0", (template, c["name"], env)
