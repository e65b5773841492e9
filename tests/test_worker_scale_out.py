"""Two workers in one group on PostgreSQL: a second worker joins after the first has
processed a stream; the partitions split; incidents begun before the split are
completed after it, whichever worker now owns them (state handed over through the
changelog, and kept by the worker for the partitions it keeps)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from flockwatch.store.alert_store import AlertStore
from support.streams import Topics, differences, produce, samples, scan_alerts, worker, write_stream

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

AGENTS = [f"agent-split-{i}" for i in range(8)]  # spread over every partition


T0 = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def posts(first: int, n: int) -> list[str]:
    """Each agent posts every 20 s: 5 before the split and 6 after make a flood of 11.

    Event time keeps moving forward across the two halves (less disorder than any rule
    window): with time running backwards, `scan` and the workers would garbage-collect
    state at different points and legitimately disagree."""
    t0 = T0 + timedelta(seconds=60)
    return [json.dumps({"event_id": f"{agent}-{i}", "type": "post", "agent_id": agent, "text": f"update {i}",
                        "ts": (t0 + timedelta(seconds=20 * i)).isoformat()})
            for i in range(first, first + n) for agent in AGENTS]


def owned(metrics: str) -> set[str]:
    """Partitions a worker reports lag for (it drops the series of partitions that leave)."""
    return {dict(k)["partition"] for k in samples(metrics, "flockwatch_consumer_lag")}


def test_a_second_worker_takes_over_partitions_and_their_state(broker: str, pg_url: str, tmp_path: Path) -> None:
    first = write_stream(tmp_path / "first.jsonl", 2000, seed=41, with_sample=False, start=T0)  # ~50 s
    with first.open("a") as out:
        out.write("\n".join(posts(0, 5)) + "\n")
    second = tmp_path / "second.jsonl"
    write_stream(second, 2000, seed=42, with_sample=False, start=T0 + timedelta(seconds=150))
    with second.open("a") as out:
        out.write("\n".join(posts(5, 6)) + "\n")
    both = tmp_path / "both.jsonl"
    both.write_text(first.read_text() + second.read_text())
    expected = scan_alerts(both)
    floods = {fp for fp, a in expected.items() if a["rule_id"] == "baseline.post_flood"
              and a["agent_ids"][0] in AGENTS}
    assert len(floods) == len(AGENTS)

    topics = Topics.unique("split")
    produce(broker, first, topics.events)
    a = worker(broker, topics, pg_url, tmp_path, name="a").start()
    b = worker(broker, topics, pg_url, tmp_path, name="b")
    try:
        a.wait_ready()
        assert a.wait_drained(timeout=60)
        b.start()
        b.wait_ready(timeout=40)
        produce(broker, second, topics.events)
        assert a.wait_drained(timeout=60), b.log_path.read_text()[-2000:]
        a_parts, b_events = owned(a.metrics()), sum(samples(b.metrics(), "flockwatch_events_total").values())
    finally:
        codes = (b.stop(), a.stop())
    assert codes == (0, 0)
    assert b_events > 0 and len(a_parts) < 4, (a_parts, b_events)  # the partitions were split

    stored = {x.fingerprint: x for x in AlertStore(pg_url).list(limit=100_000)}
    assert differences(stored, expected) == [], (a_parts, b_events)
    for fp in floods:
        assert stored[fp].count == 11  # 5 posts before the split + 6 after, on either worker
