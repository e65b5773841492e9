"""The durable outbox: every message is a row; delivery claims due rows with a lease.

Claiming is one UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING: on PostgreSQL
the inner SELECT takes `FOR UPDATE SKIP LOCKED`, so two dispatchers never claim the
same row; on SQLite the single statement holds the database write lock. A claimed
row whose process dies is claimed again when its lease expires: delivery is at
least once, and `notification_id` (the Idempotency-Key header) lets a receiver drop
the rare duplicate.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import case, func, select, update
from sqlalchemy.engine import Connection

from flockwatch.store.notify_tables import NotifyOutbox, NotifyOutboxAlert

OUTBOX = NotifyOutbox.__table__
OUTBOX_ALERTS = NotifyOutboxAlert.__table__


@dataclass(frozen=True)
class Claimed:
    id: int
    notification_id: str
    receiver: str
    payload: str
    attempts: int
    created_at: float
    deadline_at: float
    claim: str


def new_notification_id() -> str:
    return uuid.uuid4().hex


def insert_message(conn: Connection, *, notification_id: str, receiver: str, group_key: str, sequence: int,
                   kind: str, payload: str, template_error: str | None, fingerprints: Iterable[str],
                   now: float, deadline: float, status: str = "pending") -> int:
    result = conn.execute(OUTBOX.insert().values(
        notification_id=notification_id, receiver=receiver, group_key=group_key, sequence=sequence, kind=kind,
        payload=payload, template_error=template_error, status=status, created_at=now, next_attempt_at=now,
        deadline_at=now + deadline, attempts=0, lease_until=0.0,
    ))
    outbox_id = int(result.inserted_primary_key[0])
    links = [{"outbox_id": outbox_id, "fingerprint": fp} for fp in dict.fromkeys(fingerprints)]
    if links:
        conn.execute(OUTBOX_ALERTS.insert(), links)
    return outbox_id


def supersede(conn: Connection, group_key: str, receiver: str, covered: set[str], now: float) -> int:
    """Mark older unsent messages of a group replaced by a newer one, when the newer one
    lists every alert they listed (so nothing they would have told is lost)."""
    pending = conn.execute(
        select(OUTBOX.c.id).where(
            OUTBOX.c.group_key == group_key, OUTBOX.c.receiver == receiver,
            OUTBOX.c.status == "pending", OUTBOX.c.lease_until < now,
        )
    ).scalars().all()
    if not pending:
        return 0
    listed: dict[int, set[str]] = {i: set() for i in pending}
    for oid, fp in conn.execute(
        select(OUTBOX_ALERTS.c.outbox_id, OUTBOX_ALERTS.c.fingerprint).where(OUTBOX_ALERTS.c.outbox_id.in_(pending))
    ):
        listed[oid].add(fp)
    replaceable = [i for i, fps in listed.items() if fps <= covered]
    if not replaceable:
        return 0
    result = conn.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(replaceable), OUTBOX.c.status == "pending", OUTBOX.c.lease_until < now)
        .values(status="superseded", finished_at=now, claim=None)
    )
    return result.rowcount or 0


def claim_due(conn: Connection, receiver: str, limit: int, now: float, lease: float) -> list[Claimed]:
    token = uuid.uuid4().hex
    due = (
        select(OUTBOX.c.id)
        .where(OUTBOX.c.status == "pending", OUTBOX.c.receiver == receiver,
               OUTBOX.c.next_attempt_at <= now, OUTBOX.c.lease_until < now)
        .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    rows = conn.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(due.scalar_subquery()))
        .values(claim=token, lease_until=now + lease)
        .returning(OUTBOX.c.id, OUTBOX.c.notification_id, OUTBOX.c.receiver, OUTBOX.c.payload,
                   OUTBOX.c.attempts, OUTBOX.c.created_at, OUTBOX.c.deadline_at)
    ).all()
    return sorted((Claimed(*r, claim=token) for r in rows), key=lambda c: c.id)


def due_receivers(conn: Connection, now: float) -> dict[str, float]:
    """Receivers with unsent messages and when the earliest is due (claimable)."""
    rows = conn.execute(
        select(OUTBOX.c.receiver, func.min(case(
            (OUTBOX.c.lease_until > OUTBOX.c.next_attempt_at, OUTBOX.c.lease_until), else_=OUTBOX.c.next_attempt_at)))
        .where(OUTBOX.c.status == "pending")
        .group_by(OUTBOX.c.receiver)
    ).all()
    return {r: float(t) for r, t in rows}


def pending_counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(
        select(OUTBOX.c.receiver, func.count()).where(OUTBOX.c.status == "pending").group_by(OUTBOX.c.receiver)
    ).all()
    return {r: int(n) for r, n in rows}
