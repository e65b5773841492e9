"""Base of the stateful rule types: state lives under partition keys built from the
rule's `group_by` key specs (see `keys.py`), one state entry per key.

`add_data` (what the engine calls) observes the event under each of its partition
keys; the worker, which routes one copy of the event per key, calls `observe` with
the key that copy was routed by. Every entry records `t`, the latest event time it
saw, and expires `ttl` seconds after it (event time) in `garbage_collect`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import deque
from collections.abc import MutableMapping
from typing import Any

from flockwatch.detect.detector import Detector, Finding
from flockwatch.detect.keys import KeySpec, partition_keys
from flockwatch.ingest.event import Event

AGENT_KEY = "agent_id"  # the firehose's partitioning key


class TouchQueue:
    """(time, key) of every touch, oldest first, as two deques: floats and strings are
    not containers, so the cyclic garbage collector neither tracks nor scans them
    (a deque of (ts, key) tuples made a tracked tuple per key per event)."""

    __slots__ = ("at", "keys")

    def __init__(self) -> None:
        self.at: deque[float] = deque()
        self.keys: deque[str] = deque()

    def __len__(self) -> int:
        return len(self.at)

    def append(self, ts: float, key: str) -> None:
        self.at.append(ts)
        self.keys.append(key)

    def extend(self, keys: list[str], ts: float) -> None:
        self.at.extend([ts] * len(keys))
        self.keys.extend(keys)

    def clear(self) -> None:
        self.at.clear()
        self.keys.clear()


class KeyedDetector(Detector):
    stateful = True
    group_by: list[KeySpec]
    ttl: float  # seconds of event time a key's state outlives its last event

    _keys_of: tuple[Event | None, list[str]] = (None, [])

    def partition_keys(self, event: Event) -> list[str]:
        # Memoised for the last event object: `add_data` and per-event preparation
        # (fan-out hashes) both need them, and MinHash band keys are not free.
        last, keys = self._keys_of
        if last is not event:
            keys = self.compute_partition_keys(event)
            self._keys_of = (event, keys)
        return keys

    def compute_partition_keys(self, event: Event) -> list[str]:
        """The event's partition keys (what `partition_keys` memoises); override this."""
        return partition_keys(self.group_by, event)

    def partition_key(self, event: Event) -> str | None:
        keys = self.partition_keys(event)
        return keys[0] if keys else None

    @property
    def agent_local(self) -> bool:
        return any(s.label == AGENT_KEY for s in self.group_by)

    def group_labels(self, key: str) -> dict[str, str]:
        return dict(zip((s.label for s in self.group_by), key.split("\x1f")))

    FULL_SCAN_EVERY = 32  # garbage collections between full scans of the state

    def add_data(
        self, event: Event, evidence: list[dict[str, str]], state: MutableMapping[str, Any] | None
    ) -> list[Finding]:
        assert state is not None
        keys = self.partition_keys(event)
        if not keys:
            return []
        return self.observe_keys(event, evidence, state, keys)

    def observe_keys(
        self, event: Event, evidence: list[dict[str, str]], state: MutableMapping[str, Any], keys: list[str]
    ) -> list[Finding]:
        """`observe` and `touched` for several of one event's keys, in order: all of them
        (`add_data`), or those one partition of the repartition topic owns (the engine's
        `observe_forwards`; a near-duplicate text has ten)."""
        if len(keys) == 1:  # most rules: one key per event
            out = self.observe(event, evidence, state, keys[0])
        else:
            out = []
            for key in keys:
                out.extend(self.observe(event, evidence, state, key))
        self.touched_all(keys, event.epoch)
        return out

    def touched(self, key: str, ts: float) -> None:
        """Note that `key` saw an event at `ts` (the worker calls this after `observe`)."""
        self._queue().append(ts, key)

    def touched_all(self, keys: list[str], ts: float) -> None:
        """`touched` for several keys at once."""
        self._queue().extend(keys, ts)

    def _queue(self) -> TouchQueue:
        try:
            return self._touched
        except AttributeError:
            self._touched = TouchQueue()
            return self._touched

    def reset(self) -> None:
        self._queue().clear()  # touches of keys the state no longer holds

    @abstractmethod
    def observe(
        self, event: Event, evidence: list[dict[str, str]], state: MutableMapping[str, Any], key: str
    ) -> list[Finding]:
        """Observe one event under one of its partition keys."""

    def garbage_collect(self, watermark: float, state: MutableMapping[str, Any]) -> int:
        """Expire keys whose last event is older than `ttl` before the watermark.

        Usually only the keys touched long enough ago are checked (a queue in touch
        order, kept in memory beside the state); every FULL_SCAN_EVERY-th call scans
        the whole state, which also catches keys restored from a changelog."""
        horizon = watermark - self.ttl
        self._gc_calls = getattr(self, "_gc_calls", 0) + 1
        queue = self._queue()
        removed = 0
        if self._gc_calls % self.FULL_SCAN_EVERY == 0 or not queue:
            queue.clear()
            never = float("-inf")  # once, not once per key
            stale = [k for k, v in state.items() if v.get("t", never) < horizon]
            for k in stale:
                del state[k]
            return len(stale)
        at, keys = queue.at, queue.keys
        get, never = state.get, float("-inf")
        while at and at[0] < horizon:
            at.popleft()
            key = keys.popleft()
            entry = get(key)
            if entry is not None and entry.get("t", never) < horizon:
                del state[key]
                removed += 1
        return removed
