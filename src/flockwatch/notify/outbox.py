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


@dataclass(frozen=True)
class NewMessage:
    notification_id: str
    receiver: str
    group_key: str
    sequence: int
    kind: str
    payload: str
    template_error: str | None
    fingerprints: list[str]
    status: str = "pending"


def insert_messages(conn: Connection, messages: list[NewMessage], *, now: float, deadline: float) -> list[int]:
    """Write messages (and which alerts each carries) in two statements; returns their ids."""
    if not messages:
        return []
    ids = list(conn.execute(
        OUTBOX.insert().returning(OUTBOX.c.id, sort_by_parameter_order=True),
        [{"notification_id": m.notification_id, "receiver": m.receiver, "group_key": m.group_key,
          "sequence": m.sequence, "kind": m.kind, "payload": m.payload, "template_error": m.template_error,
          "status": m.status, "created_at": now, "next_attempt_at": now, "deadline_at": now + deadline,
          "attempts": 0, "lease_until": 0.0} for m in messages],
    ).scalars())
    links = [{"outbox_id": oid, "fingerprint": fp}
             for oid, m in zip(ids, messages) for fp in dict.fromkeys(m.fingerprints)]
    if links:
        conn.execute(OUTBOX_ALERTS.insert(), links)
    return ids


def insert_message(conn: Connection, *, now: float, deadline: float, fingerprints: Iterable[str] = (),
                   status: str = "pending", **fields: object) -> int:
    message = NewMessage(fingerprints=list(fingerprints), status=status, **fields)  # type: ignore[arg-type]
    return insert_messages(conn, [message], now=now, deadline=deadline)[0]


@dataclass(frozen=True)
class PendingMessage:
    id: int
    group_key: str
    receiver: str
    fingerprints: frozenset[str]


def unsent_for_groups(conn: Connection, group_keys: list[str], now: float) -> list[PendingMessage]:
    """Messages of these groups that no dispatcher holds right now (candidates to supersede)."""
    if not group_keys:
        return []
    rows = conn.execute(
        select(OUTBOX.c.id, OUTBOX.c.group_key, OUTBOX.c.receiver).where(
            OUTBOX.c.group_key.in_(group_keys), OUTBOX.c.status == "pending", OUTBOX.c.lease_until < now)
    ).all()
    if not rows:
        return []
    fps: dict[int, set[str]] = {r.id: set() for r in rows}
    for oid, fp in conn.execute(
        select(OUTBOX_ALERTS.c.outbox_id, OUTBOX_ALERTS.c.fingerprint).where(OUTBOX_ALERTS.c.outbox_id.in_(list(fps)))
    ):
        fps[oid].add(fp)
    return [PendingMessage(r.id, r.group_key, r.receiver, frozenset(fps[r.id])) for r in rows]


def supersede(conn: Connection, ids: list[int], now: float) -> list[str]:
    """Mark older unsent messages replaced by a newer one that lists every alert they
    listed; returns the receivers of those actually replaced (a row a dispatcher
    claimed in the meantime is left to be delivered)."""
    if not ids:
        return []
    return list(conn.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(ids), OUTBOX.c.status == "pending", OUTBOX.c.lease_until < now)
        .values(status="superseded", finished_at=now, claim=None)
        .returning(OUTBOX.c.receiver)
    ).scalars())


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
