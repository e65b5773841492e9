"""The worker's repartition step: records on `<events topic>.by-key`, and the
reordering second stage that consumes them. No Kafka here (unit-tested without a
broker); `runtime.py` sends and acknowledges.

Stage 1 (the firehose agent) runs rules keyed by agent in place and turns matches of
every other stateful rule into `Forward`s. Before acknowledging its batch it publishes
them, one record per target partition carrying every event of the batch forwarded
there (each with the rules and keys it is owned there for; split at
`MAX_RECORD_BYTES`), then one *watermark* per firehose partition of the batch to every
partition of the topic: "partition p has forwarded everything before event time T".
One record per event and partition (~1.9 records per firehose event with every pack)
cost more in Kafka and Faust per-record work than the stateful rules they carried.
On a timer it repeats the watermarks of the partitions it owns, and marks a partition
*idle* once every record in it is acknowledged (nothing of it is left to forward).

Stage 2 (`KeyedStage`) keeps one `ReorderBuffer` per partition it owns, fed by that
partition's records (a watermark only vouches for the records sent before it to the
same partition). It releases forwards in (event time, event id) order below the least
watermark of the busy firehose partitions; a record is acknowledged once every event
in it is released, so a crash or a rebalance replays whatever is still held.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import math
from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, NamedTuple, TypeVar

from pydantic import ValidationError
from pydantic_core import to_json

from flockwatch.detect.repartition import Forward, ReorderBuffer, key_partition
from flockwatch.ingest.event import Event

log = logging.getLogger(__name__)

BY_KEY_SUFFIX = ".by-key"
WATERMARK_KEY = b"\x00watermark"
# Well under Kafka's default max.message.bytes (1 MiB) with room for the batch overhead.
MAX_RECORD_BYTES = 256 * 1024

H = TypeVar("H")  # the transport's handle on a record (a Faust event), acknowledged later


def by_key_topic(events_topic: str) -> str:
    return events_topic + BY_KEY_SUFFIX


class Outgoing(NamedTuple):
    """A record for an explicit partition: the shape `outbox.send_records` takes."""

    partition: int
    key: bytes
    value: bytes


@dataclass(slots=True)
class ForwardRecord:
    source: int  # firehose partition it came from
    event: Event
    forwards: list[Forward]


@dataclass(frozen=True, slots=True)
class Watermark:
    source: int
    ts: float  # -inf: nothing seen yet
    idle: bool


def forward_records(forwards: Iterable[tuple[int, Forward]], partitions: int,
                    max_bytes: int = MAX_RECORD_BYTES, written: WrittenRecords | None = None) -> list[Outgoing]:
    """(source partition, forward) pairs -> one record per target partition (more when
    it would pass `max_bytes`) of `head\nevent` line pairs, one pair per event object
    and target, in the order the engine emitted them (an event before the content
    decoded from it: they share an event id, and stage 2 keeps their arrival order).
    `written`: where to remember what each record holds, for this process's stage 2."""
    groups: dict[tuple[int, int], ForwardRecord] = {}
    for source, fwd in forwards:
        target = key_partition(fwd.rule_id, fwd.key, partitions)
        slot = (id(fwd.event), target)
        group = groups.get(slot)
        if group is None:
            group = groups[slot] = ForwardRecord(source, fwd.event, [])
        group.forwards.append(fwd)
    dumped: dict[int, bytes] = {}
    per_target: dict[int, list[tuple[bytes, ForwardRecord]]] = {}
    for (event_ref, target), group in groups.items():
        body = dumped.get(event_ref)
        if body is None:
            body = dumped[event_ref] = group.event.model_dump_json(exclude_defaults=True).encode()
        # pydantic-core's to_json: the same compact UTF-8 JSON as json.dumps, ~5x faster.
        head = to_json({"src": group.source, "f": [[f.rule_id, f.key, f.evidence] for f in group.forwards]})
        per_target.setdefault(target, []).append((head + b"\n" + body, group))
    out = []
    for target, entries in per_target.items():
        chunk: list[bytes] = []
        held: list[ForwardRecord] = []
        size = 0
        for pair, group in entries:
            if chunk and size + len(pair) > max_bytes:
                out.append(_record(target, chunk, held, written))
                chunk, held, size = [], [], 0
            chunk.append(pair)
            held.append(group)
            size += len(pair) + 1
        out.append(_record(target, chunk, held, written))
    return out


def _record(target: int, chunk: list[bytes], records: list[ForwardRecord], written: WrittenRecords | None) -> Outgoing:
    value = b"\n".join(chunk)
    if written is not None:
        written.remember(target, value, records)
    # The key only names the record in logs (its first event): the partition is explicit.
    return Outgoing(target, records[0].event.event_id.encode(), value)


