"""Three targeted patches to Faust 0.15 (see docs/worker.md).

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
"""

from __future__ import annotations

import inspect
import logging
import textwrap

log = logging.getLogger(__name__)

_I = " " * 28  # the statement's indentation inside the method
_ORIGINAL = f"{_I}await self.wait_first(\n{_I}    callback(message), self.suspend_flow.wait()\n{_I})"
_FAST = (f"{_I}if self.suspend_flow.is_set():\n"
         f"{_I}    await self.wait_first(\n{_I}        callback(message), self.suspend_flow.wait()\n{_I}    )\n"
         f"{_I}else:\n{_I}    await callback(message)")

_applied = False


def apply_fast_drain() -> bool:
    """Patch `faust.transport.consumer.Consumer._drain_messages`; True if patched (idempotent)."""
    global _applied
    if _applied:
        return True
    import faust.transport.consumer as consumer_module

    method = consumer_module.Consumer._drain_messages
    try:
        source = inspect.getsource(method)
    except (OSError, TypeError):
        source = ""
    if source.count(_ORIGINAL) != 1:
        log.warning("faust %s: Consumer._drain_messages is not the expected code; running without the "
                    "fast drain path (correct, but about half the throughput)", _faust_version())
        return False
    namespace: dict[str, object] = {}
    # Its own file name, so a traceback through it does not point at the wrong lines of Faust's file.
    code = compile(textwrap.dedent(source.replace(_ORIGINAL, _FAST)),
                   f"<flockwatch fast drain of {consumer_module.__file__}>", "exec")
    exec(code, consumer_module.__dict__, namespace)  # noqa: S102 - Faust's own source, one statement changed
    patched = namespace["_drain_messages"]
    patched.__flockwatch_patched__ = True  # type: ignore[attr-defined]
    consumer_module.Consumer._drain_messages = patched  # type: ignore[method-assign]
    _applied = True
    return True


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
