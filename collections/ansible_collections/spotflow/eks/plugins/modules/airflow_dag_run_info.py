#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Spotflow contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: airflow_dag_run_info
short_description: Read an Airflow DAG run, its task instances, their tries, XComs and logs, optionally waiting for it to end
version_added: 0.1.0
author: Spotflow maintainers (@spotflow)
description:
  - Reads one DAG run through the Airflow 3 REST API (C(/api/v2)) and, for each of its task instances, what the
    options ask for, in one task. Optionally waits until the run has ended (C(success) or C(failed)) first.
  - There is no Airflow module in the well-kept collections; with M(ansible.builtin.uri) the same reads are one task
    (one module run) per request and per task instance (a wait, the task instances, the tries of each, the XCom of
    each, the log of every try) and a wait polls no faster than a module run. This module makes the same requests in
    one run and polls every O(wait_sleep) seconds.
  - The API is reached at O(url) with O(headers) on every request, so it works through the Kubernetes API server's
    service proxy (a bearer token for the proxy in C(Authorization), the Airflow token as its C(_token) cookie) as
    well as directly (the Airflow token as C(Authorization)).
  - Any answer other than 200 fails the module with the request and the answer, but a missing XCom (404), which
    comes back as C(null).
  - Never changes anything.
options:
  url:
    description:
      - Base URL of the Airflow API server, without C(/api/v2), for example
        V(https://airflow.example.com) or
        V(https://EKS-ENDPOINT/api/v1/namespaces/airflow/services/airflow-api-server:http/proxy).
    type: str
    required: true
  headers:
    description:
      - Headers sent with every request (tokens, never logged).
    type: dict
    default: {}
  ca_path:
    description:
      - PEM file of the CA that signed the server's certificate.
    type: path
  validate_certs:
    description:
      - Verify the server's TLS certificate.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for each answer.
    type: int
    default: 30
  dag_id:
    description:
      - The DAG.
    type: str
    required: true
  run_id:
    description:
      - The DAG run.
    type: str
    required: true
  wait:
    description:
      - Wait until the run's state is C(success) or C(failed) before the other reads.
      - When O(wait_timeout) passes first, the module returns what it read without failing, so check
        the C(state) in RV(dag_run).
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait with O(wait=true).
    type: int
    default: 300
  wait_sleep:
    description:
      - Seconds between two reads of the run with O(wait=true).
    type: float
    default: 1.0
  tries:
    description:
      - Read every try of each task instance (C(.../taskInstances/TASK/tries)).
    type: bool
    default: false
  xcom_key:
    description:
      - Read this XCom of each task instance, for example V(return_value) (what the task returned); none when empty.
    type: str
    default: ""
  logs:
    description:
      - Read the log of every try of each task instance, whole (C(full_content=true)).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reads only, so it runs in check mode as it does otherwise.
  diff_mode:
    support: none
    description: Changes nothing, so there is nothing to diff.
  platform:
    support: full
    platforms: posix
    description: Talks HTTP(S) to the Airflow API server, from the controller or any host.
seealso:
  - module: ansible.builtin.uri
  - name: Airflow REST API
    description: The stable REST API of Airflow 3.
    link: https://airflow.apache.org/docs/apache-airflow/stable/stable-rest-api-ref.html
"""

EXAMPLES = r"""
- name: Wait for the run and read what each task returned
  spotflow.eks.airflow_dag_run_info:
    url: https://airflow.example.com
    headers:
      Authorization: "Bearer {{ airflow_token }}"
    dag_id: spotflow_smoke
    run_id: "{{ run_id }}"
    wait: true
    tries: true
    xcom_key: return_value
  register: run
  until: run.dag_run.state in ['success', 'failed']
  retries: 3

- name: Every try's log
  spotflow.eks.airflow_dag_run_info:
    url: https://airflow.example.com
    headers:
      Authorization: "Bearer {{ airflow_token }}"
    dag_id: spotflow_smoke
    run_id: "{{ run_id }}"
    logs: true
  register: run_logs
"""

RETURN = r"""
dag_run:
  description: The DAG run as the API returns it (C(GET .../dagRuns/RUN)).
  returned: always
  type: dict
  sample: {"dag_id": "spotflow_smoke", "dag_run_id": "manual__2026-12-05T10:00:00+00:00", "state": "success"}
waited:
  description: Seconds spent waiting for the run to end (0 without O(wait)).
  returned: always
  type: float
tasks:
  description: One item per task instance of the run, in the API's order (every page of it).
  returned: always
  type: list
  elements: dict
  contains:
    task_instance:
      description: The task instance as the API returns it.
      type: dict
    tries:
      description: Its tries (C(task_instances) of C(.../tries)), with O(tries=true); else empty.
      type: list
    xcom:
      description: The value of its O(xcom_key) XCom; null when it has none or O(xcom_key) is empty.
      type: raw
    logs:
      description:
        - With O(logs=true), C({try_number, content}) for each of its tries (those RV(tasks[].tries) lists with
          O(tries=true), else 1 to its C(try_number)); else empty.
      type: list
"""

import json
import time
from urllib.parse import quote

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from urllib.error import HTTPError, URLError


class AirflowApi:
    def __init__(self, module):
        self.module = module
        p = module.params
        self.base = p["url"].rstrip("/") + "/api/v2"
        self.headers = dict(p["headers"] or {}, Accept="application/json")

    def get(self, path, missing_ok=False):
        url = self.base + path
        p = self.module.params
        try:
            with open_url(url, headers=self.headers, timeout=p["timeout"], validate_certs=p["validate_certs"],
                          ca_path=p["ca_path"], method="GET") as resp:
                return json.loads(resp.read() or b"null")
        except HTTPError as exc:
            if missing_ok and exc.code == 404:
                return None
            body = exc.read()[:500].decode("utf-8", "replace") if exc.fp else ""
            self.module.fail_json(msg="GET %s: HTTP %s %s" % (url, exc.code, body), status=exc.code)
        except (URLError, OSError, ValueError) as exc:
            self.module.fail_json(msg="GET %s: %s" % (url, exc))

    def task_instances(self, run_path, page=100):
        """Every task instance of the run, page by page (the API returns at most its limit at a time)."""
        found, total = [], None
        while total is None or len(found) < total:
            answer = self.get("%s/taskInstances?limit=%d&offset=%d" % (run_path, page, len(found))) or {}
            batch = answer.get("task_instances") or []
            found.extend(batch)
            total = answer.get("total_entries", len(found))
            if not batch:
                break
        return found


def q(value):
    return quote(str(value), safe="")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            headers=dict(type="dict", default={}, no_log=True),
            ca_path=dict(type="path"),
            validate_certs=dict(type="bool", default=True),
            timeout=dict(type="int", default=30),
            dag_id=dict(type="str", required=True),
            run_id=dict(type="str", required=True),
            wait=dict(type="bool", default=False),
            wait_timeout=dict(type="int", default=300),
            wait_sleep=dict(type="float", default=1.0),
            tries=dict(type="bool", default=False),
            xcom_key=dict(type="str", default="", no_log=False),
            logs=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    p = module.params
    api = AirflowApi(module)
    run_path = "/dags/%s/dagRuns/%s" % (q(p["dag_id"]), q(p["run_id"]))

    started = time.monotonic()
    dag_run = api.get(run_path)
    while p["wait"] and dag_run.get("state") not in ("success", "failed") \
            and time.monotonic() - started + p["wait_sleep"] <= p["wait_timeout"]:
        time.sleep(max(0.1, p["wait_sleep"]))
        dag_run = api.get(run_path)
    waited = round(time.monotonic() - started, 1) if p["wait"] else 0.0

    tasks = []
    for ti in api.task_instances(run_path):
        ti_path = "%s/taskInstances/%s" % (run_path, q(ti["task_id"]))
        # a mapped task instance: its index in the path of its tries, a query parameter elsewhere
        index = ti.get("map_index") if ti.get("map_index") not in (-1, None) else None
        query = "" if index is None else "map_index=%d" % index
        task = {"task_instance": ti, "tries": [], "xcom": None, "logs": []}
        if p["tries"]:
            tries_path = ti_path + ("/tries" if index is None else "/%d/tries" % index)
            task["tries"] = (api.get(tries_path) or {}).get("task_instances") or []
        if p["xcom_key"]:
            entry = api.get("%s/xcomEntries/%s%s" % (ti_path, q(p["xcom_key"]), query and "?" + query), missing_ok=True)
            task["xcom"] = (entry or {}).get("value")
        if p["logs"]:
            numbers = sorted({t.get("try_number") for t in task["tries"]} - {None}) if p["tries"] else \
                range(1, int(ti.get("try_number") or 0) + 1)
            for try_number in numbers:
                log = api.get("%s/logs/%d?full_content=true%s" % (ti_path, try_number, query and "&" + query))
                task["logs"].append({"try_number": try_number, "content": (log or {}).get("content")})
        tasks.append(task)

    module.exit_json(changed=False, dag_run=dag_run, waited=waited, tasks=tasks)


if __name__ == "__main__":
    main()
