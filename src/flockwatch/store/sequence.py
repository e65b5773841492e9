"""The store-wide change sequence: every committed change of an alert (stored, grown,
acknowledged, resolved, reopened) sets the alert's `seq` to a number above every
number committed before it. The API's change feed (`order=changes`) pages by
(seq, fingerprint), and that is only safe if a number below one a reader has already
seen can never be committed later.

A database sequence (PostgreSQL `nextval`, an autoincrement) does not promise that:
numbers are handed out when asked for and committed whenever the transaction ends, so
two workers can take 10 and 11, commit 11 first, and a reader that pages past 11 never
sees 10. Here the number comes from one counter row, `UPDATE ... SET value = value + 1`,
whose row lock is held until the transaction ends: the next writer waits for it, so
numbers are taken in commit order (a rolled-back number is taken again, no gap).

The cost is that writers of alert changes take turns for the last moment of their
transactions. Callers take the number after they hold the locks on the alert rows they
change (rows first, counter last, in every writer), so the wait is only the rest of
the transaction, and no lock cycle can form. On SQLite writers take turns anyway.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, inspect, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from flockwatch.store.tables import AlertRecord, AlertSequence

SEQUENCE = AlertSequence.__table__
ALERT_ROWS = AlertRecord.__table__
ALERTS = "alerts"


def next_seq(conn: Connection) -> int:
    """The next number, in the caller's transaction (see the module docstring: take it
    after locking the alert rows the transaction changes)."""
    bump = (update(SEQUENCE).where(SEQUENCE.c.name == ALERTS).values(value=SEQUENCE.c.value + 1)
            .returning(SEQUENCE.c.value))
    value = conn.execute(bump).scalar()
    if value is None:  # the row went missing: start again above every number in use
        _seed(conn)
        value = conn.execute(bump).scalar_one()
    return int(value)


def stamp(conn: Connection, fingerprints: Iterable[str]) -> int:
    """Give these alerts (changed, and locked, by the caller's transaction) the next
    number; returns it. On PostgreSQL one statement, so the counter is held for as
    little as possible: this statement and the commit."""
    fps = sorted(set(fingerprints))
    if conn.dialect.name != "postgresql":
        seq = next_seq(conn)
        conn.execute(update(ALERT_ROWS).where(ALERT_ROWS.c.fingerprint.in_(fps)).values(seq=seq))
        return seq
    taken = (update(SEQUENCE).where(SEQUENCE.c.name == ALERTS).values(value=SEQUENCE.c.value + 1)
             .returning(SEQUENCE.c.value).cte("taken"))
    stamped = (update(ALERT_ROWS).where(ALERT_ROWS.c.fingerprint.in_(fps))
               .values(seq=func.coalesce(select(taken.c.value).scalar_subquery(), ALERT_ROWS.c.seq)).cte("stamped"))
    seq = conn.execute(select(taken.c.value).add_cte(stamped)).scalar()
    if seq is None:  # the counter row went missing (see next_seq)
        seq = next_seq(conn)
        conn.execute(update(ALERT_ROWS).where(ALERT_ROWS.c.fingerprint.in_(fps)).values(seq=seq))
    return int(seq)


def _seed(conn: Connection) -> None:
    start = conn.execute(select(ALERT_ROWS.c.seq).order_by(ALERT_ROWS.c.seq.desc()).limit(1)).scalar() or 0
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(insert(SEQUENCE).values(name=ALERTS, value=start).on_conflict_do_nothing())


def upgrade(engine: Engine) -> None:
    """Give a store created before the sequence its `seq` column and index (0 for the
    alerts already there), and seed the counter. Cheap when there is nothing to do, and
    read-only then: one look at the catalog, one at the counter."""
    if "seq" not in {c["name"] for c in inspect(engine).get_columns("alerts")}:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # IF NOT EXISTS: another process may be upgrading the same store right now.
                conn.exec_driver_sql("ALTER TABLE alerts ADD COLUMN IF NOT EXISTS seq BIGINT NOT NULL DEFAULT 0")
            else:
                try:
                    conn.exec_driver_sql("ALTER TABLE alerts ADD COLUMN seq BIGINT NOT NULL DEFAULT 0")
                except OperationalError as exc:
                    if "duplicate column" not in str(exc):
                        raise
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE INDEX IF NOT EXISTS ix_alerts_seq ON alerts (seq, fingerprint)")
    with engine.connect() as conn:
        # Read first: opening a store must not need its write lock (a worker starting
        # while another process holds a long write would fail with "database is locked").
        if conn.execute(select(SEQUENCE.c.value).where(SEQUENCE.c.name == ALERTS)).first() is not None:
            return
    with engine.begin() as conn:
        _seed(conn)
