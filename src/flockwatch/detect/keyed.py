"""Base of the stateful rule types: state lives under partition keys built from the
rule's `group_by` key specs (see `keys.py`), one state entry per key.

`add_data` (what the engine calls) observes the event under each of its partition
keys; the worker, which routes one copy of the event per key, calls `observe` with
the key that copy was routed by. Every entry records `t`, the latest event time it
saw, and expires `ttl` seconds after it (event time) in `garbage_collect`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import MutableMapping
from typing import Any

from flockwatch.detect.detector import Detector, Finding
from flockwatch.detect.keys import KeySpec, partition_keys
from flockwatch.ingest.event import Event


class KeyedDetector(Detector):
    stateful = True
    group_by: list[KeySpec]
    ttl: float  # seconds of event time a key's state outlives its last event

    def partition_keys(self, event: Event) -> list[str]:
        return partition_keys(self.group_by, event)

    def partition_key(self, event: Event) -> str | None:
        keys = self.partition_keys(event)
        return keys[0] if keys else None

    def group_labels(self, key: str) -> dict[str, str]:
        return dict(zip((s.label for s in self.group_by), key.split("\x1f")))

    def add_data(
        self, event: Event, evidence: list[dict[str, str]], state: MutableMapping[str, Any] | None
    ) -> list[Finding]:
        assert state is not None
        out: list[Finding] = []
        for key in self.partition_keys(event):
            out.extend(self.observe(event, evidence, state, key))
        return out

    @abstractmethod
    def observe(
        self, event: Event, evidence: list[dict[str, str]], state: MutableMapping[str, Any], key: str
    ) -> list[Finding]:
        """Observe one event under one of its partition keys."""

    def garbage_collect(self, watermark: float, state: MutableMapping[str, Any]) -> int:
        horizon = watermark - self.ttl
        stale = [k for k, v in list(state.items()) if v.get("t", float("-inf")) < horizon]
        for k in stale:
            del state[k]
        return len(stale)
