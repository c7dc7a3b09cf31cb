"""Build-time check of the Spotflow image (run by docker/Dockerfile).

Fails the build, not the cluster, when a DAG does not import, the cluster
policy is not picked up or the FAB auth manager (airflow_app's default) is missing.  Run with a throw-away AIRFLOW_HOME whose config/
holds a copy of airflow_local_settings.py, so no airflow.cfg or DB is left in
the image.
"""

from __future__ import annotations

import os
import sys

DAGS = os.environ.get("SPOTFLOW_CHECK_DAGS", "/opt/airflow/dags")


def main() -> int:
    from airflow.dag_processing.dagbag import DagBag

    # Airflow 3.3 DagBag loads only dag_folder (example DAGs are a separate bundle).
    bag = DagBag(dag_folder=DAGS)
    for path, err in bag.import_errors.items():
        print(f"DAG import error in {path}:\n{err}", file=sys.stderr)
    if bag.import_errors or not bag.dags:
        print(f"{len(bag.import_errors)} DAG import error(s), {len(bag.dags)} DAG(s)", file=sys.stderr)
        return 1

    import airflow_local_settings

    unpolicied = [
        f"{dag_id}.{t.task_id}"
        for dag_id, dag in bag.dags.items()
        for t in dag.tasks
        if airflow_local_settings.runs_on_spot(t)
        and not airflow_local_settings.opted_out(t)
        and t.retries < airflow_local_settings.min_retries()
    ]
    if unpolicied:
        print(f"cluster policy not applied to: {unpolicied}", file=sys.stderr)
        return 1
    # airflow_app's default auth manager must be importable (apache-airflow-providers-fab, docker/requirements.txt).
    from airflow.providers.fab.auth_manager.fab_auth_manager import FabAuthManager  # noqa: F401

    print(f"DAGs OK: {sorted(bag.dag_ids)}; cluster policy {airflow_local_settings.__file__}; FAB auth manager importable")
    return 0


if __name__ == "__main__":
    sys.exit(main())
