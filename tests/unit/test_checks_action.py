"""spotflow.eks.checks: many assertions with a message each, in one task (the roles' validate.yml).

Runs a real ansible-playbook: the checks are evaluated in order, the first that does not hold fails the task with
its own message, later checks (their vars and message too) are not evaluated, a check's vars are its own and
templated when used, `when` skips, and check mode evaluates the same.
"""

from __future__ import annotations

import pytest


def run(play, checks, task_vars=None, check_mode=False):
    """The localhost result of one spotflow.eks.checks task."""
    task = {"name": "checks", "spotflow.eks.checks": {"checks": checks}, "vars": task_vars or {}, "ignore_errors": True}
    proc, tasks = play([task], check_mode)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return tasks[0]["hosts"]["localhost"]


SIZE = {"name": "size", "that": ["size | int >= 1", "size | int <= 10"], "fail_msg": "size must be 1 to 10, got {{ size }}"}


@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check mode"])
def test_all_hold(play, check_mode):
    result = run(play, [SIZE, {"that": "name is match('^[a-z]+$')", "fail_msg": "bad name"}],
                 {"size": 3, "name": "demo"}, check_mode)
    assert not result.get("failed") and result["changed"] is False
    assert (result["checked"], result["skipped_checks"]) == (2, 0)


def test_the_first_check_that_fails_gives_its_message_and_nothing_after_it_is_evaluated(play):
    later = {"name": "later", "that": "undefined_thing.x", "fail_msg": "{{ undefined_thing.y }}",
             "vars": {"broken": "{{ undefined_thing.z }}"}}
    result = run(play, [{"that": "true", "fail_msg": "never"}, SIZE, later], {"size": 12})
    assert result["failed"] is True
    assert (result["check"], result["assertion"], result["msg"]) == ("size", "size | int <= 10", "size must be 1 to 10, got 12")


def test_a_checks_vars_are_its_own_and_templated_when_used(play):
    windows = {
        "name": "windows",
        "that": "problems | length == 0",
        "fail_msg": "{{ problems | join('; ') }}",
        # `problems` uses `hm`, a var of the same check, and the task's `window`
        "vars": {"hm": "[0-2][0-9]:[0-5][0-9]",
                 "problems": "{{ [] if window is match('^' ~ hm ~ '-' ~ hm ~ '$') else ['window must be hh:mi-hh:mi, got ' ~ window] }}"},
    }
    leak = {"name": "no leak", "that": "hm is not defined", "fail_msg": "hm leaked: {{ hm }}"}
    assert run(play, [windows, leak], {"window": "03:00-04:00"})["checked"] == 2
    result = run(play, [windows, leak], {"window": "3am"})
    assert (result["check"], result["msg"]) == ("windows", "window must be hh:mi-hh:mi, got 3am")


def test_when_skips_a_check(play):
    checks = [dict(SIZE, when="state == 'present'"), dict(SIZE, name="also", when=["state == 'present'", "true"])]
    result = run(play, checks, {"size": 0, "state": "absent"})
    assert not result.get("failed") and (result["checked"], result["skipped_checks"]) == (0, 2)
    assert run(play, checks, {"size": 0, "state": "present"})["check"] == "size"


@pytest.mark.parametrize(("checks", "says"), [
    ([], "at least one check"),
    ([{"that": "true"}], "missing required arguments: fail_msg"),
    ([{"that": "true", "fail_msg": "m", "loop": [1]}], "loop"),
    (["true"], "dictionary requested"),
], ids=["none", "no message", "unknown key", "not a dict"])
def test_a_malformed_check_fails_clearly(play, checks, says):
    result = run(play, checks)
    assert result["failed"] is True and says in result["msg"], result["msg"]
