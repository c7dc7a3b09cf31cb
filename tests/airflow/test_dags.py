"""Every DAG in dags/ imports cleanly, has the intended shape, and runs to success."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from conftest import DAGS_DIR

EXPECTED_DAGS = {"spot_bash_fanout", "spot_checkpointed_batch", "spotflow_smoke", "spotflow_spot_cases"}


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}, "\n".join(f"{k}: {v}" for k, v in dagbag.import_errors.items())


def test_every_dag_file_defines_a_dag(dagbag):
    files = {p.name for p in DAGS_DIR.glob("*.py")}
    loaded_from = {p.rsplit("/", 1)[-1] for p in (dag.fileloc for dag in dagbag.dags.values())}
    assert files and files <= loaded_from, f"DAG files without a DAG: {files - loaded_from}"
    assert EXPECTED_DAGS <= set(dagbag.dag_ids)


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
def test_dags_are_documented_and_tagged(dagbag, dag_id):
    dag = dagbag.get_dag(dag_id)
    assert dag.doc_md and "spotflow" in dag.tags


def test_bash_fanout_shape(dagbag):
    dag = dagbag.get_dag("spot_bash_fanout")
    assert set(dag.task_ids) == {
        "runme_0", "runme_1", "runme_2", "run_after_loop", "also_run_this", "this_will_skip", "run_this_last",
    }
    assert dag.get_task("run_after_loop").upstream_task_ids == {"runme_0", "runme_1", "runme_2"}
    assert dag.get_task("run_this_last").upstream_task_ids == {"run_after_loop", "also_run_this", "this_will_skip"}


def test_checkpointed_batch_is_spot_ready(dagbag):
    dag = dagbag.get_dag("spot_checkpointed_batch")
    for task in dag.tasks:
        assert task.retries >= 2, task.task_id
        assert task.retry_exponential_backoff >= 2.0, task.task_id
        assert task.max_retry_delay == timedelta(minutes=10), task.task_id
        assert task.execution_timeout == timedelta(minutes=10), task.task_id
    publish = dag.get_task("publish")
    spec = publish.executor_config["pod_override"].spec
    # pinned by a required affinity, which replaces the template's Spot affinity (test_placement.py)
    assert spec.node_selector is None
    [term] = spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution.node_selector_terms
    assert [(e.key, e.operator, e.values) for e in term.match_expressions] == [("lifecycle", "In", ["OnDemand"])]
    assert publish.retries == 2  # pinned to on-demand: the policy leaves the author's count


def _ti_states(dagrun):
    return {ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]": ti.state for ti in dagrun.get_task_instances()}


def test_bash_fanout_runs(dagbag):
    dagrun = dagbag.get_dag("spot_bash_fanout").test()
    states = _ti_states(dagrun)
    assert dagrun.state == "success", states
    for tid in ("runme_0", "runme_1", "runme_2", "run_after_loop", "also_run_this"):
        assert states[tid] == "success", states
    assert states["this_will_skip"] == "skipped"
    assert states["run_this_last"] == "skipped"  # all_success with a skipped upstream



def test_smoke_dag_runs_unpaused_and_reports_where(dagbag, monkeypatch):
    """verify.yml triggers it without unpausing it, and reads each task's node and pod from its XCom."""
    dag = dagbag.get_dag("spotflow_smoke")
    assert dag.is_paused_upon_creation is False and dag.schedule is None
    assert set(dag.task_ids) == {"where_am_i_1", "where_am_i_2"} and not any(t.upstream_task_ids for t in dag.tasks)
    monkeypatch.setenv("SPOTFLOW_NODE_NAME", "ip-10-0-0-1.ec2.internal")
    dagrun = dag.test()
    assert dagrun.state == "success", _ti_states(dagrun)
    for ti in dagrun.get_task_instances():
        where = ti.xcom_pull(task_ids=ti.task_id)
        assert where["node"] == "ip-10-0-0-1.ec2.internal" and where["pod"], where

