"""A worker that restores its table from a changelog must process every event from its
committed offsets, however long the seek after recovery takes (faust_patches patch 4).

Faust's `Recovery.on_recovery_completed` resumed the stream partitions, awaited the seek
to the committed offsets, and only then emptied the stream buffers. The fetcher, already
running for the recovery, delivered events in that window; they were thrown away with
the buffers and never read again. The crash test's restarted worker hit it about once
in 15 runs (not drained, alerts missing, incidents begun late). Here the first seek waits
(a `sitecustomize` in the worker's path) until the fetcher has delivered a stream
record, or 5 s, so the window always opens.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from flockwatch.kafka.offsets import committed_offsets, end_offsets
from flockwatch.store.alert_store import AlertStore
from support.cli import ROOT
from support.streams import PINNED_RULES, Topics, differences, produce, scan_alerts, worker, write_stream

pytestmark = pytest.mark.kafka

SLOW_SEEK = '''
import sys
if "worker" in sys.argv:
    import asyncio
    from faust.transport.consumer import Consumer
    _perform_seek = Consumer.perform_seek
    _slowed = []

    async def perform_seek(self):
        # The first seek (the one after the recovery) waits until the fetcher has
        # delivered a stream record (then 1 s more), or 5 s: the window Faust left open.
        if not _slowed:
            _slowed.append(True)
            before = dict(self._read_offset)
            for _ in range(100):
                if any(o is not None and o != before.get(tp) for tp, o in self._read_offset.items()):
                    await asyncio.sleep(1.0)  # and goes on delivering for a while
                    break
                await asyncio.sleep(0.05)
        return await _perform_seek(self)

    Consumer.perform_seek = perform_seek
'''


def test_slow_seek_after_recovery_loses_no_event(broker: str, tmp_path: Path) -> None:
    stream = write_stream(tmp_path / "events.jsonl", 8_000, seed=23)
    expected = scan_alerts(stream)
    topics = Topics.unique("resume")
    db_url = f"sqlite:///{tmp_path / 'alerts.db'}"
    store = AlertStore(db_url)
    produce(broker, stream, topics.events)

    # A first worker stops (gracefully) as soon as it has committed something: it reads
    # one partition at a time, so the others are left without a committed offset, the
    # case where aiokafka's seek does not even rewind what was thrown away.
    w = worker(broker, topics, db_url, tmp_path, "--batch-size", "100", name="first").start()
    try:
        w.wait_ready(timeout=40)
        deadline = time.monotonic() + 30
        while not sum(committed_offsets(broker, topics.group, topics.events).values()):
            assert time.monotonic() < deadline, "the first worker committed nothing in 30 s"
            time.sleep(0.05)
    finally:
        assert w.stop() == 0
    assert sum(committed_offsets(broker, topics.group, topics.events).values()) < sum(
        end_offsets(broker, topics.events).values())

    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(SLOW_SEEK, encoding="utf-8")
    env = {**PINNED_RULES, "PYTHONPATH": f"{ROOT / 'src'}:{inject}"}
    w = worker(broker, topics, db_url, tmp_path, name="restored", rules=env, log_level="INFO").start()
    try:
        w.wait_ready(timeout=40)
        assert "Restoring state from changelog topics" in w.log_path.read_text(), "the restart must recover a table"
        if not w.wait_drained(timeout=60):
            pytest.fail(f"not drained: committed {committed_offsets(broker, topics.group, topics.events)} of "
                        f"{end_offsets(broker, topics.events)}")
    finally:
        assert w.stop() == 0
    stored = {a.fingerprint: a for a in store.list(limit=100_000)}
    assert differences(stored, expected) == []
