"""Which `.by-key` records stage 2 may still process and acknowledge.

A rebalance or a shutdown lets go of what stage 2 holds (`WorkerApp.before_wait_empty`):
the records are not acknowledged, and Faust waits until every record read is. Letting go
is only safe for records that will be read again, and only while nothing read after them
on their partition is acknowledged (Faust's commit would pass them: `_new_offset` does
not see a gap of one record, and none at all when the committed offset is unknown, as it
is between a revoke and the next seek).

A record is read again if it was delivered before a seek to the committed offsets:
after a rebalance Faust seeks every stream partition there (`Recovery.
on_recovery_completed`, which `faust_patches` patch 4 makes run
`WorkerApp.after_stream_seek` just after the seek, before the flow resumes); after a
shutdown the next worker starts from there. A record delivered after that seek is not.

So every record is stamped with the fence's epoch when Faust decodes it (as the consumer
delivers it, `StampingSchema`), and stage 2 takes a record only if the fence is open and
the record arrived since it was last opened:
- `close()` (before Faust's wait, at a let-go) lets go of everything delivered so far:
  the held records, the records stage 2 read and has not acknowledged, the records still
  in the take buffer and the last one Faust's stream iterator handed out. None of them
  is acknowledged afterwards, so none can be committed past; they are removed from
  Faust's set of records to wait for (`let_go`). The batch being stored is let go of
  only once it is stored (`handling`, `handled`): until then Faust waits for it, as it
  must before a partition moves (its alerts and changelog are still being written).
  Records cleared for acknowledgement before the let-go are still acknowledged: every
  record read before them on their partition is done, so the commit passes nothing let
  go of.
- `reopen()` (just after the seek) admits what is delivered from then on, read again
  from the committed offsets.
The fence starts closed: the first assignment seeks too, and what a fetcher delivered
before it is read again. Without patch 4 (another Faust) there is no hook after the seek:
the fence is disabled and admits everything (the shutdown may then hang again).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import faust

from flockwatch.worker.app import RawSchema


class StampedEvent(faust.Event):
    """A Faust event that remembers the fence epoch it was delivered in."""

    read_epoch: int = -1


class ReadFence:
    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.epoch = 0
        self.open = not enabled
        self._busy: list[Any] = []  # the records of the batch stage 2 is storing
        self._busy_epoch = 0

    def close(self) -> None:
        if self.enabled:
            self.epoch += 1
            self.open = False

    def reopen(self) -> None:
        if self.enabled:
            self.epoch += 1
            self.open = True

    def admits(self, event: Any) -> bool:
        return not self.enabled or (self.open and getattr(event, "read_epoch", None) == self.epoch)

    def admit(self, events: Sequence[Any], consumer: Any) -> list[Any]:
        """The events stage 2 may take; lets go of the others (they are read again)."""
        taken: list[Any] = []
        gone: list[Any] = []
        for ev in events:
            (taken if self.admits(ev) else gone).append(ev)
        if gone:
            self.let_go(consumer, gone)
        return taken

    def let_go(self, consumer: Any, events: Iterable[Any]) -> None:
        """Faust no longer waits for these records: they will not be acknowledged. Except
        for the batch being stored (`handling`): Faust must wait until its alerts and
        state are written, or the partition could move to another worker meanwhile."""
        unacked = consumer.unacked
        busy = {id(ev) for ev in self._busy}
        for ev in events:
            if id(ev) not in busy:
                unacked.discard(ev.message)

    def handling(self, events: list[Any]) -> None:
        self._busy, self._busy_epoch = events, self.epoch

    def handled(self, consumer: Any) -> None:
        """The batch is stored; if a let-go came meanwhile, its records are let go of now."""
        busy, self._busy = self._busy, []
        if self._busy_epoch != self.epoch:
            self.let_go(consumer, busy)

    def schema(self) -> StampingSchema:
        return StampingSchema(self)


class StampingSchema(RawSchema):
    """`RawSchema` whose events carry the fence epoch they were delivered in."""

    def __init__(self, fence: ReadFence, **kwargs: Any):
        super().__init__(**kwargs)
        self.fence = fence

    def compile(self, app: Any, *, on_key_decode_error: Any = None, on_value_decode_error: Any = None,
                default_propagate: bool = False) -> Any:
        fence = self.fence

        async def decode(message: Any, *, propagate: bool = default_propagate) -> Any:
            event = StampedEvent(app, message.key, message.value, message.headers, message)
            event.read_epoch = fence.epoch
            return event

        return decode
