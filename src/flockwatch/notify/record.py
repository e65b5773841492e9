"""Recording: every HTTP attempt becomes a `notify_attempts` row and moves its message
to delivered, failed, expired or back to pending with its next attempt time, in one
transaction per batch; metrics are counted after the commit, so they never claim
more than the database holds."""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from flockwatch.metrics.registry import Metrics
from flockwatch.notify.backoff import next_attempt_at
from flockwatch.notify.config import RetryConfig
from flockwatch.notify.delivery import Outcome
from flockwatch.notify.outbox import OUTBOX, OUTBOX_ALERTS, Claimed
from flockwatch.store.notify_tables import NotifyAttempt

ATTEMPTS = NotifyAttempt.__table__


@dataclass(frozen=True)
class AttemptResult:
    claimed: Claimed
    outcome: Outcome
    started_at: float


@dataclass(frozen=True)
class Recorded:
    receiver: str
    attempt_outcome: str  # ok | retry | permanent
    final: str | None  # delivered | failed | expired | superseded, or None while it will be retried
    duration: float
    latency: float | None  # outbox write -> delivered
    retry_at: float | None


def record_results(conn: Connection, results: list[AttemptResult], *, now: float, retry: RetryConfig,
                   rng: random.Random, instance: str) -> list[Recorded]:
    out: list[Recorded] = []
    if not results:
        return out
    conn.execute(ATTEMPTS.insert(), [
        {
            "outbox_id": r.claimed.id, "attempt": r.claimed.attempts + 1, "started_at": r.started_at,
            "duration": r.outcome.duration, "outcome": r.outcome.kind, "status_code": r.outcome.status_code,
            "error": r.outcome.error, "retry_after": r.outcome.retry_after, "instance": instance,
        }
        for r in results
    ])
    for r in results:
        c, o = r.claimed, r.outcome
        common = {"attempts": OUTBOX.c.attempts + 1, "last_status_code": o.status_code, "last_error": o.error,
                  "claim": None, "lease_until": 0.0}
        final: str | None
        retry_at: float | None = None
        if o.kind == "ok":
            # Delivered is the truth even if our lease had lapsed and another process holds the row.
            conn.execute(update(OUTBOX).where(OUTBOX.c.id == c.id, OUTBOX.c.status == "pending")
                         .values(status="delivered", finished_at=now, **common))
            final = "delivered"
        elif o.kind == "retry":
            retry_at = next_attempt_at(now, c.attempts + 1, o.retry_after, retry, rng)
            if _overtaken(conn, c):
                final, values, retry_at = "superseded", {"status": "superseded", "finished_at": now}, None
            elif retry_at > c.deadline_at:
                final, values = "expired", {"status": "expired", "finished_at": now}
            else:
                final, values = None, {"next_attempt_at": retry_at}
            conn.execute(update(OUTBOX).where(OUTBOX.c.id == c.id, OUTBOX.c.claim == c.claim)
                         .values(**values, **common))
        else:
            conn.execute(update(OUTBOX).where(OUTBOX.c.id == c.id, OUTBOX.c.claim == c.claim)
                         .values(status="failed", finished_at=now, **common))
            final = "failed"
        out.append(Recorded(c.receiver, o.kind, final, o.duration,
                            now - c.created_at if final == "delivered" else None, retry_at))
    return out


def _overtaken(conn: Connection, c: Claimed) -> bool:
    """A newer message of the same group to the same receiver lists every alert this one
    did. The grouping stage supersedes such older messages, but not one that was in
    flight at the time; retrying it now would post stale news after the newer one (a
    "firing" after its "resolved")."""
    group_key = select(OUTBOX.c.group_key).where(OUTBOX.c.id == c.id).scalar_subquery()
    newer = list(conn.execute(select(OUTBOX.c.id).where(
        OUTBOX.c.group_key == group_key, OUTBOX.c.receiver == c.receiver, OUTBOX.c.id > c.id,
        OUTBOX.c.status.in_(("pending", "delivered")))).scalars())
    if not newer:
        return False
    listed: dict[int, set[str]] = {i: set() for i in [c.id, *newer]}
    for oid, fp in conn.execute(select(OUTBOX_ALERTS.c.outbox_id, OUTBOX_ALERTS.c.fingerprint)
                                .where(OUTBOX_ALERTS.c.outbox_id.in_(list(listed)))):
        listed[oid].add(fp)
    return any(listed[c.id] <= listed[i] for i in newer)


def count(metrics: Metrics | None, recorded: list[Recorded]) -> None:
    if metrics is None:
        return
    for r in recorded:
        metrics.notification_attempts.labels(r.receiver, r.attempt_outcome).inc()
        metrics.notification_request.labels(r.receiver).observe(r.duration)
        if r.final:
            metrics.notifications.labels(r.receiver, r.final).inc()
        if r.latency is not None:
            metrics.notification_latency.observe(r.latency)
