"""PostgreSQL connections fail instead of hanging when the network drops packets:
libpq timeouts and keepalives are on unless the URL sets its own."""

from __future__ import annotations

import socket
import time

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import OperationalError

from flockwatch.store.database import PG_CONNECT_DEFAULTS, make_engine


class Captured(Exception):
    pass


def connect_params(url: str) -> dict[str, object]:
    """The keyword arguments the driver would be called with (no connection is made)."""
    engine = make_engine(url)
    seen: dict[str, object] = {}

    @event.listens_for(engine, "do_connect")
    def capture(dialect, conn_rec, cargs, cparams):  # type: ignore[no-untyped-def]
        seen.update(cparams)
        raise Captured

    with pytest.raises(Captured):
        engine.connect()
    return seen


def test_postgresql_connections_get_timeouts_and_keepalives() -> None:
    params = connect_params("postgresql://flock@db.invalid:5432/alerts")
    for key, value in PG_CONNECT_DEFAULTS.items():
        assert params[key] == value, key
    assert params["connect_timeout"] == 10 and params["tcp_user_timeout"] == 30_000


def test_the_url_wins_over_the_defaults() -> None:
    params = connect_params("postgresql://flock@db.invalid:5432/alerts?connect_timeout=3&keepalives_idle=7")
    assert params["connect_timeout"] == "3" and params["keepalives_idle"] == "7"
    assert params["tcp_user_timeout"] == 30_000


def test_sqlite_gets_none_of_them(tmp_path) -> None:  # type: ignore[no-untyped-def]
    params = connect_params(f"sqlite:///{tmp_path / 'a.db'}")
    assert not set(PG_CONNECT_DEFAULTS) & set(params)


def test_a_server_that_never_answers_is_an_error_not_a_hang() -> None:
    """A listener that accepts and then says nothing, like a host behind a cut network
    whose packets are dropped: the connection attempt fails after connect_timeout."""
    silent = socket.create_server(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    try:
        engine = make_engine(f"postgresql://flock@127.0.0.1:{port}/alerts?connect_timeout=2")
        started = time.monotonic()
        with pytest.raises(OperationalError), engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert time.monotonic() - started < 10
    finally:
        silent.close()
