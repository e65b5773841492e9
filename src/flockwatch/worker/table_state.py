"""Stateful rules' state in the worker: one changelogged Faust table for all rules.

Layout. Table key = `<rule id>\\x1e<detector key>`; table value = `[partition, value]`,
where `partition` is the firehose partition whose events own the key. The changelog
record for a key goes to that partition of the changelog topic, so Faust's assignor
restores a key on the worker that owns the events that update it.

Routing. Rules keyed by agent (every key includes agent_id) are evaluated on the
firehose partition of the agent, and their keys live on that changelog partition.
Every other stateful rule is repartitioned (see `flockwatch.worker.repartition`): its
matches are re-published to `<events topic>.by-key`, partition = `key_partition(rule,
key)`, and observed by a second agent; its keys live on that partition of the
changelog. Both topics and the changelog have the same partition count and are
co-partitioned by Faust's assignor, so partition p of each lands on one worker. A key
keeps the first partition that wrote it, so a key is never split across changelog
partitions.

Two writers. The firehose agent and the repartition agent run interleaved on one
event loop, each with its own batches and acknowledgements; each flushes only the
keys it changed (`writer`), so neither sends the other's changes ahead of that
other's stored alerts.

Crash safety. Changelog records are NOT sent when a detector writes: writes change
the in-memory table at once (later events in the batch must see them), and `flush()`
sends one record per changed key only after the batch's alerts are stored. If the
changelog got ahead of the store, a replayed event would be deduplicated by its
detector and its alert lost; this way a crash replays the batch against the state as
of the last stored batch and regenerates the same alerts (stored idempotently).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from typing import Any

from pydantic_core import to_json

SEP = "\x1e"


def encode(obj: Any) -> bytes:
    """The table's JSON serialisation (what Faust's json codec reads back on recovery).

    pydantic-core's serialiser (already a dependency through pydantic) writes the same
    compact UTF-8 JSON as `json.dumps(..., ensure_ascii=False, separators=(",", ":"))`
    about 8x faster; stateful cascade rules change ~3 keys per event, so the changelog
    encoding was ~100 µs of every event in the worker."""
    return to_json(obj)


class TableState:
    """`StateBackend` over a Faust table's local store (`data`); its changelog records
    come out of `flush()`."""

    def __init__(self, data: MutableMapping[str, Any]):
        self.data = data
        self.partition = 0  # partition of the event being processed; set by the batch step
        self.writer = ""  # who is writing now ("" the firehose agent); set with `partition`
        self._dirty_by: dict[str, dict[str, int]] = {"": {}}  # writer -> table key -> changelog partition
        self._index: dict[str, dict[str, None]] = {}  # rule id -> its keys (ordered set)
        self._index_stale = True
        self._views: dict[str, RuleState] = {}

    def for_rule(self, rule_id: str) -> MutableMapping[str, Any]:
        view = self._views.get(rule_id)
        if view is None:
            view = self._views[rule_id] = RuleState(self, rule_id)
        return view

    def mark_restored(self) -> None:
        """The table's contents changed under us (changelog recovery after a rebalance)."""
        self._index_stale = True

    def drop_partitions(self, partitions: set[int]) -> int:
        """Forget the keys of partitions this worker no longer owns, without changelog records.

        Faust's memory store only forgets keys it restored itself, not keys written here.
        A key left behind would go stale while its new owner updates it, and this worker's
        garbage collection could then tombstone it in the changelog under the new owner.
        Pending changes of those keys are dropped too: the batch that made them was not
        committed here, so the new owner replays it."""
        gone = [k for k, entry in self.data.items() if entry[0] in partitions]
        for k in gone:
            del self.data[k]
            for dirty in self._dirty_by.values():
                dirty.pop(k, None)
        self._index_stale = True
        return len(gone)

    def keys_of(self, rule_id: str) -> dict[str, None]:
        if self._index_stale:
            self._reindex()
        return self._index.setdefault(rule_id, {})

    def _reindex(self) -> None:
        index: dict[str, dict[str, None]] = {}
        for table_key in list(self.data.keys()):
            rule_id, _, key = table_key.partition(SEP)
            index.setdefault(rule_id, {})[key] = None
        self._index = index
        self._index_stale = False

    @property
    def pending(self) -> int:
        return sum(len(d) for d in self._dirty_by.values())

    def touch(self, table_key: str, partition: int) -> None:
        dirty = self._dirty_by.get(self.writer)
        if dirty is None:
            dirty = self._dirty_by[self.writer] = {}
        dirty[table_key] = partition

    def flush(self, writer: str = "") -> list[tuple[int, bytes, bytes | None]]:
        """One changelog record (partition, key, value) per key `writer` changed since its
        last flush, serialised; value None is a tombstone (the key was deleted). The caller
        sends them and waits for the broker before acknowledging the batch."""
        dirty = self._dirty_by.get(writer, {})
        self._dirty_by[writer] = {}
        out = []
        for table_key, partition in dirty.items():
            entry = self.data.get(table_key)  # None: deleted by garbage collection -> tombstone
            out.append((partition, encode(table_key), None if entry is None else encode(entry)))
        return out


class RuleState(MutableMapping[str, Any]):
    """One rule's view: detector key -> value."""

    def __init__(self, backend: TableState, rule_id: str):
        self._b = backend
        self._prefix = rule_id + SEP
        self._rule_id = rule_id

    def __getitem__(self, key: str) -> Any:
        return self._b.data[self._prefix + key][1]

    def get(self, key: str, default: Any = None) -> Any:
        # Mapping.get would go through __getitem__ and a KeyError for every new key.
        entry = self._b.data.get(self._prefix + key)
        return default if entry is None else entry[1]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (self._prefix + key) in self._b.data

    def __setitem__(self, key: str, value: Any) -> None:
        table_key = self._prefix + key
        current = self._b.data.get(table_key)
        partition = current[0] if current is not None else self._b.partition  # keys stay put
        self._b.data[table_key] = [partition, value]
        self._b.keys_of(self._rule_id)[key] = None
        self._b.touch(table_key, partition)

    def __delitem__(self, key: str) -> None:
        table_key = self._prefix + key
        partition = self._b.data[table_key][0]
        del self._b.data[table_key]
        self._b.keys_of(self._rule_id).pop(key, None)
        self._b.touch(table_key, partition)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._b.keys_of(self._rule_id)))

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        """A snapshot of (key, value) pairs: a full garbage-collection scan reads every
        key, and the generic ItemsView looked each one up through __getitem__."""
        data, prefix = self._b.data, self._prefix
        return [(k, data[prefix + k][1]) for k in list(self._b.keys_of(self._rule_id))]

    def __len__(self) -> int:
        return len(self._b.keys_of(self._rule_id))
