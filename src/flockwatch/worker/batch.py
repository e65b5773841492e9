"""One batch of firehose records through the engine, into the store.

No Kafka here: the runtime hands in plain `Record`s and publishes what comes out, so
this step is unit-tested without a broker. Two phases because they run in different
places: `evaluate` is CPU work on the event loop thread (the engine is not thread-
safe and its state must not change under a running batch); `store` is blocking I/O
run in a worker thread.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from flockwatch.alerts.alert import Alert
from flockwatch.alerts.collector import AlertCollector
from flockwatch.detect.repartition import Forward
from flockwatch.metrics.registry import Metrics
from flockwatch.notify.notifier import Notifier
from flockwatch.pipeline.processor import Processor
from flockwatch.pipeline.rejection_log import RejectionLog
from flockwatch.store.alert_store import AlertStore, StoredAlert
from flockwatch.worker.table_state import TableState


@dataclass(frozen=True, slots=True)
class Record:
    value: bytes | None
    key: bytes | None
    topic: str
    partition: int
    offset: int

    @property
    def source(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}


@dataclass
class DeadLetter:
    key: bytes | None
    value: bytes  # the `flockwatch.ingest.dead_letter` record as JSON


@dataclass
class BatchOutcome:
    alerts: list[Alert] = field(default_factory=list)  # merged by fingerprint within the batch
    event_ts: list[float] = field(default_factory=list)  # one per event that produced an alert
    dead_letters: list[DeadLetter] = field(default_factory=list)
    events: int = 0  # valid events
    forwards: list[tuple[int, Forward]] = field(default_factory=list)  # (firehose partition, forward)
    partition_ts: dict[int, float] = field(default_factory=dict)  # latest event time per firehose partition
    # What the store answered, once it has: a retry after a later step failed (the
    # notifier's INSERT, in its own transaction) must not store again, or every alert
    # would come back "unchanged" - published as a replay and not counted as stored.
    stored: list[StoredAlert] | None = None


@dataclass
class Publication:
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


class BatchStep:
    def __init__(self, processor: Processor, store: AlertStore, metrics: Metrics | None = None,
                 state: TableState | None = None, clock: Callable[[], float] = time.time,
                 notifier: Notifier | None = None, rejections: RejectionLog | None = None):
        self.processor = processor
        self.rejections = rejections  # log lines for rejected records (also dead-lettered and counted)
        self.store_ = store
        self.notifier = notifier
        self.metrics = metrics
        self.state = state
        self.clock = clock

    def evaluate(self, records: Sequence[Record]) -> BatchOutcome:
        out = BatchOutcome()
        collector = AlertCollector()
        state = self.state
        engine = self.processor.engine
        repartition = getattr(engine, "repartition", False)
        latest = out.partition_ts
        if state is not None:
            state.sync()  # what a rebalance's recovery restored, before any event reads it
        for rec in records:
            if state is not None:
                state.partition = rec.partition  # stateful writes belong to this partition
            outcome = self.processor.handle(rec.value if rec.value is not None else b"", rec.source)
            if outcome.dead_letter is not None:
                if self.rejections is not None:
                    self.rejections.note(outcome.dead_letter)
                out.dead_letters.append(
                    DeadLetter(rec.key, json.dumps(outcome.dead_letter, ensure_ascii=False).encode())
                )
                if repartition:
                    engine.take_forwards()  # emitted before the engine failed on it: dropped with it
                continue
            out.events += 1
            if repartition:
                out.forwards.extend((rec.partition, fwd) for fwd in engine.take_forwards())
            if outcome.event_ts is not None and outcome.event_ts > latest.get(rec.partition, float("-inf")):
                latest[rec.partition] = outcome.event_ts
            if outcome.alerts:
                collector.add(outcome.alerts)
                if outcome.event_ts is not None:
                    out.event_ts.extend([outcome.event_ts] * len(outcome.alerts))
        out.alerts = collector.alerts()
        # Counters are pushed once per batch, not only every 256 events: at a trickle of
        # traffic events_total would otherwise stand still and trip the deadman alert.
        self.processor.engine.flush_metrics()
        if self.rejections is not None:
            self.rejections.flush()
        return out

    def store(self, outcome: BatchOutcome) -> list[StoredAlert]:
        """Store the batch's alerts (idempotent by fingerprint); record metrics once stored."""
        stored = outcome.stored
        if stored is None:
            stored = outcome.stored = self.store_.upsert(outcome.alerts) if outcome.alerts else []
        if self.notifier is not None and stored:
            self.notifier.enqueue(stored)  # one INSERT; the dispatcher (flockwatch notify run) delivers
        m = self.metrics
        if m is not None:
            now = self.clock()
            for s in stored:
                if s.changed:
                    m.alerts_stored.labels(s.alert.category, s.alert.severity).inc()
            for ts in outcome.event_ts:
                m.latency.observe(max(0.0, now - ts))
        return stored


def publication(stored: StoredAlert) -> Publication:
    """The alerts-topic record of a stored alert: its merged, stored version, keyed by
    fingerprint. Replays republish too (`change: unchanged`): a crash between storing
    and publishing must not leave the topic without the alert."""
    change = "new" if stored.created else ("updated" if stored.changed else "unchanged")
    return Publication(
        key=stored.alert.fingerprint.encode(),
        value=stored.alert.model_dump_json().encode(),
        headers=[("flockwatch-version", str(stored.version).encode()), ("flockwatch-change", change.encode())],
    )
