"""Stage 2's read fence (worker/read_fence.py): after a let-go, only records delivered
after the next seek to the committed offsets are taken; the others are let go of, so
Faust's shutdown or rebalance does not wait for them, and none is acknowledged."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from flockwatch.worker.read_fence import ReadFence, StampedEvent


class Message:
    def __init__(self, offset: int):
        self.key, self.value, self.headers, self.offset = b"k", b"v", [], offset


class Consumer:
    def __init__(self) -> None:
        self.unacked: set[Any] = set()


def delivered(fence: ReadFence, consumer: Consumer, offset: int) -> StampedEvent:
    """A record as Faust delivers it: decoded by the topic's schema, then tracked."""
    message = Message(offset)
    decode = fence.schema().compile(SimpleNamespace())
    event = asyncio.run(decode(message))
    consumer.unacked.add(message)
    return event


def test_only_records_delivered_after_the_seek_that_followed_a_let_go_are_taken() -> None:
    fence, consumer = ReadFence(), Consumer()
    early = delivered(fence, consumer, 0)  # before the first seek: read again after it
    assert fence.admit([early], consumer) == [] and early.message not in consumer.unacked

    fence.reopen()  # the seek after the first assignment
    a, b = delivered(fence, consumer, 0), delivered(fence, consumer, 1)
    assert fence.admit([a], consumer) == [a]

    fence.close()  # a rebalance lets go: b is still in the take buffer
    during = delivered(fence, consumer, 2)  # delivered during the rebalance, before its seek
    assert fence.admit([b, during], consumer) == []
    assert consumer.unacked == {a.message}  # Faust waits only for what will be acknowledged

    fence.reopen()
    late = delivered(fence, consumer, 2)  # read again from the committed offset
    assert fence.admit([b, during, late], consumer) == [late]


def test_a_fence_without_the_seek_hook_takes_everything() -> None:
    fence, consumer = ReadFence(enabled=False), Consumer()
    ev = delivered(fence, consumer, 0)
    fence.close()
    assert fence.admit([ev], consumer) == [ev] and ev.message in consumer.unacked


def test_the_batch_being_stored_is_waited_for_then_let_go_of() -> None:
    """Faust must wait for a batch still being stored (a partition must not move while its
    alerts and changelog are written); once stored, a let-go that came meanwhile applies."""
    fence, consumer = ReadFence(), Consumer()
    fence.reopen()
    stored, held = delivered(fence, consumer, 0), delivered(fence, consumer, 1)
    fence.handling([stored])
    fence.close()
    fence.let_go(consumer, [stored, held])  # what the let-go forgets: read, not acknowledged
    assert consumer.unacked == {stored.message}
    fence.handled(consumer)
    assert consumer.unacked == set()

    fence.reopen()
    again = delivered(fence, consumer, 0)
    fence.handling([again])
    fence.handled(consumer)  # no let-go meanwhile: it is acknowledged as usual
    assert consumer.unacked == {again.message}
