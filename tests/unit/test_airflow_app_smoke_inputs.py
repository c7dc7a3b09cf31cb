"""airflow_app's smoke entry point refuses a wait it cannot keep, before any call: each wait is one task, which
keeps the EKS token it started with (15 minutes), so airflow_app_smoke_timeout is 1 to 840 seconds."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("timeout", [0, 841])
def test_a_timeout_outside_1_to_840_is_refused_first(play, timeout):
    proc, tasks = play([{
        "ansible.builtin.include_role": {"name": "airflow_app", "tasks_from": "smoke"},
        "vars": {"spotflow_cluster_name": "demo", "spotflow_region": "us-east-1",
                 "airflow_app_smoke_timeout": timeout}}])
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    failed = [(t["task"]["name"], t["hosts"]["localhost"]) for t in tasks if t["hosts"]["localhost"].get("failed")]
    assert len(failed) == 1
    name, result = failed[0]
    assert name == "airflow_app : Check the inputs smoke needs"
    assert "airflow_app_smoke_timeout 1 to 840 seconds" in result["msg"]
    assert f"given {timeout})" in result["msg"]
    # nothing ran after it: no lookup, no call
    assert tasks[-1]["task"]["name"] == name


@pytest.mark.parametrize("key", ["abc-def", "a" * 33, "x.*"])
def test_a_reuse_key_that_is_not_up_to_32_letters_and_digits_is_refused_first(play, key):
    # it goes into the run id and a regular expression: anything else could match another key's runs
    proc, tasks = play([{
        "ansible.builtin.include_role": {"name": "airflow_app", "tasks_from": "smoke"},
        "vars": {"spotflow_cluster_name": "demo", "spotflow_region": "us-east-1",
                 "airflow_app_smoke_action": "trigger", "airflow_app_smoke_reuse_key": key}}])
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr[-3000:]
    failed = [(t["task"]["name"], t["hosts"]["localhost"]) for t in tasks if t["hosts"]["localhost"].get("failed")]
    assert [name for name, _ in failed] == ["airflow_app : Check the inputs smoke needs"]
    assert "airflow_app_smoke_reuse_key up to 32 letters and digits" in failed[0][1]["msg"]
    assert f"given {key!r}".replace("'", '"') in failed[0][1]["msg"]
    assert tasks[-1]["task"]["name"] == "airflow_app : Check the inputs smoke needs"
