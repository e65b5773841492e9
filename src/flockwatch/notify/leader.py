"""A named lease in the database: which dispatcher routes and flushes groups.

Delivery runs in every dispatcher (rows are claimed one by one), but grouping must
be done by one process at a time or two could send the same group's message. The
holder renews the lease inside each routing transaction, so on PostgreSQL the
lease row stays locked until that transaction commits and a second dispatcher
waits; on SQLite the write lock does the same.
"""

from __future__ import annotations

from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from flockwatch.store.notify_tables import NotifyLease

LEASES = NotifyLease.__table__


def ensure_lease(conn: Connection, name: str) -> None:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(insert(LEASES).values(name=name, holder="", until=0.0).on_conflict_do_nothing(index_elements=["name"]))


def hold(conn: Connection, name: str, holder: str, now: float, ttl: float) -> bool:
    """Take or renew the lease; False if another live holder has it."""
    result = conn.execute(
        update(LEASES)
        .where(LEASES.c.name == name, or_(LEASES.c.holder == holder, LEASES.c.until < now))
        .values(holder=holder, until=now + ttl)
    )
    return result.rowcount == 1
