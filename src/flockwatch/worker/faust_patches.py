"""Targeted patches to Faust 0.15 (see docs/worker.md).

1. Fast drain (found by the faust spike).

`Consumer._drain_messages` hands every message to the streams with
`await self.wait_first(callback(message), self.suspend_flow.wait())`: per message that
is several asyncio tasks, an `asyncio.wait` and cancellations (~100 µs), which caps one
worker near 2,000-5,000 messages/s on a 2-core machine whatever the agent does. The
fast path awaits the callback directly while the flow is not suspended, and keeps the
original `wait_first` (abandon the delivery when a rebalance suspends the flow)
whenever it is.

The patch rewrites that one statement of the installed source and recompiles the
method. If the statement is not found (another Faust version), nothing is patched and
a warning says so: the worker is then correct but slower.

2. True high watermarks for table recovery. Faust restores a table by reading its
changelog up to the high watermarks from ListOffsets. Tansu (the embedded broker)
answers ListOffsets with the last record batch's base offset + 1, so Faust stopped
one batch short and silently dropped the newest state: a restarted worker forgot
the beginning of every incident in progress. `highwaters` now also reads the
watermark from a fetch response (the same answer on Kafka, the right one on Tansu);
only recovery calls it, once per rebalance.

3. Fetch wait. Faust hard-codes `fetch_max_wait_ms=1500`. Kafka answers a waiting
fetch as soon as data arrives, but Tansu holds it for the full wait, which put a
0.4-1.5 s floor under the worker's latency (measured: 400 ms median delivery delay at
1500 ms, 25 ms at 100 ms). The worker's consumer is created with a shorter wait; on
Kafka this only means more idle fetch requests.

4. Resuming the streams after a recovery. `Recovery.on_recovery_completed` resumed
the stream partitions, awaited the seek to the committed offsets, then called
`flow_control.resume()`, which empties every stream buffer. When a table had a
changelog to read, the fetcher was already running, so (a) events it delivered in
that window were queued and thrown away, and `_drain_messages` had moved its read
offsets past them (their re-read copies are dropped as duplicates); (b) a fetch in
flight whose partition set had become empty (changelogs paused, streams not yet
resumed: Faust mutates the set it passed, and aiokafka reads an empty set as "all")
returned the buffered stream records, which Faust dropped after aiokafka had moved
past them. aiokafka's `seek_to_committed` does not seek a partition without a
committed offset, so nothing rewound those. Such events were never processed nor
acknowledged: alerts and state missing, and a partition whose gap starts above its
committed offset never commits again (`_new_offset` waits for the gap), one without
a committed offset commits past it. The crash test's restarted worker hit this about
once in 15 runs. Now the flow is stopped, the buffers emptied, the stream partitions
resumed and only then sought, and the flow resumed last; and the seek also rewinds
the uncommitted partitions of consumed topics (`consumer_auto_offset_reset` is
"earliest"). Same technique as patch 1 for the method.
"""

from __future__ import annotations

import inspect
import logging
import textwrap
from typing import Any

log = logging.getLogger(__name__)

_I = " " * 28  # the statement's indentation inside the method
_ORIGINAL = f"{_I}await self.wait_first(\n{_I}    callback(message), self.suspend_flow.wait()\n{_I})"
_FAST = (f"{_I}if self.suspend_flow.is_set():\n"
         f"{_I}    await self.wait_first(\n{_I}        callback(message), self.suspend_flow.wait()\n{_I}    )\n"
         f"{_I}else:\n{_I}    await callback(message)")

def _rewrite_method(module: Any, cls: type, name: str, original: str, replacement: str,
                    label: str, unpatched: str) -> bool:
    """Replace `original` (which must occur exactly once) by `replacement` in the source of
    `cls.name`, recompile it in `module`'s namespace and install it. Idempotent; False,
    with a warning saying `unpatched`, when the installed Faust's code is not as expected."""
    if getattr(getattr(cls, name), "__flockwatch_patched__", False):
        return True
    try:
        source = inspect.getsource(getattr(cls, name))
    except (OSError, TypeError):
        source = ""
    if source.count(original) != 1:
        log.warning("faust %s: %s.%s is not the expected code; %s", _faust_version(), cls.__name__, name, unpatched)
        return False
    namespace: dict[str, object] = {}
    # Its own file name, so a traceback through it does not point at the wrong lines of Faust's file.
    code = compile(textwrap.dedent(source.replace(original, replacement)),
                   f"<flockwatch {label} of {module.__file__}>", "exec")
    exec(code, module.__dict__, namespace)  # noqa: S102 - Faust's own source, statements changed
    patched = namespace[name]
    patched.__flockwatch_patched__ = True  # type: ignore[attr-defined]
    setattr(cls, name, patched)
    return True


def apply_fast_drain() -> bool:
    """Patch `faust.transport.consumer.Consumer._drain_messages`; True if patched (idempotent)."""
    import faust.transport.consumer as consumer_module

    return _rewrite_method(consumer_module, consumer_module.Consumer, "_drain_messages", _ORIGINAL, _FAST,
                           "fast drain", "running without the fast drain path (correct, but about half the "
                           "throughput)")