def test_checkpointed_batch_runs_and_checkpoints(dagbag, load_dag_module, tmp_path, monkeypatch):
    monkeypatch.setenv("SPOTFLOW_CHECKPOINT_DIR", str(tmp_path))
    mod = load_dag_module("spot_checkpointed_batch")
    dagrun = dagbag.get_dag("spot_checkpointed_batch").test(run_conf={"total_items": 25_000, "chunk_size": 10_000})
    states = _ti_states(dagrun)
    assert dagrun.state == "success", states
    assert sum(1 for k in states if k.startswith("process_chunk[")) == 3
    run_dir = mod.run_dir(tmp_path, "spot_checkpointed_batch", dagrun.run_id)
    chunks = sorted(run_dir.glob("chunk-*.json"))
    assert [p.name for p in chunks] == ["chunk-00000.json", "chunk-00001.json", "chunk-00002.json"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["items"] == 25_000
    assert summary["sum_of_squares"] == sum(n * n for n in range(25_000))
    assert json.loads((run_dir / "published.json").read_text())["sha256"] == summary["sha256"]
    assert not list(run_dir.glob(".*.tmp")), "temp files left behind"


def test_chunks_are_idempotent_and_resume_from_checkpoint(load_dag_module, tmp_path):
    mod = load_dag_module("spot_checkpointed_batch")
    chunks = mod.plan_chunks(2_500, 1_000)
    assert [(c["start"], c["stop"]) for c in chunks] == [(0, 1000), (1000, 2000), (2000, 2500)]
    first = [mod.process_chunk_at(tmp_path, c) for c in chunks]
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.glob("chunk-*.json")}
    again = [mod.process_chunk_at(tmp_path, c) for c in chunks]  # a retry after a Spot reclaim
    assert again == first
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("chunk-*.json")} == mtimes, "checkpoints rewritten"
    # A torn or foreign checkpoint is not trusted: the chunk is recomputed to the same value.
    (tmp_path / "chunk-00001.json").write_text('{"schema": 1, "start": 1000')
    (tmp_path / "chunk-00002.json").write_text(json.dumps({"schema": 1, "start": 0, "stop": 1}))
    assert [mod.process_chunk_at(tmp_path, c) for c in chunks] == first
    assert mod.combine_results(first) == mod.combine_results(list(reversed(first)))


def test_checkpoint_root_resolution(load_dag_module, tmp_path, monkeypatch):
    mod = load_dag_module("spot_checkpointed_batch")
    monkeypatch.setenv("SPOTFLOW_CHECKPOINT_DIR", str(tmp_path / "from-env"))
    assert mod.checkpoint_root() == tmp_path / "from-env"
    monkeypatch.delenv("SPOTFLOW_CHECKPOINT_DIR")
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert mod.checkpoint_root() == tmp_path / "logs" / "spotflow-checkpoints"
    assert mod.run_dir(tmp_path, "d", "manual__2026-01-01T00:00:00+00:00").name == "manual__2026-01-01T00_00_00_00_00"


def test_spot_cases_dag_does_what_its_conf_says(dagbag, load_dag_module):
    """The end-to-end test's interruption cases: the retries as documented, and each try holds, fails or
    succeeds as the run's conf says (the interruptions themselves: tests/airflow/test_interruptions.py)."""
    dag = dagbag.get_dag("spotflow_spot_cases")
    assert dag.is_paused_upon_creation is False and dag.schedule is None
    assert {t.task_id: t.retries for t in dag.tasks} == {"retries_0": 0, "retries_1": 1, "exits_1": 0, "limited": 0}
    assert dag.get_task("limited").executor_config == {"spotflow": {"spot_interruption_limit": 1}}
    mod = load_dag_module("spotflow_spot_cases")
    conf = {"hold": {"retries_0": [1]}, "fail": {"exits_1": [1]}}
    assert mod.behave("retries_0", 2, conf, 0)["try"] == 2
    assert mod.behave("retries_0", 1, conf, 0.01)["try"] == 1  # holds for `seconds`, then succeeds
    with pytest.raises(SystemExit):
        mod.behave("exits_1", 1, conf, 0)
    dagrun = dag.test(run_conf={"fail": {"exits_1": [1]}})
    assert _ti_states(dagrun) == {"retries_0": "success", "retries_1": "success", "exits_1": "failed", "limited": "success"}
