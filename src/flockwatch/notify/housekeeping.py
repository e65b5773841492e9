"""Housekeeping, run by the router-lease holder at most once a minute:

- **resolve quiet incidents** (`dispatcher.resolve_timeout`, Alertmanager's term): an
  alert that nothing has changed for that long is resolved by `flockwatch` (history
  says so), which sends the receivers' "resolved" message; it reopens if it grows.
  Off by default: many safety teams want a person to close every incident.
- **prune the outbox** (`dispatcher.retention`): delivered, failed, expired and
  superseded messages older than that go, with their attempts. The alert history
  (who acknowledged or resolved what, when) is never pruned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from flockwatch.detect.durations import format_duration
from flockwatch.store.lifecycle import resolve_quiet
from flockwatch.store.notify_tables import NotifyAttempt, NotifyOutbox, NotifyOutboxAlert

log = logging.getLogger(__name__)

OUTBOX = NotifyOutbox.__table__
OUTBOX_ALERTS = NotifyOutboxAlert.__table__
ATTEMPTS = NotifyAttempt.__table__
FINISHED = ("delivered", "failed", "expired", "superseded")
EVERY = 60.0  # seconds between passes: both jobs are about hours, not seconds
PRUNE_BATCH = 1000  # rows per delete, so one pass never holds a long write lock


@dataclass
class HousekeepingReport:
    resolved: int = 0
    pruned: int = 0


def prune_finished(engine: Engine, before: float, limit: int = PRUNE_BATCH) -> int:
    """Delete up to `limit` finished messages created before `before`, with their attempts."""
    with engine.begin() as conn:
        ids = list(conn.execute(
            select(OUTBOX.c.id).where(OUTBOX.c.status.in_(FINISHED), OUTBOX.c.created_at < before)
            .order_by(OUTBOX.c.id).limit(limit)
        ).scalars())
        if ids:
            conn.execute(delete(ATTEMPTS).where(ATTEMPTS.c.outbox_id.in_(ids)))
            conn.execute(delete(OUTBOX_ALERTS).where(OUTBOX_ALERTS.c.outbox_id.in_(ids)))
            conn.execute(delete(OUTBOX).where(OUTBOX.c.id.in_(ids)))
    return len(ids)


class Housekeeper:
    def __init__(self, engine: Engine, *, resolve_timeout: float, retention: float,
                 clock: Callable[[], float]):
        self.engine = engine
        self.resolve_timeout = resolve_timeout
        self.retention = retention
        self.clock = clock
        self._next = 0.0

    def due(self) -> bool:
        return (self.resolve_timeout > 0 or self.retention > 0) and self.clock() >= self._next

    def run(self) -> HousekeepingReport:
        now = self.clock()
        self._next = now + EVERY
        report = HousekeepingReport()
        if self.resolve_timeout > 0:
            quiet_since = datetime.fromtimestamp(now - self.resolve_timeout, tz=timezone.utc)
            report.resolved = len(resolve_quiet(
                self.engine, quiet_since, f"no new evidence for {format_duration(self.resolve_timeout)}"))
            if report.resolved:
                log.info("resolved %d alert(s) quiet for %s", report.resolved, format_duration(self.resolve_timeout))
        if self.retention > 0:
            report.pruned = prune_finished(self.engine, now - self.retention)
        return report