def _faust_version() -> str:
    import faust

    return str(getattr(faust, "__version__", "?"))


_true_highwaters_for: str | None = None


def apply_true_highwaters(bootstrap: str) -> None:
    """Make Faust's recovery use fetch-based high watermarks (idempotent)."""
    global _true_highwaters_for
    import asyncio

    from faust.transport.consumer import ThreadDelegateConsumer

    from flockwatch.kafka.offsets import partition_end_offsets

    first = _true_highwaters_for is None
    _true_highwaters_for = bootstrap
    if not first:
        return
    listed_highwaters = ThreadDelegateConsumer.highwaters

    async def highwaters(self, *partitions):  # type: ignore[no-untyped-def]
        listed = await listed_highwaters(self, *partitions)
        wanted = [(tp.topic, tp.partition) for tp in partitions if listed.get(tp)]
        if not wanted:
            return listed
        found = await asyncio.to_thread(partition_end_offsets, _true_highwaters_for, wanted)
        return {tp: max(listed.get(tp) or 0, found.get((tp.topic, tp.partition), 0)) for tp in partitions}

    ThreadDelegateConsumer.highwaters = highwaters  # type: ignore[method-assign]


_R = " " * 8  # the statements' indentation inside the method
# What stays: resume the stream partitions, seek them to the committed offsets.
_RESUME_AND_SEEK = (
    f"{_R}consumer.resume_partitions(\n"
    f"{_R}    {{tp for tp in assignment if not self._is_changelog_tp(tp)}}\n"
    f"{_R})\n"
    f"{_R}if assignment:\n"
    f"{_R}    self.log.info(\"Seek stream partitions to committed offsets.\")\n"
    f"{_R}    await self._wait(\n"
    f"{_R}        consumer.perform_seek(), timeout=self.app.conf.broker_request_timeout\n"
    f"{_R}    )\n"
    f"{_R}self.completed.set()\n"
    f"{_R}self.log.dev(\"Resume stream partitions\")\n"
)
_EMPTY_BUFFERS = f"{_R}self.app.flow_control.resume()"
_RESUME_ORIGINAL = _RESUME_AND_SEEK + f"{_EMPTY_BUFFERS}\n{_R}consumer.resume_flow()\n"
# What moves: the buffers are emptied first, with the flow stopped until after the seek.
_RESUME_FIXED = (
    f"{_R}consumer.stop_flow()  # flockwatch: nothing fetched is delivered until the seek below\n"
    f"{_EMPTY_BUFFERS}  # empties the stream buffers while nothing can arrive\n"
    + _RESUME_AND_SEEK + f"{_R}consumer.resume_flow()\n"
)


def apply_seek_before_resume() -> bool:
    """Patch `faust.tables.recovery.Recovery.on_recovery_completed`; True if patched (idempotent)."""
    import faust.tables.recovery as recovery_module

    return _rewrite_method(recovery_module, recovery_module.Recovery, "on_recovery_completed", _RESUME_ORIGINAL,
                           _RESUME_FIXED, "seek-before-resume", "not patched: a worker restored from a "
                           "changelog may drop the first events it reads")


_rewind_applied = False


def apply_rewind_uncommitted() -> None:
    """Make Faust's seek to the committed offsets rewind, too, the partitions of
    consumed topics (not changelogs: recovery seeks those itself) that have no
    committed offset yet (idempotent)."""
    global _rewind_applied
    if _rewind_applied:
        return
    from faust.transport.consumer import ThreadDelegateConsumer

    seek_to_committed = ThreadDelegateConsumer.seek_to_committed

    async def seek_to_committed_or_beginning(self):  # type: ignore[no-untyped-def]
        committed = await seek_to_committed(self)
        if str(self.app.conf.consumer_auto_offset_reset) == "earliest":
            consumed = self.app.topics.acking_topics
            fresh = [tp for tp, offset in committed.items()
                     if not offset and tp.topic in consumed and not self._is_changelog_tp(tp)]
            if fresh:  # aiokafka seeks only to offsets > 0: these would stay where the fetcher left them
                await self._thread.seek_to_beginning(*fresh)
        return committed

    ThreadDelegateConsumer.seek_to_committed = seek_to_committed_or_beginning  # type: ignore[method-assign]
    _rewind_applied = True


_fetch_max_wait_ms: int | None = None


def apply_fetch_max_wait(seconds: float) -> None:
    """Create Faust's worker consumer with `fetch_max_wait_ms` = `seconds` (idempotent)."""
    global _fetch_max_wait_ms
    from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

    first = _fetch_max_wait_ms is None
    _fetch_max_wait_ms = max(1, int(seconds * 1000))
    if not first:
        return
    create = AIOKafkaConsumerThread._create_worker_consumer

    def _create_worker_consumer(self, transport):  # type: ignore[no-untyped-def]
        consumer = create(self, transport)
        consumer._fetch_max_wait_ms = _fetch_max_wait_ms  # read by AIOKafkaConsumer.start()
        return consumer

    AIOKafkaConsumerThread._create_worker_consumer = _create_worker_consumer  # type: ignore[method-assign]
