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
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

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


@dataclass(frozen=True, slots=True)
class Outgoing:
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
                    max_bytes: int = MAX_RECORD_BYTES) -> list[Outgoing]:
    """(source partition, forward) pairs -> one record per target partition (more when
    it would pass `max_bytes`) of `head\nevent` line pairs, one pair per event object
    and target, in the order the engine emitted them (an event before the content
    decoded from it: they share an event id, and stage 2 keeps their arrival order)."""
    groups: dict[tuple[int, int], tuple[int, Event, list[list[object]]]] = {}
    for source, fwd in forwards:
        target = key_partition(fwd.rule_id, fwd.key, partitions)
        slot = (id(fwd.event), target)
        group = groups.get(slot)
        if group is None:
            group = groups[slot] = (source, fwd.event, [])
        group[2].append([fwd.rule_id, fwd.key, fwd.evidence])
    dumped: dict[int, bytes] = {}
    per_target: dict[int, list[tuple[str, bytes]]] = {}
    for (event_ref, target), (source, event, items) in groups.items():
        body = dumped.get(event_ref)
        if body is None:
            body = dumped[event_ref] = event.model_dump_json(exclude_defaults=True).encode()
        head = to_json({"src": source, "f": items})  # compact UTF-8 JSON, ~5x faster than json.dumps
        per_target.setdefault(target, []).append((event.event_id, head + b"\n" + body))
    out = []
    for target, entries in per_target.items():
        chunk: list[bytes] = []
        size = 0
        first = ""
        for event_id, pair in entries:
            if chunk and size + len(pair) > max_bytes:
                out.append(Outgoing(target, first.encode(), b"\n".join(chunk)))
                chunk, size = [], 0
            if not chunk:
                first = event_id  # the key only names the record in logs: the partition is explicit
            chunk.append(pair)
            size += len(pair) + 1
        out.append(Outgoing(target, first.encode(), b"\n".join(chunk)))
    return out


def watermark_records(source: int, ts: float, idle: bool, partitions: int) -> list[Outgoing]:
    value = json.dumps({"wm": source, "ts": None if math.isinf(ts) else ts, "idle": idle}).encode()
    return [Outgoing(q, WATERMARK_KEY, value) for q in range(partitions)]


def decode(value: bytes) -> list[ForwardRecord] | Watermark:
    """A watermark, or the forwarded events of one record in order. Raises ValueError on
    a record this module did not write. (JSON escapes newlines inside strings, so a
    newline only ever separates lines written here.)"""
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
            rec = decode(value or b"")
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
