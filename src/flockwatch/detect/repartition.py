"""Routing of stateful rules whose state is not keyed by agent.

The firehose is partitioned by agent_id, so a rule grouped by anything else (a URL,
a MinHash band, a thread, a pair of agents) sees one key's events on several
partitions. Such rules are *forwarded*: the engine does not call `add_data` for them;
it emits one `Forward` per partition key, and whoever runs the engine routes it to
the one place that owns the key (`key_partition`), where `Engine.observe_forward`
updates the key's state in event-time order.

Order. `scan` reads a time-ordered file; a key's events must reach its detector in
the same order in the worker, where several stage-1 workers race each other. The
`ReorderBuffer` holds forwards and releases them in (event time, event id) order only
below a watermark: the least event time up to which every source (firehose
partition) has forwarded everything. `scan` runs the same buffer with one source, so
ties are broken the same way (by event id, not by file line) in both.
"""

from __future__ import annotations

import heapq
import math
import zlib
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from flockwatch.ingest.event import Event

T = TypeVar("T")


@dataclass(slots=True)
class Forward:
    """One matching event, for one forwarded rule, under one of its partition keys."""

    rule_id: str
    key: str
    event: Event  # with `attrs.derived` when it is content the engine decoded
    evidence: list[dict[str, str]]


def key_partition(rule_id: str, key: str, partitions: int) -> int:
    """The repartition-topic partition (and changelog partition) that owns a rule's key.
    CRC32, not `hash()`: Python randomises string hashes per process, and every worker
    must route a key to the same place."""
    return zlib.crc32(f"{rule_id}\x1e{key}".encode()) % partitions


class ReorderBuffer(Generic[T]):
    """Items with an event time, released in (ts, tie) order once every source's
    watermark has passed them.

    A source's watermark `w` promises: nothing with ts < w will come from it any more
    (a time-ordered source that has emitted an event at w may still emit another at w,
    so items at exactly w wait). An *idle* source (its owner has forwarded everything it
    holds) does not hold the others back; when every source is idle, everything goes.
    Sources that never reported hold everything back: a source nobody has heard from
    may still have anything to say."""

    def __init__(self, sources: int):
        self.sources = sources
        self._marks: list[float] = [-math.inf] * sources
        self._idle: list[bool] = [False] * sources
        self._heard: list[bool] = [False] * sources
        self._heap: list[tuple[float, str, int, Hashable | None, T]] = []
        self._seq = 0
        self._held: set[Hashable] = set()
        self.released_to = -math.inf  # highest ts released so far (for garbage collection)

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, ts: float, tie: str, item: T, dedupe: Hashable | None = None) -> bool:
        """Hold an item; False if an item with the same `dedupe` id is already held (a
        replayed copy of it)."""
        if dedupe is not None:
            if dedupe in self._held:
                return False
            self._held.add(dedupe)
        self._seq += 1
        heapq.heappush(self._heap, (ts, tie, self._seq, dedupe, item))
        return True

    def advance(self, source: int, ts: float, idle: bool = False) -> None:
        """A source's watermark. Watermarks never go back: after a source changes owner,
        the new owner replays from the last commit and reports lower times for a while."""
        if not 0 <= source < self.sources:
            return
        self._heard[source] = True
        if ts > self._marks[source]:
            self._marks[source] = ts
        self._idle[source] = idle

    def watermark(self) -> float:
        if not all(self._heard):
            return -math.inf
        busy = [m for m, idle in zip(self._marks, self._idle) if not idle]
        return min(busy) if busy else math.inf

    def release(self) -> list[T]:
        """Every held item below the watermark, in (ts, tie, arrival) order."""
        return self._pop_below(self.watermark())

    def drain(self) -> list[T]:
        """Everything held, in order (the end of a file)."""
        return self._pop_below(math.inf, inclusive=True)

    def _pop_below(self, limit: float, inclusive: bool = False) -> list[T]:
        out: list[T] = []
        heap = self._heap
        while heap and (heap[0][0] < limit or inclusive):
            ts, _tie, _seq, dedupe, item = heapq.heappop(heap)
            if dedupe is not None:
                self._held.discard(dedupe)
            if ts > self.released_to:
                self.released_to = ts
            out.append(item)
        return out

    def discard(self, keep: Callable[[T], bool]) -> int:
        """Drop held items for which `keep(item)` is false (their partition moved away:
        they were not acknowledged, so the new owner replays them)."""
        kept = [e for e in self._heap if keep(e[4])]
        for e in self._heap:
            if e[3] is not None and not keep(e[4]):
                self._held.discard(e[3])
        dropped = len(self._heap) - len(kept)
        heapq.heapify(kept)
        self._heap = kept
        return dropped
