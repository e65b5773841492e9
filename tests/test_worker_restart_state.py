"""A restarted worker, and a worker joining the group, carry on the incidents in
progress, with every pack: whoever reads on restores the near-duplicate buckets
(MinHash signatures, 256-bit integers), template keys, ping-pong pairs and the rest
from the changelog, and the store holds exactly what `flockwatch scan` finds over the
whole stream.

The other restart tests use the baseline pack, whose state holds no integer past 64
bits. Faust's stock "json" codec is orjson whenever orjson is installed, which reads
such an integer as a float: when the table used it, the restored worker failed on its
first near-duplicate comparison (see worker/state_encoding.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flockwatch.store.alert_store import AlertStore
from support.cli import ROOT
from flockwatch.worker.process import WorkerProcess
from support.streams import ALL_RULES, Topics, differences, produce, samples, scan_alerts, worker

pytestmark = pytest.mark.kafka


def simulate(path: Path) -> list[str]:
    r = subprocess.run([sys.executable, "-m", "flockwatch", "simulate", "--seed", "5", "--agents", "300",
                        "--events", "4000", "--incidents", "6", "--out", str(path)],
                       capture_output=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    return path.read_text().splitlines()


def split_at_cascade(tmp_path: Path) -> tuple[Path, Path, dict[str, dict], dict]:
    """The simulated stream in two files, cut in the middle of its largest near-duplicate
    cascade (so whoever reads the second half must have that cascade's buckets), and
    what scan finds over the whole."""
    lines = simulate(tmp_path / "sim.jsonl")
    expected = scan_alerts(tmp_path / "sim.jsonl", ALL_RULES)
    cascade = max((a for a in expected.values() if a["rule_id"] == "cascades.near_duplicate_spam"),
                  key=lambda a: len(a["event_ids"]))
    position = {json.loads(line)["event_id"]: n for n, line in enumerate(lines)}
    members = sorted(position[e] for e in cascade["event_ids"])
    split = members[len(members) // 2]
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text("\n".join(lines[:split]) + "\n")
    second.write_text("\n".join(lines[split:]) + "\n")
    return first, second, expected, cascade


def log_tail(w: WorkerProcess) -> str:
    return f"{w.log_path.name} (tail):\n" + w.log_path.read_text()[-4000:]


def test_a_restarted_worker_completes_the_incidents_in_progress(broker: str, tmp_path: Path) -> None:
    first, second, expected, cascade = split_at_cascade(tmp_path)
    topics = Topics.unique("restart")
    db_url = f"sqlite:///{tmp_path / 'alerts.db'}"
    store = AlertStore(db_url)
    for part, name in ((first, "before"), (second, "after")):
        w = worker(broker, topics, db_url, tmp_path, name=name, rules=ALL_RULES)
        try:
            w.start().wait_ready(timeout=40)
            produce(broker, part, topics.events)
            drained = w.wait_drained(timeout=90)
        finally:
            code = w.stop()
        assert drained, log_tail(w)
        assert code == 0, log_tail(w)

    stored = {a.fingerprint: a for a in store.list(limit=100_000)}
    assert cascade["fingerprint"] in stored
    assert differences(stored, expected) == []


def test_a_worker_joining_mid_cascade_takes_over_partitions_and_their_state(broker: str, tmp_path: Path) -> None:
    # Scale-out while incidents are open: the firehose and `.by-key` partitions split
    # between the two, and each restores what it now owns, near-duplicate buckets too.
    first, second, expected, cascade = split_at_cascade(tmp_path)
    topics = Topics.unique("join")
    db_url = f"sqlite:///{tmp_path / 'alerts.db'}"
    store = AlertStore(db_url)
    a = worker(broker, topics, db_url, tmp_path, name="a", rules=ALL_RULES)
    b = worker(broker, topics, db_url, tmp_path, name="b", rules=ALL_RULES)
    try:
        a.start().wait_ready(timeout=40)
        produce(broker, first, topics.events)
        assert a.wait_drained(timeout=90), log_tail(a)
        b.start().wait_ready(timeout=40)
        produce(broker, second, topics.events)
        assert a.wait_drained(timeout=90), log_tail(a) + log_tail(b)
        b_events = sum(samples(b.metrics(), "flockwatch_events_total").values())
    finally:
        codes = (b.stop(), a.stop())
    assert codes == (0, 0), log_tail(a) + log_tail(b)
    assert b_events > 0  # the partitions were split

    stored = {x.fingerprint: x for x in store.list(limit=100_000)}
    assert cascade["fingerprint"] in stored
    assert differences(stored, expected) == []
