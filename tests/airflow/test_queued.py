"""What happens to a task whose worker pod cannot be placed, with the values the airflow_app role renders:
Airflow 3.3.2's scheduler requeues it num_stuck_in_queued_retries times, task_queued_timeout apart, then
sets it failed directly, without its retries (SchedulerJobRunner._maybe_requeue_stuck_ti)."""

from __future__ import annotations

import configparser
from unittest import mock

import pytest

from airflow.utils.state import TaskInstanceState


@pytest.fixture(scope="module")
def rendered_scheduler_cfg(render_role_template):
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(render_role_template("airflow.cfg.j2"))
    return cfg["scheduler"]


@pytest.fixture
def runner(rendered_scheduler_cfg, monkeypatch):
    """A scheduler job runner configured with the role's [scheduler] values."""
    from airflow.jobs.job import Job
    from airflow.jobs.scheduler_job_runner import SchedulerJobRunner

    for key in ("task_queued_timeout", "num_stuck_in_queued_retries"):
        monkeypatch.setenv(f"AIRFLOW__SCHEDULER__{key.upper()}", rendered_scheduler_cfg[key])
    runner = SchedulerJobRunner(job=Job(), num_runs=1)
    # the DAG of the stuck task cannot be loaded here: no failure callback to send
    runner.scheduler_dag_bag = mock.Mock(**{"get_dag_for_run.side_effect": LookupError("no DAG in this test")})
    return runner


def test_the_role_renders_the_values_it_documents(rendered_scheduler_cfg, runner):
    assert rendered_scheduler_cfg["task_queued_timeout"] == "600"
    assert rendered_scheduler_cfg["num_stuck_in_queued_retries"] == "2"
    assert (runner._task_queued_timeout, runner._num_stuck_queued_retries) == (600.0, 2)
    # about 30 minutes of waiting for Spot capacity before the task fails
    assert (runner._num_stuck_queued_retries + 1) * runner._task_queued_timeout == 1800


def _stuck_once_more(runner, times_already_requeued: int):
    ti, session, executor = mock.MagicMock(), mock.MagicMock(), mock.MagicMock()
    with mock.patch.object(runner, "_get_num_times_stuck_in_queued", return_value=times_already_requeued), \
            mock.patch.object(runner, "_reschedule_stuck_task") as reschedule:
        runner._maybe_requeue_stuck_ti(ti=ti, session=session, executor=executor)
    events = [call.args[0].event for call in session.add.call_args_list]
    return ti, executor, reschedule, events


@pytest.mark.parametrize("times_already_requeued", [0, 1])
def test_a_stuck_task_is_requeued_while_it_has_requeues_left(runner, times_already_requeued):
    ti, executor, reschedule, events = _stuck_once_more(runner, times_already_requeued)
    reschedule.assert_called_once_with(ti, session=mock.ANY)  # back to scheduled, same try
    assert events == ["stuck in queued reschedule"]
    ti.set_state.assert_not_called()
    executor.fail.assert_not_called()


def test_then_it_fails_without_its_retries(runner):
    ti, executor, reschedule, events = _stuck_once_more(runner, 2)
    reschedule.assert_not_called()
    assert events == ["stuck in queued tries exceeded"]
    ti.set_state.assert_called_once_with(TaskInstanceState.FAILED, session=mock.ANY)
    executor.fail.assert_called_once_with(ti.key)
    # failed directly: not through handle_failure, which is what would use the retries (up_for_retry)
    ti.handle_failure.assert_not_called()
    assert TaskInstanceState.UP_FOR_RETRY not in [c.args[0] for c in ti.set_state.call_args_list]
