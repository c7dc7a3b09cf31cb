"""The async metadata DB URL the airflow_app role sets ([database] sql_alchemy_conn_async, from the
filter airflow_app_async_db_url) is one SQLAlchemy's asyncpg dialect and asyncpg accept, where the one
Airflow 3.3.2 derives from rds_postgres's URI by itself is not."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import socket

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from conftest import REPO

_spec = importlib.util.spec_from_file_location(
    "airflow_app_filters", REPO / "roles" / "airflow_app" / "filter_plugins" / "airflow_app.py")
filters = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(filters)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def rds_uri():
    """rds_postgres's URI shape (password URL-encoded, sslmode=require), on a port nothing listens on."""
    return f"postgresql+psycopg2://airflow:p%40ss%2Fw%3Frd@127.0.0.1:{_closed_port()}/airflow?sslmode=require"


def _connect(url: str):
    """Open a connection the way Airflow's async session does (settings.create_async_metadata_engine)."""
    from airflow import settings

    async def go():
        engine = settings.create_async_metadata_engine(url, connect_args={})
        try:
            async with engine.connect():
                pass
        finally:
            await engine.dispose()

    asyncio.run(go())


def test_airflow_s_own_async_url_fails_on_sslmode(rds_uri):
    """The defect: without sql_alchemy_conn_async Airflow keeps ?sslmode=require, and asyncpg refuses it."""
    from airflow import settings

    derived = settings._get_async_conn_uri_from_sync(rds_uri)
    assert derived.startswith("postgresql+asyncpg://") and "sslmode=require" in derived
    with pytest.raises(TypeError, match="sslmode"):
        _connect(derived)


def test_the_role_s_async_url_is_taken_by_the_dialect_and_asyncpg(rds_uri):
    url = filters.airflow_app_async_db_url(rds_uri)
    parsed = make_url(url)
    assert parsed.drivername == "postgresql+asyncpg"
    assert (parsed.username, parsed.password, parsed.host, parsed.database) == ("airflow", "p@ss/w?rd", "127.0.0.1", "airflow")
    assert dict(parsed.query) == {"ssl": "require"}
    from sqlalchemy.dialects.postgresql.asyncpg import dialect

    _, kwargs = dialect().create_connect_args(parsed)
    accepted = inspect.signature(asyncpg.connect).parameters
    assert set(kwargs) <= set(accepted), set(kwargs) - set(accepted)
    assert kwargs["ssl"] == "require"
    # A real connection attempt: the arguments are accepted, only the closed port refuses it.
    with pytest.raises(OSError):
        _connect(url)


def test_airflow_reads_the_async_url_the_role_sets(rds_uri, monkeypatch):
    """The role passes it as AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC (from Secret airflow-metadata-db)."""
    from airflow import settings

    url = filters.airflow_app_async_db_url(rds_uri)
    monkeypatch.setattr(settings, "SQL_ALCHEMY_CONN_ASYNC", settings.SQL_ALCHEMY_CONN_ASYNC)  # restored afterwards
    monkeypatch.setattr(settings, "SQL_ALCHEMY_CONN", settings.SQL_ALCHEMY_CONN)
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", url)
    settings.configure_vars()
    assert settings.SQL_ALCHEMY_CONN_ASYNC == url
