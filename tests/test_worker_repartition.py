"""Scale-out is exact for rules not keyed by agent: two workers on a 4-partition
firehose (keyed by agent_id) store the same alerts as `flockwatch scan` of the same
events, with every shipped pack, including the cross-agent cascades (campaigns by
MinHash band and template, link waves by URL, ping-pong by agent pair, reply cycles
and echo chains by thread, propagation) whose keys' events are spread over both
workers' partitions and must be repartitioned by key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flockwatch.store.alert_store import AlertStore
from support.cli import ROOT
from support.streams import ALL_RULES, Topics, differences, produce, samples, scan_alerts, worker

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

# Cross-agent rules the seeded stream must exercise, or the comparison proves little.
CROSS_AGENT = {"cascades.near_duplicate_spam", "cascades.link_wave", "cascades.reply_ping_pong",
               "cascades.reply_cycle", "cascades.echo_chain", "cascades.propagating_instruction"}


def simulate(path: Path) -> Path:
    r = subprocess.run([sys.executable, "-m", "flockwatch", "simulate", "--seed", "5", "--agents", "300",
                        "--events", "4000", "--incidents", "6", "--out", str(path)],
                       capture_output=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    return path


def test_two_workers_store_what_scan_finds(broker: str, pg_url: str, tmp_path: Path) -> None:
    stream = simulate(tmp_path / "sim.jsonl")
    expected = scan_alerts(stream, ALL_RULES)
    assert CROSS_AGENT <= {a["rule_id"] for a in expected.values()}

    topics = Topics.unique("repart")
    a = worker(broker, topics, pg_url, tmp_path, name="a", rules=ALL_RULES)
    b = worker(broker, topics, pg_url, tmp_path, name="b", rules=ALL_RULES)
    try:
        a.start().wait_ready(timeout=40)  # one at a time: both would create the store's tables
        b.start().wait_ready(timeout=40)
        produce(broker, stream, topics.events, "--partitions", "4")
        assert a.wait_drained(timeout=60), a.log_path.read_text()[-3000:] + b.log_path.read_text()[-3000:]
        metrics = {"a": a.metrics(), "b": b.metrics()}
    finally:
        codes = (b.stop(), a.stop())
    assert codes == (0, 0)
    for name, text in metrics.items():  # both owned firehose partitions and forwarded from them
        assert sum(samples(text, "flockwatch_events_total").values()) > 0, name
        assert sum(samples(text, "flockwatch_repartition_forwarded_total").values()) > 0, name
        assert sum(samples(text, "flockwatch_repartition_held").values()) == 0, name

    stored = {x.fingerprint: x for x in AlertStore(pg_url).list(limit=100_000)}
    diff = differences(stored, expected)
    late = {n: samples(t, "flockwatch_repartition_late_total") for n, t in metrics.items()}
    assert not diff, "\n".join(diff) + f"\nlate: {late}"
    assert {fp: (s.rule_id, sorted(s.agent_ids), s.count) for fp, s in stored.items()} == {
        fp: (e["rule_id"], sorted(e["agent_ids"]), e["count"]) for fp, e in expected.items()}
