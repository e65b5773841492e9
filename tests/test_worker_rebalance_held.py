"""A rebalance while stage 2 (the repartition stage) holds forwarded records, with every
pack: a second worker joins while the first is still catching up. The first worker lets
go of what it holds; its revoke must not wait for ever for records it gave up, it must
not acknowledge anything read after them (the commit would pass them), and whoever owns
each `.by-key` partition afterwards reads them again: the store holds exactly what
`flockwatch scan` finds. (tests/test_worker_restart_state.py lets the first worker
drain before the second joins, so nothing is held there.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flockwatch.store.alert_store import AlertStore
from support.cli import ROOT
from support.streams import ALL_RULES, Topics, differences, produce, samples, scan_alerts, worker

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def simulate(path: Path, events: int) -> Path:
    r = subprocess.run([sys.executable, "-m", "flockwatch", "simulate", "--seed", "7", "--agents", "400",
                        "--events", str(events), "--incidents", "8", "--out", str(path)],
                       capture_output=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    return path


def test_a_worker_joining_while_stage_2_holds_forwards_loses_nothing(broker: str, pg_url: str,
                                                                     tmp_path: Path) -> None:
    stream = simulate(tmp_path / "sim.jsonl", 16_000)  # long enough to be mid-stream when b joins
    expected = scan_alerts(stream, ALL_RULES)
    topics = Topics.unique("joinheld")
    produce(broker, stream, topics.events, "--partitions", "4")
    a = worker(broker, topics, pg_url, tmp_path, "--batch-size", "50", name="a", rules=ALL_RULES, log_level="INFO")
    b = worker(broker, topics, pg_url, tmp_path, "--batch-size", "50", name="b", rules=ALL_RULES, log_level="INFO")
    try:
        a.start().wait_ready(timeout=40)
        b.start().wait_ready(timeout=60)  # the rebalance completed: a's revoke did not hang
        a_log = a.log_path.read_text()
        assert a.wait_drained(timeout=180), a_log[-3000:] + b.log_path.read_text()[-3000:]
        metrics = {"a": a.metrics(), "b": b.metrics()}
    finally:
        codes = (b.stop(), a.stop())
    assert "held forwarded records" in a_log, a_log[-3000:]  # the rebalance let go of held records
    assert codes == (0, 0)
    for name, text in metrics.items():
        assert sum(samples(text, "flockwatch_events_total").values()) > 0, name  # the partitions were split
        assert sum(samples(text, "flockwatch_repartition_held").values()) == 0, name

    stored = {x.fingerprint: x for x in AlertStore(pg_url).list(limit=100_000)}
    diff = differences(stored, expected)
    assert not diff, "\n".join(diff)
