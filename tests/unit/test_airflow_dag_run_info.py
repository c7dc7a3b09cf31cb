"""Unit tests of spotflow.eks.airflow_dag_run_info against a small HTTP server that answers like Airflow's API:
the wait polls until the run ends, the tries, XComs and logs of each task instance, missing XComs, errors."""

from __future__ import annotations

import json
import pathlib
import sys
from urllib.parse import parse_qsl, urlsplit

import pytest

COLLECTIONS = pathlib.Path(__file__).resolve().parents[2] / "collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))

from ansible.module_utils.testing import patch_module_args  # noqa: E402

from ansible_collections.spotflow.eks.plugins.modules import airflow_dag_run_info as mod  # noqa: E402

RUN = "/api/v2/dags/smoke/dagRuns/manual__1%2B0"


class Airflow:
    """The answers, by path (and query), and every request seen."""

    def __init__(self, states=("running", "success")):
        self.states = list(states)
        self.requests = []  # (path, headers): the fixture puts the server's own list here
        self.task_instances = [{"task_id": "a", "map_index": -1, "try_number": 2}, {"task_id": "b", "map_index": -1, "try_number": 1}]
        self.routes = {
            RUN + "/taskInstances/a/tries": {"task_instances": [{"try_number": 2}, {"try_number": 1}]},
            RUN + "/taskInstances/b/tries": {"task_instances": [{"try_number": 1}]},
            RUN + "/taskInstances/a/xcomEntries/return_value": {"key": "return_value", "value": {"node": "n1", "pod": "p1"}},
            RUN + "/taskInstances/a/logs/1?full_content=true": {"content": [{"event": "SIGTERM"}]},
            RUN + "/taskInstances/a/logs/2?full_content=true": {"content": [{"event": "running in pod p1"}]},
            RUN + "/taskInstances/b/logs/1?full_content=true": {"content": "plain"},
        }

    def answer(self, path):
        if path == RUN:
            state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
            return 200, {"dag_id": "smoke", "dag_run_id": "manual__1+0", "state": state}
        if path.startswith(RUN + "/taskInstances?"):
            # Airflow's paging: at most `limit` from `offset`, and how many there are in all
            query = dict(parse_qsl(urlsplit(path).query))
            offset, limit = int(query.get("offset", 0)), min(int(query.get("limit", 50)), 50)
            return 200, {"task_instances": self.task_instances[offset:offset + limit], "total_entries": len(self.task_instances)}
        if path in self.routes:
            return 200, self.routes[path]
        return 404, {"detail": "not found"}


@pytest.fixture
def airflow(json_server):
    state = Airflow()
    url, state.requests = json_server(state.answer)
    state.url = url + "/"
    return state


def run(airflow, capsys, **args):
    base = {"url": airflow.url, "dag_id": "smoke", "run_id": "manual__1+0",
            "headers": {"Authorization": "Bearer k8s", "Cookie": "_token=jwt"}, "wait_sleep": 0.01}
    with patch_module_args(dict(base, **args)):
        with pytest.raises(SystemExit) as exit_info:
            mod.main()
    return exit_info.value.code, json.loads(capsys.readouterr().out)


def test_waits_until_the_run_ends_then_reads_tries_and_xcoms(airflow, capsys):
    airflow.states = ["queued", "running", "running", "success"]
    code, out = run(airflow, capsys, wait=True, tries=True, xcom_key="return_value")
    assert code == 0 and out["changed"] is False
    assert out["dag_run"]["state"] == "success"
    assert [r[0] for r in airflow.requests].count(RUN) == 4
    assert [(t["task_instance"]["task_id"], [x["try_number"] for x in t["tries"]], t["xcom"], t["logs"]) for t in out["tasks"]] == [
        ("a", [2, 1], {"node": "n1", "pod": "p1"}, []), ("b", [1], None, [])]  # b has no XCom: null, not an error
    assert {(h["Authorization"], h["Cookie"]) for _, h in airflow.requests} == {("Bearer k8s", "_token=jwt")}


def test_without_wait_one_read_of_the_run_and_nothing_else_asked(airflow, capsys):
    code, out = run(airflow, capsys)
    assert code == 0 and out["dag_run"]["state"] == "running" and out["waited"] == 0
    assert [r[0] for r in airflow.requests] == [RUN, RUN + "/taskInstances?limit=100&offset=0"]
    assert [t["tries"] for t in out["tasks"]] == [[], []]


def test_the_wait_gives_up_after_its_timeout_without_failing(airflow, capsys):
    airflow.states = ["running"]
    code, out = run(airflow, capsys, wait=True, wait_timeout=1, wait_sleep=0.2)
    assert code == 0 and out["dag_run"]["state"] == "running" and 0.5 <= out["waited"] <= 2


def test_logs_of_every_try_that_the_tries_list(airflow, capsys):
    code, out = run(airflow, capsys, tries=True, logs=True)
    assert code == 0
    assert [(t["task_instance"]["task_id"], t["logs"]) for t in out["tasks"]] == [
        ("a", [{"try_number": 1, "content": [{"event": "SIGTERM"}]}, {"try_number": 2, "content": [{"event": "running in pod p1"}]}]),
        ("b", [{"try_number": 1, "content": "plain"}])]


def test_an_error_names_the_request_and_the_answer(airflow, capsys):
    code, out = run(airflow, capsys, run_id="nope")
    assert code == 1 and out["failed"] is True and out["status"] == 404
    assert "/api/v2/dags/smoke/dagRuns/nope: HTTP 404" in out["msg"] and "not found" in out["msg"]
    assert "jwt" not in json.dumps(out), "the headers are no_log"


def test_every_task_instance_page_by_page(airflow, capsys):
    # the server gives at most 50 at a time, whatever the module asks for
    airflow.task_instances = [{"task_id": "t%03d" % i, "map_index": -1, "try_number": 1} for i in range(120)]
    code, out = run(airflow, capsys)
    assert code == 0
    assert [t["task_instance"]["task_id"] for t in out["tasks"]] == ["t%03d" % i for i in range(120)]
    assert [r[0].rsplit("?", 1)[1] for r in airflow.requests[1:]] == [
        "limit=100&offset=0", "limit=100&offset=50", "limit=100&offset=100"]


def test_a_mapped_task_instance_is_read_by_its_index(airflow, capsys):
    airflow.task_instances = [{"task_id": "m", "map_index": i, "try_number": 1} for i in (0, 1)]
    for i in (0, 1):
        airflow.routes[RUN + "/taskInstances/m/%d/tries" % i] = {"task_instances": [{"try_number": 1, "map_index": i}]}
        airflow.routes[RUN + "/taskInstances/m/xcomEntries/return_value?map_index=%d" % i] = {"value": i * 10}
        airflow.routes[RUN + "/taskInstances/m/logs/1?full_content=true&map_index=%d" % i] = {"content": "log %d" % i}
    code, out = run(airflow, capsys, tries=True, xcom_key="return_value", logs=True)
    assert code == 0
    assert [(t["tries"][0]["map_index"], t["xcom"], t["logs"]) for t in out["tasks"]] == [
        (0, 0, [{"try_number": 1, "content": "log 0"}]), (1, 10, [{"try_number": 1, "content": "log 1"}])]
