"""module_utils.aws.wait_for: polls at once, then 2, 4, 8 ... s up to the
waiter's delay, stops at a failure acceptor at once and at the timeout."""

from __future__ import annotations

import pytest
from ansible_collections.spotflow.eks.plugins.module_utils import aws as aws_utils


class Failed(Exception):
    pass


class FakeModule:
    params = {"wait_timeout": 60}

    def fail_json(self, **kwargs):
        raise Failed(kwargs["msg"])

    def fail_json_aws(self, error, msg):
        raise Failed(msg)


class FakeEks:
    """describe_cluster answers the given statuses in turn, the last one forever."""

    def __init__(self, *statuses):
        self.statuses = list(statuses)
        self.calls = 0

    def describe_cluster(self, **kwargs):
        self.calls += 1
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return {"cluster": {"name": kwargs["name"], "status": status}}


@pytest.fixture
def sleeps(monkeypatch):
    slept = []
    monkeypatch.setattr(aws_utils.time, "sleep", slept.append)
    return slept


def test_poll_delays_grow_to_the_waiters_delay_and_stop_at_the_timeout():
    assert list(aws_utils.poll_delays(20, 60)) == [2, 4, 8, 16, 20, 10]
    assert sum(aws_utils.poll_delays(15, 900)) == 900
    assert list(aws_utils.poll_delays(5, 3)) == [2, 1]


def test_a_cluster_active_after_three_polls_is_seen_after_six_seconds(sleeps):
    eks = FakeEks("CREATING", "CREATING", "ACTIVE")
    aws_utils.wait_for(FakeModule(), eks, "eks", "ClusterActive", "cluster c", name="c")
    assert eks.calls == 3
    assert sleeps == [2, 4]


def test_a_failure_state_fails_at_once(sleeps):
    eks = FakeEks("CREATING", "FAILED")
    with pytest.raises(Failed, match=r"Waiting for cluster c \(ClusterActive\) failed"):
        aws_utils.wait_for(FakeModule(), eks, "eks", "ClusterActive", "cluster c", name="c")
    assert eks.calls == 2 and sleeps == [2]


def test_the_timeout_is_reported_as_such(sleeps):
    eks = FakeEks("CREATING")
    with pytest.raises(Failed, match="timed out after 30 seconds"):
        aws_utils.wait_for(FakeModule(), eks, "eks", "ClusterActive", "cluster c", wait_timeout=30, name="c")
    assert sum(sleeps) == 30
    assert eks.calls == len(sleeps) + 1
