"""Alert lifecycle: firing -> acknowledged -> resolved, and the history of it all.

Every change of an alert, by flockwatch (created, updated, reopened) or by a person
(acknowledged, resolved), is an `alert_history` row and an inbox row for the
notifier, written in the same transaction as the change itself.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, Engine

from flockwatch.store.notify_tables import AlertHistoryRecord, NotifyInbox
from flockwatch.store.sequence import stamp
from flockwatch.store.tables import AlertRecord, utcnow

ALERTS = AlertRecord.__table__
HISTORY = AlertHistoryRecord.__table__
INBOX = NotifyInbox.__table__

STATUSES = ("firing", "acknowledged", "resolved")
SYSTEM_ACTOR = "flockwatch"


class AlertNotFound(LookupError):
    pass


class LifecycleConflict(ValueError):
    """The transition is not allowed from the alert's current status."""


@dataclass(frozen=True)
class Transition:
    fingerprint: str
    previous: str
    status: str
    changed: bool


@dataclass(frozen=True)
class Change:
    """One stored alert change, as the notifier needs it."""

    fingerprint: str
    version: int
    created: bool
    count: int
    severity: str


def record_changes(conn: Connection, changes: list[Change], now: float | None = None) -> int:
    """History + inbox rows for alert versions just stored; reopens resolved alerts that grew."""
    if not changes:
        return 0
    now = now or time.time()
    fps = [c.fingerprint for c in changes if not c.created]
    reopened: set[str] = set()
    if fps:
        reopened = set(conn.execute(
            update(ALERTS).where(ALERTS.c.fingerprint.in_(fps), ALERTS.c.status == "resolved")
            .values(status="firing", updated_at=utcnow()).returning(ALERTS.c.fingerprint)
        ).scalars())
        if reopened:  # a change of status: the reopened rows are locked now, the counter last
            stamp(conn, reopened)
    rows = []
    for c in changes:
        reason = "created" if c.created else "reopened" if c.fingerprint in reopened else "updated"
        rows.append((c, reason))
    conn.execute(INBOX.insert(), [
        {"fingerprint": c.fingerprint, "version": c.version, "reason": reason, "enqueued_at": now, "lease_until": 0.0}
        for c, reason in rows
    ])
    conn.execute(HISTORY.insert(), [
        {"fingerprint": c.fingerprint, "at": now, "actor": SYSTEM_ACTOR, "action": reason, "version": c.version,
         "detail": {"version": c.version, "count": c.count, "severity": c.severity}}
        for c, reason in rows
    ])
    return len(rows)


def unrecorded(conn: Connection, stored: list[Change]) -> list[Change]:
    """Stored versions the history has not seen: a replay after the worker died between
    storing an alert and enqueueing it (the store then reports "unchanged")."""
    if not stored:
        return []
    seen = dict(conn.execute(
        select(HISTORY.c.fingerprint, func.max(HISTORY.c.version))
        .where(HISTORY.c.fingerprint.in_([c.fingerprint for c in stored]), HISTORY.c.actor == SYSTEM_ACTOR)
        .group_by(HISTORY.c.fingerprint)
    ).all())
    out = []
    for c in stored:
        last = seen.get(c.fingerprint)
        if last is None or last < c.version:
            out.append(Change(c.fingerprint, c.version, last is None, c.count, c.severity))
    return out


def transition(engine: Engine, fingerprint: str, to: str, actor: str, comment: str = "") -> Transition:
    """Acknowledge or resolve. Repeating a transition is a no-op, not an error."""
    if to not in ("acknowledged", "resolved"):
        raise LifecycleConflict(f"cannot move an alert to {to!r}")
    now = time.time()
    with engine.begin() as conn:
        query = select(ALERTS.c.status, ALERTS.c.version).where(ALERTS.c.fingerprint == fingerprint)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            raise AlertNotFound(fingerprint)
        status, version = row
        if status == to:
            return Transition(fingerprint, status, to, False)
        if to == "acknowledged" and status == "resolved":
            raise LifecycleConflict("the alert is resolved; it reopens by itself if it fires again")
        _apply(conn, fingerprint, to, version, actor, {"comment": comment, "from": status}, now)
    return Transition(fingerprint, status, to, True)


def _apply(conn: Connection, fingerprint: str, to: str, version: int, actor: str, detail: dict[str, Any],
           now: float) -> None:
    """The status change, its history row and the notifier's inbox row, in the caller's transaction.
    The alert's row is locked by now, so the change number comes last."""
    conn.execute(update(ALERTS).where(ALERTS.c.fingerprint == fingerprint).values(status=to, updated_at=utcnow()))
    stamp(conn, [fingerprint])
    conn.execute(HISTORY.insert().values(fingerprint=fingerprint, at=now, actor=actor, action=to, detail=detail))
    conn.execute(INBOX.insert().values(fingerprint=fingerprint, version=version, reason=to, enqueued_at=now,
                                       lease_until=0.0))


def history(conn: Connection, fingerprint: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(HISTORY).where(HISTORY.c.fingerprint == fingerprint).order_by(HISTORY.c.id)).mappings()
    return [dict(r) for r in rows]


def changes_of(stored: Iterable[Any]) -> tuple[list[Change], list[Change]]:
    """`StoredAlert`s from `AlertStore.upsert` -> (changed, unchanged) as `Change`s."""
    changed, unchanged = [], []
    for s in stored:
        change = Change(s.alert.fingerprint, s.version, s.created, s.alert.count, s.alert.severity)
        (changed if s.changed else unchanged).append(change)
    return changed, unchanged


def resolve_quiet(engine: Engine, quiet_since: datetime, comment: str, limit: int = 500) -> list[str]:
    """Resolve alerts (firing or acknowledged) that nothing has changed since `quiet_since`:
    the incident stopped growing. Each is resolved in its own transaction that checks
    again, under a row lock on PostgreSQL, that it is still quiet, so an alert the worker
    grows meanwhile stays open. It reopens by itself if it grows later (`record_changes`)."""
    with engine.connect() as conn:
        candidates = list(conn.execute(
            select(ALERTS.c.fingerprint)
            .where(ALERTS.c.status != "resolved", ALERTS.c.updated_at < quiet_since)
            .order_by(ALERTS.c.updated_at).limit(limit)
        ).scalars())
    resolved = []
    for fp in candidates:
        now = time.time()
        with engine.begin() as conn:
            query = select(ALERTS.c.status, ALERTS.c.version, ALERTS.c.updated_at).where(ALERTS.c.fingerprint == fp)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            row = conn.execute(query).first()
            if row is None or row.status == "resolved" or _aware(row.updated_at) >= quiet_since:
                continue
            _apply(conn, fp, "resolved", row.version, SYSTEM_ACTOR,
                   {"comment": comment, "from": row.status, "auto": True}, now)
        resolved.append(fp)
    return resolved


def _aware(value: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; they were stored as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
