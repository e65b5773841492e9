"""Counting within a sliding event-time window, per partition key: the engine behind
`threshold`, `distinct_count`, `near_duplicate` and `propagation`.

State of one key (JSON-serialisable, bounded):

    {"t": latest ts, "ev": ((ts, event_id, agent_id, value, fan, sample, sig), ...),
     "inc": open incident or None, "d": when this bucket last deferred to a lower one}

Everything in an entry is a tuple of atoms (`fan` a tuple too) unless an incident is
open, so CPython's cyclic garbage collector stops tracking the records, then the
`ev` tuple, and at its next full collection the entry itself: most keys hold one or
two events and then sit idle until they expire, and a collection no longer walks
them. (`ev` was a list, always tracked: two containers per key.) One record object
serves all of an event's keys. (A changelog restores them as lists; code only
indexes and slices them, and the next event makes `ev` a tuple again.)

`value` is what is counted (the event id, or the `distinct` field's value); `fan` is
set when the rule's keys fan out (URLs, MinHash bands): the CRC32s of all the
event's partition keys. It lets a bucket see that a *lower* bucket (smaller key hash)
holds at least `threshold` of the same events and will report the incident itself,
so one cascade spread over several LSH bands or URLs gives one alert, not several.
The choice depends only on the bucket's own content, so it is the same in `scan`
and in a worker that owns only this key.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from flockwatch.detect.incident import Incident, grow, open_incident, still_open
from flockwatch.detect.text_sig import SIG_SIZE, equal_lanes, lanes_needed

MAX_KEPT = 64  # events remembered per key: bounds memory and per-event work for a runaway key
RECENT_PEERS = 8  # an open incident grows by an event like one of this many recent ones
COMPARE_LAST = 16  # similarity is checked against this many most recent events of a bucket


_TS = itemgetter(0)

# (ts, event_id, agent_id, value, fan, sample, sig): one remembered event.
Record = tuple[float, str, str, str | None, tuple[int, ...] | None, str | None, int | None]


def key_hash(key: str) -> int:
    return zlib.crc32(key.encode())


def fan_of(keys: Sequence[str]) -> tuple[int, ...]:
    """The record's `fan`: every key's `key_hash`, sorted (without a call per key)."""
    return tuple(sorted(map(zlib.crc32, map(str.encode, keys))))


class WindowCount:
    def __init__(self, window: float, threshold: int, distinct: bool, max_kept: int = MAX_KEPT,
                 min_similarity: float = 0.0):
        self.window = window
        self.threshold = threshold
        self.distinct = distinct
        self.max_kept = max_kept
        self.min_similarity = min_similarity  # > 0: count only events this like the new one

    @property
    def min_similarity(self) -> float:
        return self._min_similarity

    @min_similarity.setter
    def min_similarity(self, value: float) -> None:
        self._min_similarity = value
        self._lanes = lanes_needed(value)  # the same test as packed_similarity >= value
        # Comparing by similarity only ever looks at the last COMPARE_LAST events (and an
        # open incident at fewer): keeping more changed nothing but the state's size. A
        # busy LSH bucket held 64 records of ~420 bytes, re-sent to the changelog each
        # batch: near_duplicate_spam was ~8.9 of ~10.4 KB of changelog per event.
        self._kept = self.max_kept if value <= 0 else min(self.max_kept, COMPARE_LAST)

    def measure(self, events: Sequence[Sequence[Any]]) -> int:
        if not self.distinct:
            return len(events)
        return len({e[3] for e in events if e[3] is not None})

    def add(
        self, entry: dict[str, Any] | None, key: str, record: Record
    ) -> tuple[dict[str, Any], Incident | None, int]:
        """Count one event, `record` = (ts, event_id, agent_id, value, fan, sample, sig);
        returns (new entry, incident to report or None, measure).
        With `min_similarity`, only the events whose MinHash signature `sig` is that
        similar to the new event's count (a bucket's chance collisions do not), and an
        open incident grows only by events similar to one already in it.
        The caller stores the entry back (Faust tables changelog on assignment), and
        passes one record object to all of an event's keys: a near-duplicate text is in
        ten LSH buckets, and one shared tuple is ten times fewer objects to allocate,
        keep and (for the similarity loop below) fetch from memory."""
        ts = record[0]
        if entry is None:
            # threshold >= 2 and max_kept >= 1: a new key's first event opens nothing.
            return {"t": ts, "ev": (record,), "inc": None}, None, 0
        events: tuple[Any, ...] = entry["ev"]
        incident: Incident | None = entry["inc"]
        if events and events[-1][0] >= ts:
            event_id = record[1]
            for e in reversed(events):  # a replayed event must not count twice (same ts: look at the tail)
                if e[0] < ts:
                    break
                if e[1] == event_id:
                    return entry, None, 0
            late = events[-1][0] > ts
            events = (*events, record)
            if late:
                events = tuple(sorted(events, key=_TS))  # late events within the window still count
        else:
            events = (*events, record)
        latest = entry["t"]
        if ts > latest:
            latest = entry["t"] = ts
        horizon = latest - self.window
        if events[0][0] < horizon:  # in time order: the expired events are a prefix
            expired = 1
            while expired < len(events) and events[expired][0] < horizon:
                expired += 1
            events = events[expired:]
        if len(events) > self._kept:
            events = events[-self._kept:]
        entry["ev"] = events
        if incident is not None:
            if not still_open(incident, ts, self.window):
                incident = entry["inc"] = None  # closed for good: a late event must not revive it
            else:
                # Growing: the incident is already established; compare with a few recent
                # events only, so a big cascade costs no more per event than a small one.
                recent = events[-RECENT_PEERS - 1:]
                if self._similar(recent, record[6], record[1]):
                    grow(incident, ts, record[1], record[2], record[5])
                    return entry, incident, len(incident["agents"]) if self.distinct else incident["n"]
                return entry, None, 0
        deferred_at = entry.get("d")
        if deferred_at is not None and ts - deferred_at <= self.window:
            return entry, None, 0  # a lower bucket reports this cascade; stay quiet, cheaply
        # measure(peers) <= len(peers): below the threshold in length, no incident can
        # open, and the (unused) measure is not worth computing. Almost every bucket
        # event of a busy stream ends here.
        threshold = self.threshold
        if len(events) < threshold:
            return entry, None, 0
        sig = record[6]
        if self._lanes and sig is not None:
            last = events if len(events) <= COMPARE_LAST else events[-COMPARE_LAST:]
            if len(last) < threshold:
                return entry, None, 0
            lanes = self._lanes
            # Equal 8-bit lanes of the packed signatures (zero bytes of a ^ b, see
            # equal_lanes). Stop once too few events are left to reach the threshold:
            # a new text almost never has a near-duplicate, and these comparisons
            # (cache misses on scattered records) were the pack's biggest cost.
            # A zero byte has no set bit, so more than `max_bits` set bits in a ^ b
            # means fewer than `lanes` zero bytes: one popcount rejects ~3/4 of a
            # crowded bucket's unrelated texts without the bytes conversion and
            # count (twice the cost; bytes.count parses its arguments slowly).
            max_bits = 8 * (SIG_SIZE - lanes)
            allowed = len(last) - threshold  # misses that still leave `threshold`
            for e in last:
                other = e[6]
                if (other is None or (x := other ^ sig).bit_count() > max_bits
                        or x.to_bytes(SIG_SIZE).count(0) < lanes):
                    allowed -= 1
                    if allowed < 0:
                        return entry, None, 0
            peers = [e for e in last if e[6] is not None and (e[6] ^ sig).to_bytes(SIG_SIZE, "little").count(0) >= lanes]
        else:
            peers = events
        if len(peers) < threshold:
            return entry, None, 0
        measure = self.measure(peers)
        if measure >= threshold:
            if self._deferred(peers, key):
                entry["d"] = ts
            else:
                entry["inc"] = incident = open_incident([(e[0], e[1], e[2], e[5]) for e in peers])
                return entry, incident, measure
        return entry, None, measure

    def _similar(self, recent: Sequence[Sequence[Any]], sig: int | None, event_id: str) -> bool:
        if self.min_similarity <= 0 or sig is None:
            return True
        lanes = self._lanes
        return any(e[1] != event_id and e[6] is not None and equal_lanes(e[6], sig) >= lanes for e in recent)

    def _deferred(self, events: Sequence[Sequence[Any]], key: str) -> bool:
        """True when a bucket with a smaller key hash holds `threshold` of these events."""
        mine = key_hash(key)
        groups: dict[int, list[Sequence[Any]]] = defaultdict(list)
        for e in events:
            for h in e[4] or ():
                if h < mine:
                    groups[h].append(e)
        return any(len(g) >= self.threshold and self.measure(g) >= self.threshold for g in groups.values())
