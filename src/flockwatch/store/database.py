"""Database engines from URLs. SQLite is the zero-setup default; PostgreSQL is the
production store (`FLOCKWATCH_DATABASE_URL=postgresql+psycopg://...`)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel, create_engine

DEFAULT_URL = "sqlite:///var/flockwatch.db"
SCHEMA_LOCK_KEY = 0x666C6F636B  # "flock": the advisory lock held while creating the store's tables

# libpq settings for PostgreSQL unless the URL sets them (`?connect_timeout=5`). Without
# them a network cut that drops packets, rather than refusing them, leaves a query
# waiting for TCP to give up (about 15 minutes on Linux) and a connection attempt
# waiting for ever: nothing fails, so nothing retries or reports the outage.
PG_CONNECT_DEFAULTS: dict[str, int] = {
    "connect_timeout": 10,  # seconds for a new connection
    "keepalives": 1,  # probe idle connections: a pooled connection to a vanished host
    "keepalives_idle": 30,  # is found dead after about 30 + 3 x 10 s
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,  # ms that sent data may stay unacknowledged before the connection is dropped
}


def database_url(url: str | None = None) -> str:
    url = url or os.environ.get("FLOCKWATCH_DATABASE_URL") or DEFAULT_URL
    # Accept plain postgresql:// URLs; we ship the psycopg 3 driver.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_engine(url: str | None = None) -> Engine:
    url = database_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # WAL lets the API read while the worker writes; NORMAL sync is durable in WAL mode.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()
    else:
        connect_args: dict[str, int] = {}
        if url.startswith("postgresql"):
            given = make_url(url).query
            connect_args = {k: v for k, v in PG_CONNECT_DEFAULTS.items() if k not in given}
        engine = create_engine(url, pool_pre_ping=True, connect_args=connect_args)
    return engine


def create_tables(engine: Engine) -> None:
    """Create the store's own tables (alerts, notifications, lifecycle).

    Only these, named explicitly: SQLModel's metadata also holds tables of whatever
    else the process imported (the bridge's state, say), and creating those here
    would make opening the alert store a write that depends on import order."""
    import flockwatch.store.notify_tables as notify_tables
    import flockwatch.store.tables as tables

    own = [
        m.__table__  # type: ignore[attr-defined]
        for module in (tables, notify_tables)
        for m in vars(module).values()
        if isinstance(m, type) and issubclass(m, SQLModel) and hasattr(m, "__table__")
        and m.__module__ == module.__name__
    ]
    if engine.dialect.name == "postgresql":
        # Processes opening a new database together (a rollout of several workers, the
        # notifier and the API) raced on CREATE TABLE, and the losers failed with
        # UniqueViolation: one transaction-scoped advisory lock lets one create while
        # the others wait, then find the tables there. (SQLite serialises writers itself.)
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            SQLModel.metadata.create_all(conn, tables=own)
    else:
        SQLModel.metadata.create_all(engine, tables=own)
    from flockwatch.store.sequence import upgrade

    upgrade(engine)  # stores created before the change sequence
