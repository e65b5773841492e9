"""How the worker stops and says it started.

SIGTERM while stage 2 (the repartition stage) holds forwarded records: the worker stops
promptly with exit 0, and a restart stores what `scan` finds. The shutdown lets go of the
held records and waits until every record read is acknowledged or let go of; a reference
kept to one of them (the batch in flight, the take buffer's leftovers held again, the
last record Faust's stream iterator handed out) made that wait endless."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from flockwatch.store.alert_store import AlertStore
from support.streams import ALL_RULES, Topics, differences, produce, scan_alerts, worker
from test_worker_repartition import simulate

pytestmark = pytest.mark.kafka


def test_the_ready_line_is_logged_even_when_a_probe_sees_readiness_first(broker: str, tmp_path: Path) -> None:
    topics = Topics.unique("ready")
    w = worker(broker, topics, f"sqlite:///{tmp_path / 'alerts.db'}", tmp_path)
    w.start().wait_ready(timeout=40)  # polls /readyz every 50 ms: it sees readiness before the 1 s timer
    time.sleep(2.5)
    assert w.stop() == 0
    assert "worker ready" in w.log_path.read_text(), w.log_path.read_text()[-2000:]


def test_sigterm_mid_stream_with_held_forwards_stops_and_loses_nothing(broker: str, tmp_path: Path) -> None:
    stream = simulate(tmp_path / "sim.jsonl")
    expected = scan_alerts(stream, ALL_RULES)
    topics = Topics.unique("stop")
    db = f"sqlite:///{tmp_path / 'alerts.db'}"
    produce(broker, stream, topics.events, "--partitions", "4")
    w = worker(broker, topics, db, tmp_path, "--batch-size", "50", rules=ALL_RULES, log_level="INFO")
    w.start().wait_ready(timeout=40)
    time.sleep(1.0)  # mid-stream: stage 2 holds records waiting for watermarks
    assert w.alive, w.log_path.read_text()[-3000:]
    t0 = time.monotonic()
    code = w.stop(timeout=20)
    took = time.monotonic() - t0
    log = w.log_path.read_text()
    assert "held forwarded records" in log  # the scenario happened: there was something to let go of
    assert code == 0 and took < 20, f"exit {code} after {took:.1f} s\n" + log[-3000:]

    with worker(broker, topics, db, tmp_path, rules=ALL_RULES, name="restart") as again:
        again.wait_ready(timeout=40)
        assert again.wait_drained(timeout=60), again.log_path.read_text()[-3000:]
        restart_code = again.stop()
    assert restart_code == 0
    stored = {x.fingerprint: x for x in AlertStore(db).list(limit=100_000)}
    assert not differences(stored, expected)
