"""Wait until the metadata database holds this image's migrations (airflow_app's init container).

Usage: python wait-for-migrations.py TIMEOUT_SECONDS

`airflow db check-migrations` imports Airflow and loads every migration script to learn the
heads it compares the database with: 10-20 s of CPU in each core pod, all of them at once on
every rollout (a DAG change rolls all four). The Spotflow image records those heads when it
is built (docker/check_image.py writes /opt/airflow/migration-heads.json, from Airflow's own
sources: Airflow's scripts and every DB manager's, such as FAB's), so this script only reads
the version tables and makes the same comparison: every table holds exactly its heads (a
table with no heads may be empty or missing). It retries once a second, as the CLI does, and
fails after TIMEOUT_SECONDS naming what differs. Without that record (another image) or
without AIRFLOW__DATABASE__SQL_ALCHEMY_CONN it runs `airflow db check-migrations` instead.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

HEADS_FILE = os.environ.get("SPOTFLOW_MIGRATION_HEADS", "/opt/airflow/migration-heads.json")


def _read_heads(path: str) -> dict[str, set[str]] | None:
    try:
        with open(path, encoding="utf-8") as f:
            heads = json.load(f)
    except FileNotFoundError:
        return None
    if not isinstance(heads, dict) or not all(re.fullmatch(r"[a-z_][a-z0-9_]*", t) for t in heads):
        raise SystemExit(f"wait-for-migrations: {path} is not a map of version tables to heads: {heads!r}")
    return {table: set(revisions) for table, revisions in heads.items()}


def _db_heads(engine, tables) -> dict[str, set[str] | str]:
    """The revisions in each version table; for a table that cannot be read, why (a string)."""
    from sqlalchemy import text

    found: dict[str, set[str] | str] = {}
    for table in tables:
        try:
            # one connection per table: a missing table aborts PostgreSQL's transaction
            with engine.connect() as conn:
                found[table] = {row[0] for row in conn.execute(text(f"SELECT version_num FROM {table}"))}
        except Exception as err:  # noqa: BLE001 - a database not there yet, or a table not created yet
            found[table] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    return found


def _pending(expected, found) -> dict[str, str]:
    pending = {}
    for table, heads in expected.items():
        have = found[table]
        if isinstance(have, str):
            if heads:
                pending[table] = f"wants {sorted(heads)}, cannot read it ({have})"
        elif have != heads:
            pending[table] = f"wants {sorted(heads)}, holds {sorted(have)}"
    return pending


def main(argv: list[str]) -> int:
    timeout = int(argv[1]) if len(argv) > 1 else 60
    expected = _read_heads(HEADS_FILE)
    url = os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")
    if expected is None or not url:
        why = f"no {HEADS_FILE} in this image" if expected is None else "no AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"
        print(f"wait-for-migrations: {why}: running `airflow db check-migrations`", flush=True)
        cli = ["airflow", "db", "check-migrations", "--migration-wait-timeout", str(timeout)]
        os.execvp(cli[0], cli)

    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    deadline = time.monotonic() + max(timeout, 1)
    waited = 0
    while True:
        pending = _pending(expected, _db_heads(engine, sorted(expected)))
        if not pending:
            print(f"wait-for-migrations: the database holds this image's migrations {sorted(expected)}", flush=True)
            return 0
        if time.monotonic() >= deadline:
            print(f"wait-for-migrations: still unapplied migrations after {timeout} s: {pending}", file=sys.stderr, flush=True)
            return 1
        if waited % 10 == 0:
            print(f"wait-for-migrations: waiting ({waited} s): {pending}", flush=True)
        time.sleep(1)
        waited += 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
