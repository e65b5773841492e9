"""Exactly-once emission: produce a batch, then record it, with a ledger in between.

    seen filter -> begin(batch, sink position) -> send + flush (acks=all) -> commit

`commit` marks the ids seen and applies the batch's cursor/schedule changes in one
transaction. A crash after `begin` leaves the batch pending; `recover()` asks the
sink which of its ids landed, marks exactly those seen, applies the changes they
justify (a profile snapshot only if its event landed; tracking of new posts always)
and drops the rest, which the next poll re-reads (the cursor did not move) and
emits once.

Dead letters ride along at-least-once: they are diagnostics, keyed by a hash of
reason and raw object so the same bad object is not reported every poll.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from flockwatch.bridge.mapping import Mapped, Rejected
from flockwatch.bridge.metrics import BridgeMetrics
from flockwatch.bridge.sinks import DeadLetterSink, EventSink
from flockwatch.bridge.state import BridgeState, StateChanges
from flockwatch.ingest.dead_letter import dead_letter_record

log = logging.getLogger(__name__)


def dead_letter_key(rejected: Rejected) -> str:
    raw = rejected.failure.raw
    blob = raw if isinstance(raw, bytes) else str(raw).encode()
    return "dead:" + hashlib.sha256(rejected.failure.reason.encode() + b"\0" + blob).hexdigest()[:24]


class Emitter:
    def __init__(self, state: BridgeState, sink: EventSink, dead_letters: DeadLetterSink | None = None,
                 metrics: BridgeMetrics | None = None):
        self.state = state
        self.sink = sink
        self.dead_letters = dead_letters
        self.metrics = metrics
        self.emitted = 0
        self.dead_lettered = 0

    def recover(self) -> int:
        """Resolve a batch interrupted by a crash; return how many of its events had landed."""
        total = 0
        while (pending := self.state.pending()) is not None:
            landed = self.sink.landed(pending.position, pending.keys)
            changes = StateChanges.landed_part(pending.changes, landed)
            self.state.commit(pending.batch_id, {k: pending.keys[k] for k in landed}, changes)
            log.warning("recovered interrupted batch %s: %d of %d events had been produced",
                        pending.batch_id, len(landed), len(pending.keys))
            total += len(landed)
        if self.metrics and total:
            self.metrics.recovered.inc(total)
        return total

    def emit(self, events: Sequence[Mapped], rejects: Sequence[tuple[Rejected, dict[str, Any]]] = (),
             changes: StateChanges | None = None) -> list[Mapped]:
        """Produce the events (and dead letters) not emitted before; return those produced."""
        unique: dict[str, Mapped] = {}
        for m in events:
            unique.setdefault(m.event.event_id, m)
        dead: dict[str, tuple[Rejected, dict[str, Any]]] = {}
        for r, source in rejects:
            dead.setdefault(dead_letter_key(r), (r, source))
        seen = self.state.seen([*unique, *dead]) if (unique or dead) else set()
        fresh = [m for eid, m in unique.items() if eid not in seen]
        fresh_dead = {k: v for k, v in dead.items() if k not in seen}
        if not fresh and not fresh_dead:
            if changes:
                self.state.apply(changes)
            return []
        keys = {m.event.event_id: m.event.epoch for m in fresh}
        now = time.time()
        keys.update({k: now for k in fresh_dead})
        batch_id = uuid.uuid4().hex
        self.state.begin(batch_id, self.sink.position(), keys, changes)
        for m in fresh:
            self.sink.send(m)
        self.sink.flush()
        if self.dead_letters is not None:
            for r, source in fresh_dead.values():
                self.dead_letters.send_record(dead_letter_record(r.failure, {**source, "kind": r.kind}))
            self.dead_letters.flush()
        self.state.commit(batch_id, keys, changes)
        self._count(fresh, fresh_dead.values())
        return fresh

    def _count(self, fresh: list[Mapped], dead: Any) -> None:
        self.emitted += len(fresh)
        dead = list(dead)
        self.dead_lettered += len(dead)
        for r, _ in dead:
            log.warning("dead-lettered %s: %s: %s", r.kind, r.failure.reason, r.failure.message)
        if self.metrics:
            for m in fresh:
                self.metrics.events.labels(m.event.type).inc()
            for r, _ in dead:
                self.metrics.dead_letters.labels(r.failure.reason).inc()