class WrittenRecords:
    """Forward records this process wrote, by their bytes, until stage 2 reads them.

    Stage 2 mostly reads records its own process wrote (with one worker, all of them):
    those are taken back as the objects they were written from instead of being parsed
    again, which was about a third of stage 2's work outside the engine. They are what
    the bytes say (scan, which never serialises forwards, finds the same alerts as
    workers that parse them). Only records for `partitions` (the ones this process
    reads; None: all) are kept; those not read before `max_bytes` of newer ones are
    forgotten (and parsed if they are read)."""

    def __init__(self, max_bytes: int = 16 * 1024 * 1024):
        self.max_bytes = max_bytes
        self.partitions: set[int] | None = None
        self._records: dict[bytes, list[ForwardRecord]] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._records)

    def remember(self, partition: int, value: bytes, records: list[ForwardRecord]) -> None:
        if self.partitions is not None and partition not in self.partitions:
            return
        while self._records and self._bytes + len(value) > self.max_bytes:
            oldest = next(iter(self._records))
            del self._records[oldest]
            self._bytes -= len(oldest)
        if value not in self._records:
            self._records[value] = records
            self._bytes += len(value)

    def take(self, value: bytes) -> list[ForwardRecord] | None:
        records = self._records.pop(value, None)
        if records is not None:
            self._bytes -= len(value)
        return records


def watermark_records(source: int, ts: float, idle: bool, partitions: int) -> list[Outgoing]:
    value = json.dumps({"wm": source, "ts": None if math.isinf(ts) else ts, "idle": idle}).encode()
    return [Outgoing(q, WATERMARK_KEY, value) for q in range(partitions)]


def decode(value: bytes, written: WrittenRecords | None = None) -> list[ForwardRecord] | Watermark:
    """A watermark, or the forwarded events of one record in order. Raises ValueError on
    a record this module did not write. (JSON escapes newlines inside strings, so a
    newline only ever separates lines written here.)"""
    taken = written.take(value) if written is not None else None
    if taken is not None:
        return taken
    lines = value.split(b"\n")
    try:
        if len(lines) == 1:
            meta = json.loads(lines[0])
            ts = meta["ts"]
            return Watermark(int(meta["wm"]), -math.inf if ts is None else float(ts), bool(meta["idle"]))
        if len(lines) % 2:
            raise ValueError("a forward record holds head and event line pairs")
        out = []
        # The heads in one parse: json.loads per head was a visible share of stage 2.
        heads = json.loads(b"[" + b",".join(lines[::2]) + b"]")
        for meta, body in zip(heads, lines[1::2]):
            event = _decoded_event(body)
            forwards = [Forward(str(rule_id), str(key), event, evidence) for rule_id, key, evidence in meta["f"]]
            out.append(ForwardRecord(int(meta["src"]), event, forwards))
        return out
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        raise ValueError(f"not a repartition record: {exc}") from None


# An event forwarded to several partitions arrives once per partition, usually in the
# same poll when one worker owns them: decode its body once. Events are not mutated
# downstream (scan shares one Event between all rules the same way).
EVENT_MEMO_SIZE = 4096
_event_memo: dict[bytes, Event] = {}


def _decoded_event(body: bytes) -> Event:
    event = _event_memo.get(body)
    if event is None:
        event = Event.model_validate_json(body)
        if len(_event_memo) >= EVENT_MEMO_SIZE:
            _event_memo.clear()
        _event_memo[body] = event
    return event


@dataclass(slots=True)
class Held(Generic[H]):
    partition: int  # repartition partition it was read from (= changelog partition of its keys)
    record: ForwardRecord
    handle: H
    # Events of the same Kafka record not yet released, shared by all of them: the
    # record is acknowledged when it reaches 0. A rebalance drops held events with their
    # counter, so a record partly released then is never acknowledged: it is read again.
    unreleased: list[int]


def _order(held: Held[H]) -> tuple[float, str]:
    return held.record.event.epoch, held.record.event.event_id


