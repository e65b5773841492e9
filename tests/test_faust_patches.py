"""The Faust patches apply to the pinned Faust and change only what they claim."""

from __future__ import annotations

import inspect

import pytest

from flockwatch.worker.faust_patches import apply_fast_drain, apply_seek_before_resume, apply_true_highwaters


def test_fast_drain_applies_to_the_installed_faust() -> None:
    import faust.transport.consumer as consumer_module

    original = consumer_module.Consumer._drain_messages
    original_source = inspect.getsource(original)
    assert apply_fast_drain() is True, "Faust changed: re-check Consumer._drain_messages (docs/worker.md)"
    assert apply_fast_drain() is True  # idempotent
    patched = consumer_module.Consumer._drain_messages
    assert getattr(patched, "__flockwatch_patched__", False)
    if not getattr(original, "__flockwatch_patched__", False):  # another test may have patched first
        assert original_source.count("await self.wait_first(") == 1
    names = set(patched.__code__.co_names)
    assert {"wait_first", "suspend_flow", "callback"} <= names | set(patched.__code__.co_varnames)


def test_seek_before_resume_applies_to_the_installed_faust() -> None:
    """After a recovery the stream buffers are emptied while the flow is stopped, and
    nothing is delivered before the seek (tests/test_worker_resume_after_recovery.py)."""
    import faust.tables.recovery as recovery_module

    assert apply_seek_before_resume() is True, "Faust changed: re-check Recovery.on_recovery_completed"
    assert apply_seek_before_resume() is True  # idempotent
    patched = recovery_module.Recovery.on_recovery_completed
    assert getattr(patched, "__flockwatch_patched__", False)
    names = patched.__code__.co_names  # in order of first use
    order = [n for n in names if n in ("stop_flow", "resume", "resume_partitions", "perform_seek", "resume_flow")]
    assert order == ["stop_flow", "resume", "resume_partitions", "perform_seek", "resume_flow"], order


@pytest.mark.kafka
def test_recovery_highwaters_are_the_true_ones(broker: str) -> None:
    """On Tansu, ListOffsets stops one record batch short; the patched method does not."""
    import asyncio

    from faust.transport.consumer import ThreadDelegateConsumer
    from kafka import KafkaProducer

    from flockwatch.kafka.offsets import end_offsets
    from flockwatch.kafka.topics import ensure_topics

    ensure_topics(broker, {"hw-check": 1})
    producer = KafkaProducer(bootstrap_servers=broker, linger_ms=50)
    for i in range(3):
        for _ in range(20):
            producer.send("hw-check", b"x" * 10)
        producer.flush()  # three record batches
    producer.close()
    true_end = end_offsets(broker, "hw-check")[0]
    assert true_end == 60

    class TP(tuple):  # faust's TP is a namedtuple(topic, partition)
        topic = property(lambda self: self[0])
        partition = property(lambda self: self[1])

    tp = TP(("hw-check", 0))

    class Listed:
        async def highwaters(self, *tps):  # type: ignore[no-untyped-def]
            return {t: 41 for t in tps}  # what Tansu's ListOffsets says: base of the last batch + 1

    original = ThreadDelegateConsumer.highwaters
    try:
        ThreadDelegateConsumer.highwaters = Listed.highwaters  # type: ignore[method-assign,assignment]
        import flockwatch.worker.faust_patches as patches

        patches._true_highwaters_for = None
        apply_true_highwaters(broker)
        got = asyncio.run(ThreadDelegateConsumer.highwaters(object(), tp))  # type: ignore[arg-type]
    finally:
        ThreadDelegateConsumer.highwaters = original  # type: ignore[method-assign]
    assert got == {tp: 60}
