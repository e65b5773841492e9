"""Real servers for tests: the embedded Tansu broker and the local PostgreSQL.

Neither is mocked. When one cannot run here the tests that need it skip with the
reason spelled out (never silently)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from flockwatch.embedded.broker import EmbeddedBroker, free_port, tansu_binary, wait_port  # noqa: F401 (re-exported for tests)


@contextmanager
def tansu_broker() -> Iterator[str]:
    """Start a memory-only Tansu broker on a free port; yield its bootstrap address."""
    with EmbeddedBroker() as address:
        yield address


def postgres_url() -> tuple[str | None, str]:
    """The test PostgreSQL URL and, if unusable, why."""
    url = os.environ.get("FLOCKWATCH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        import psycopg
    except ImportError:
        return None, "psycopg is not installed"
    try:
        with psycopg.connect(url, connect_timeout=3):
            pass
    except Exception as exc:  # noqa: BLE001
        return None, f"PostgreSQL at {url} is not reachable ({type(exc).__name__}); set FLOCKWATCH_TEST_PG_URL"
    return url, ""


@contextmanager
def postgres_schema(url: str) -> Iterator[str]:
    """A fresh schema for one test; yields a SQLAlchemy URL whose search_path is it."""
    import psycopg

    schema = f"fw_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    sep = "&" if "?" in sa_url else "?"
    try:
        yield f"{sa_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