class KeyedStage(Generic[H]):
    """Stage 2's buffers: `accept` records as they are read, `release` what the
    watermarks allow. Records that need no processing (watermarks, replayed copies of
    held records, garbage) come back from `accept` to be acknowledged at once."""

    def __init__(self, sources: int):
        self.sources = sources
        self.buffers: dict[int, ReorderBuffer[Held[H]]] = {}
        self.late = 0  # forwards that arrived below the released event time
        self.written = WrittenRecords()  # what this process's stage 1 forwarded, to skip parsing it

    def __len__(self) -> int:
        return sum(len(b) for b in self.buffers.values())

    def buffer(self, partition: int) -> ReorderBuffer[Held[H]]:
        buf = self.buffers.get(partition)
        if buf is None:
            buf = self.buffers[partition] = ReorderBuffer(self.sources)
        return buf

    def accept(self, partition: int, value: bytes | None, handle: H) -> H | None:
        """Take one record; returns its handle if it can be acknowledged now."""
        try:
            rec = decode(value or b"", self.written)
        except ValueError:
            log.warning("dropping a malformed record on partition %d of the repartition topic", partition)
            return handle
        buf = self.buffer(partition)
        if isinstance(rec, Watermark):
            buf.advance(rec.source, rec.ts, rec.idle)
            return handle
        digest = hashlib.blake2b(value or b"", digest_size=16).digest()
        unreleased = [0]
        for n, fr in enumerate(rec):
            ts = fr.event.epoch
            # A replayed copy of a record still held: the held events count, not these.
            if buf.add(ts, fr.event.event_id, Held(partition, fr, handle, unreleased), dedupe=(digest, n)):
                unreleased[0] += 1
                if ts < buf.released_to:
                    self.late += 1
        return None if unreleased[0] else handle

    @staticmethod
    def finished(released: Iterable[Held[H]]) -> list[H]:
        """Handles of the records whose last held event is among `released`: to be
        acknowledged once those events' effects are durable."""
        done = []
        for held in released:
            held.unreleased[0] -= 1
            if held.unreleased[0] == 0:
                done.append(held.handle)
        return done

    def low_watermark(self) -> float | None:
        """Event time below which no partition here will release anything more (except
        late records): what forwarded rules' state may expire by. Partitions release
        independently, so the one furthest behind decides."""
        marks = [b.watermark() for b in self.buffers.values()]
        return min(marks) if marks else None

    def release(self) -> list[Held[H]]:
        """What every partition may release, merged in (ts, event id) order: observed in
        that order, the latest event time observed never passes an unreleased one of
        another partition by more than `low_watermark` allows (state expiry relies on it)."""
        batches = [self.buffers[p].release() for p in sorted(self.buffers)]
        return list(heapq.merge(*batches, key=_order))

    def drop_held(self, keep_partitions: set[int] | None = None) -> int:
        """Forget held records (not acknowledged, so they are read again): all of them
        before a rebalance (Faust re-reads every partition from its committed offset),
        and whole buffers of partitions that moved away (`keep_partitions`)."""
        dropped = 0
        for partition in list(self.buffers):
            buf = self.buffers[partition]
            if keep_partitions is not None and partition in keep_partitions:
                continue
            if keep_partitions is not None:
                dropped += len(buf)
                del self.buffers[partition]
            else:
                dropped += buf.discard(lambda _held: False)
        return dropped


class AckOrder(Generic[H]):
    """Stage 2's acknowledgements, given back in read order per partition.

    Faust commits past a one-record gap: `Consumer._new_offset` only holds back when the
    first acknowledged offset is more than one past the committed one (and not at all
    when that is 0). Stage 2 holds a record while it acknowledges the watermarks read
    after it, so Faust committed held records before their events were observed (a
    crash then lost them, and "drained" did not mean "nothing held"). A handle is given
    back here only once every handle read before it in its partition is done."""

    def __init__(self) -> None:
        # partition -> (slots in read order, id(handle) -> slot); a slot is [handle, done].
        # A deque, not an ordered dict popped from the front: thousands of records can be
        # held behind one, and each `done` must cost O(what it releases), not O(held).
        self._read: dict[int, tuple[deque[list[Any]], dict[int, list[Any]]]] = {}

    def __len__(self) -> int:
        return sum(len(q) for q, _ in self._read.values())

    def read(self, partition: int, handle: H) -> None:
        entry = self._read.get(partition)
        if entry is None:
            entry = self._read[partition] = (deque(), {})
        slot = [handle, False]
        entry[0].append(slot)
        entry[1][id(handle)] = slot

    def done(self, partition: int, handle: H) -> list[H]:
        """Mark `handle` done; returns the handles that may now be acknowledged, in order.
        A handle forgotten since it was read (a rebalance) gives nothing."""
        entry = self._read.get(partition)
        slot = entry[1].get(id(handle)) if entry is not None else None
        if entry is None or slot is None or slot[0] is not handle:
            return []
        slot[1] = True
        queue, index = entry
        ready: list[H] = []
        while queue and queue[0][1]:
            h = queue.popleft()[0]
            del index[id(h)]
            ready.append(h)
        return ready

    def forget(self, keep_partitions: set[int] | None = None) -> None:
        """Drop what was read (it is read again after a rebalance), except `keep_partitions`."""
        for partition in list(self._read):
            if keep_partitions is None or partition not in keep_partitions:
                del self._read[partition]
