"""A restarted worker carries on the incidents in progress, with every pack: the second
worker restores the near-duplicate buckets (MinHash signatures, 256-bit integers),
template keys, ping-pong pairs and the rest from the changelog, and stores exactly what
`flockwatch scan` finds over the whole stream.

The other restart tests use the baseline pack, whose state holds no integer past 64
bits. Faust reads the changelog with the table's codec; its stock "json" codec is
orjson whenever orjson is installed, which reads such an integer as a float, and the
restored worker then failed on its first near-duplicate comparison."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flockwatch.store.alert_store import AlertStore
from support.cli import ROOT
from support.streams import ALL_RULES, Topics, differences, produce, scan_alerts, worker

pytestmark = pytest.mark.kafka


def simulate(path: Path) -> list[str]:
    r = subprocess.run([sys.executable, "-m", "flockwatch", "simulate", "--seed", "5", "--agents", "300",
                        "--events", "4000", "--incidents", "6", "--out", str(path)],
                       capture_output=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    return path.read_text().splitlines()


def test_a_restarted_worker_completes_the_incidents_in_progress(broker: str, tmp_path: Path) -> None:
    lines = simulate(tmp_path / "sim.jsonl")
    expected = scan_alerts(tmp_path / "sim.jsonl", ALL_RULES)
    # Stop the first worker in the middle of the largest near-duplicate cascade, so the
    # second must restore its buckets to report it as scan does.
    cascade = max((a for a in expected.values() if a["rule_id"] == "cascades.near_duplicate_spam"),
                  key=lambda a: len(a["event_ids"]))
    position = {json.loads(line)["event_id"]: n for n, line in enumerate(lines)}
    members = sorted(position[e] for e in cascade["event_ids"])
    split = members[len(members) // 2]
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text("\n".join(lines[:split]) + "\n")
    second.write_text("\n".join(lines[split:]) + "\n")

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
        assert drained, f"{name}: not drained; log tail:\n" + w.log_path.read_text()[-4000:]
        assert code == 0, f"{name}: exit {code}; log tail:\n" + w.log_path.read_text()[-4000:]

    stored = {a.fingerprint: a for a in store.list(limit=100_000)}
    assert cascade["fingerprint"] in stored
    assert differences(stored, expected) == []
