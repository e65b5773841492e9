"""The worker's side of notifications: hand stored alert changes to the dispatcher.

    stored = store.upsert(alerts)
    notifier.enqueue(stored)      # one INSERT transaction; no HTTP, no config

Enqueueing never waits for a receiver: a dead Slack cannot slow alert processing.
`flockwatch notify run` routes, groups and delivers from the rows written here.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.engine import Engine

from flockwatch.metrics.registry import Metrics
from flockwatch.store.database import create_tables, make_engine
from flockwatch.store.lifecycle import changes_of, record_changes, unrecorded


class Notifier:
    def __init__(self, url: str | None = None, *, engine: Engine | None = None, metrics: Metrics | None = None):
        self.engine = engine or make_engine(url)
        create_tables(self.engine)
        self.metrics = metrics

    def enqueue(self, stored: Iterable) -> int:  # Iterable[StoredAlert]
        """Queue the created or changed alerts of an `AlertStore.upsert` result; returns how many.

        Replays are safe and close a gap: if the worker died after storing a batch but
        before enqueueing it, the replayed upsert reports "unchanged", and those versions
        are found missing from the history and queued now.
        """
        changed, unchanged = changes_of(stored)
        if not changed and not unchanged:
            return 0
        with self.engine.begin() as conn:
            changes = changed + unrecorded(conn, unchanged)
            n = record_changes(conn, changes)
        if self.metrics is not None and n:
            self.metrics.notify_enqueued.inc(n)
        return n
