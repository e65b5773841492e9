"""Stateful rules' state in the worker: one changelogged Faust table for all rules.

Layout. Table key = `<rule id>\\x1e<detector key>`; table value = `[partition, value]`,
where `partition` is the firehose partition whose events own the key. That is the
changelog's layout; in memory each rule's keys are a plain dict (`RuleState`), which
detectors read at C speed, and the table's own store only receives what Faust
restores, which is moved into the rules' dicts before the next batch. The changelog
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

from collections.abc import MutableMapping
from typing import Any

from flockwatch.worker.state_encoding import StateEncoder, decode, encode

SEP = "\x1e"


class TableState:
    """`StateBackend` over a Faust table's local store (`data`, where recovery writes);
    its changelog records come out of `flush()`."""

    def __init__(self, data: MutableMapping[str, Any]):
        self.data = data
        self.partition = 0  # partition of the event being processed; set by the batch step
        self._writer = ""  # who is writing now ("" the firehose agent); see `writer`
        self._views: dict[str, RuleState] = {}
        self.encoder = StateEncoder()

    @property
    def writer(self) -> str:
        return self._writer

    @writer.setter
    def writer(self, name: str) -> None:
        self._writer = name
        for view in self._views.values():
            view.write_as(name)

    def for_rule(self, rule_id: str) -> RuleState:
        view = self._views.get(rule_id)
        if view is None:
            view = self._new_view(rule_id)
            if self.data:
                self.sync()
        return view

    def _new_view(self, rule_id: str) -> RuleState:
        view = self._views[rule_id] = RuleState(self, rule_id)
        view.write_as(self._writer)
        return view

    def sync(self) -> int:
        """Move what recovery wrote into `data` to the rules' dicts, then empty `data`
        (a later rebalance must not bring back values changed or deleted since).
        Restored keys are not changelogged again. Returns how many keys moved.

        Called before every batch, and it looks at `data` itself rather than at a
        flag set by the rebalance: a batch that ran while recovery was still writing
        would otherwise leave the rest of the restored keys unseen. Faust restores a
        partition before any of its events are processed, so a restored value never
        overwrites a newer one."""
        if not self.data:
            return 0
        moved = 0
        for raw_key, raw_entry in list(self.data.items()):
            # Raw bytes, as recovery read them: decoded here, exactly (see state_encoding).
            table_key, entry = decode(raw_key), decode(raw_entry)
            rule_id, _, key = table_key.partition(SEP)
            view = self._views.get(rule_id)
            if view is None:  # not `or`: an empty view is falsy, and detectors hold it
                view = self._new_view(rule_id)
            view.restore(key, entry[0], entry[1])
            moved += 1
        self.data.clear()
        return moved

    def drop_partitions(self, partitions: set[int]) -> int:
        """Forget the keys of partitions this worker no longer owns, without changelog records.

        A key left behind would go stale while its new owner updates it, and this worker's
        garbage collection could then tombstone it in the changelog under the new owner.
        Pending changes of those keys are dropped too: the batch that made them was not
        committed here, so the new owner replays it."""
        self.sync()
        return sum(view.forget(partitions) for view in self._views.values())

    @property
    def pending(self) -> int:
        return sum(view.pending for view in self._views.values())

    def flush(self, writer: str = "") -> list[tuple[int, bytes, bytes | None]]:
        """One changelog record (partition, key, value) per key `writer` changed since its
        last flush, serialised; value None is a tombstone (the key was deleted). The caller
        sends them and waits for the broker before acknowledging the batch."""
        out: list[tuple[int, bytes, bytes | None]] = []
        for view in self._views.values():
            view.flush_into(writer, out)
        return out


_GONE = object()


class RuleState(dict[str, Any]):
    """One rule's state, detector key -> value: a plain dict for reads (detectors and
    full garbage-collection scans read far more than they write; a Mapping over the
    shared table cost a string join and two lookups per read), which notes each write
    and delete for the changelog and pins every key to the partition that first wrote it."""

    __slots__ = ("_backend", "_prefix", "_owner", "_dirty_by", "_dirty")

    def __init__(self, backend: TableState, rule_id: str):
        super().__init__()
        self._backend = backend
        self._prefix = rule_id + SEP
        self._owner: dict[str, int] = {}  # key -> its changelog partition
        self._dirty_by: dict[str, dict[str, int]] = {}  # writer -> changed key -> partition
        self._dirty: dict[str, int] = {}

    def write_as(self, writer: str) -> None:
        dirty = self._dirty_by.get(writer)
        if dirty is None:
            dirty = self._dirty_by[writer] = {}
        self._dirty = dirty

    def __setitem__(self, key: str, value: Any) -> None:
        dict.__setitem__(self, key, value)
        partition = self._owner.get(key)
        if partition is None:
            partition = self._owner[key] = self._backend.partition  # keys stay put
        self._dirty[key] = partition

    def __delitem__(self, key: str) -> None:
        dict.__delitem__(self, key)
        self._dirty[key] = self._owner.pop(key)

    # The other writing methods of dict would bypass the changelog: route them through
    # the two above (detectors use only those two; these keep the class honest).
    def pop(self, key: str, default: Any = _GONE) -> Any:  # type: ignore[override]
        if key in self:
            value = self[key]
            del self[key]
            return value
        if default is _GONE:
            raise KeyError(key)
        return default

    def setdefault(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        if key not in self:
            self[key] = default
        return self[key]

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def clear(self) -> None:
        for key in list(self):
            del self[key]

    def popitem(self) -> tuple[str, Any]:
        key = next(reversed(self))
        return key, self.pop(key)

    def restore(self, key: str, partition: int, value: Any) -> None:
        """A changelog value recovered by Faust: set without a changelog record."""
        dict.__setitem__(self, key, value)
        self._owner[key] = partition

    def forget(self, partitions: set[int]) -> int:
        gone = [k for k, p in self._owner.items() if p in partitions]
        for k in gone:
            dict.__delitem__(self, k)
            del self._owner[k]
            for dirty in self._dirty_by.values():
                dirty.pop(k, None)
        return len(gone)

    @property
    def pending(self) -> int:
        return sum(len(d) for d in self._dirty_by.values())

    def flush_into(self, writer: str, out: list[tuple[int, bytes, bytes | None]]) -> None:
        dirty = self._dirty_by.get(writer)
        if not dirty:
            return
        prefix, get, entry = self._prefix, self.get, self._backend.encoder.entry
        for key, partition in dirty.items():
            value = get(key, _GONE)  # gone: deleted by garbage collection -> tombstone
            out.append((partition, encode(prefix + key), None if value is _GONE else entry(partition, value)))
        dirty.clear()
