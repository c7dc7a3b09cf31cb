"""Build-time check of the Spotflow image (run by docker/Dockerfile).

Fails the build, not the cluster, when a DAG does not import, the cluster
policy is not picked up or the FAB auth manager (airflow_app's default) is missing.  Run with a throw-away AIRFLOW_HOME whose config/
holds a copy of airflow_local_settings.py, so no airflow.cfg or DB is left in
the image.

With SPOTFLOW_MIGRATION_HEADS set, it also writes there the migration heads
`airflow db check-migrations` waits for (Airflow's and each DB manager's, such as
FAB's, by version table), so airflow_app's init container can compare the
database with them without importing Airflow (roles/airflow_app/files/
wait-for-migrations.py).
"""

from __future__ import annotations

import json
import os
import sys

DAGS = os.environ.get("SPOTFLOW_CHECK_DAGS", "/opt/airflow/dags")


def migration_heads() -> dict[str, list[str]]:
    """What `airflow db check-migrations` compares the database with, by version table.

    The same sources as airflow.utils.db.check_migrations: Airflow's migration scripts
    (table alembic_version) and those of every DB manager RunDBManager runs (the installed
    providers', such as FAB's alembic_version_fab). No database is opened.
    """
    from airflow.utils import db
    from airflow.utils.db_manager import RunDBManager

    heads = {"alembic_version": sorted(db._get_script_object().get_heads())}
    for manager in RunDBManager()._managers:
        heads[manager.version_table_name] = sorted(manager(None).get_script_object().get_heads())
    return heads


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
    if path := os.environ.get("SPOTFLOW_MIGRATION_HEADS"):
        heads = migration_heads()
        with open(path, "w", encoding="utf-8") as out:
            json.dump(heads, out, indent=2, sort_keys=True)
        print(f"migration heads {heads} written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
