"""End to end over a real broker (embedded Tansu) and a real PostgreSQL: produce the
demo sample (with its poison lines) and a seeded synthetic stream, run `flockwatch
worker` as a subprocess until it has committed everything, and check every place an
alert or a rejected event must land.

Then stateful rules across a restart: the stream ends with 5 posts of one agent (below
the flood threshold of 10); after a graceful stop, 6 more posts arrive and a restarted
worker must raise the flood with all 11, which needs the state table restored from
its changelog."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flockwatch.alerts.alert import Alert
from flockwatch.ingest.event import EVENT_TYPES
from flockwatch.kafka.offsets import read_topic
from flockwatch.store.alert_store import AlertStore
from flockwatch.worker.process import WorkerProcess
from support.servers import postgres_schema, postgres_url
from support.streams import Topics, differences, produce, samples, scan_alerts, worker, write_stream

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

N_SYNTHETIC = 2000
RESTART_AGENT = "agent-restart"


def restart_posts(first: int, n: int) -> list[str]:
    """Posts by one agent, 20 s apart, starting just after the stream's event time (the
    sample and 40 synthetic events/s from 12:00). Keeping event time moving forward
    matters: a jump far ahead lets garbage collection drop state that events still in
    flight on other partitions need (see docs/worker.md, "the one exception")."""
    t0 = datetime(2026, 1, 30, 12, 2, tzinfo=timezone.utc)
    return [json.dumps({"event_id": f"restart-{i}", "type": "post", "agent_id": RESTART_AGENT,
                        "ts": (t0 + timedelta(seconds=20 * i)).isoformat(), "text": f"update {i}"})
            for i in range(first, first + n)]


@dataclass
class Run:
    stream: Path
    lines: int
    topics: Topics
    stored: list[Alert]
    alerts_topic: list
    dead_letters: list
    metrics: str
    ready: dict
    health: int
    exit_code: int | None
    after_restart: list[Alert]
    restart_exit_code: int | None


def settled_metrics(w: WorkerProcess, timeout: float = 10.0) -> str:
    """/metrics once the lag gauge (refreshed every second) has caught up with the drain."""
    deadline = time.monotonic() + timeout
    while True:
        text = w.metrics()
        lag = samples(text, "flockwatch_consumer_lag")
        if (lag and not any(lag.values())) or time.monotonic() > deadline:
            return text
        time.sleep(0.2)


@pytest.fixture(scope="module")
def run(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    url, why = postgres_url()
    if url is None:
        pytest.skip(f"PostgreSQL store tests skipped: {why}")
    tmp = tmp_path_factory.mktemp("e2e")
    stream = write_stream(tmp / "events.jsonl", N_SYNTHETIC)
    with stream.open("a") as out:
        out.write("\n".join(restart_posts(0, 5)) + "\n")
    more = tmp / "more.jsonl"
    more.write_text("\n".join(restart_posts(5, 6)) + "\n")
    topics = Topics.unique("e2e")
    with postgres_schema(url) as db_url:
        produce(broker, stream, topics.events, "--raw")  # raw: the poison lines reach the worker
        w = worker(broker, topics, db_url, tmp).start()
        try:
            w.wait_ready()
            assert w.wait_drained(timeout=90), f"worker did not drain the topic; log: {w.log_path.read_text()[-3000:]}"
            metrics = settled_metrics(w)
            ready, health = w.ready_detail(), w.get("/healthz")[0]
        finally:
            code = w.stop()
        store = AlertStore(db_url)
        stored, alerts_topic = store.list(limit=100_000), read_topic(broker, topics.alerts)
        produce(broker, more, topics.events)
        w = worker(broker, topics, db_url, tmp, name="restarted").start()
        try:
            assert w.wait_drained(timeout=90), w.log_path.read_text()[-3000:]
        finally:
            restart_code = w.stop()
        yield Run(
            stream=stream, lines=sum(1 for line in stream.open() if line.strip()), topics=topics,
            stored=stored, alerts_topic=alerts_topic, dead_letters=read_topic(broker, topics.dead_letter),
            metrics=metrics, ready=ready, health=health, exit_code=code,
            after_restart=store.list(rule_id="baseline.post_flood", limit=100_000), restart_exit_code=restart_code,
        )


def test_worker_stores_the_same_alerts_as_scan(run: Run) -> None:
    expected = scan_alerts(run.stream)
    stored = {a.fingerprint: a for a in run.stored}
    assert len(expected) > 20, "the stream should fire plenty of rules"
    assert {a["rule_id"] for a in expected.values()} >= {
        "baseline.instruction_override", "baseline.operator_secret_request", "baseline.post_flood"}
    assert differences(stored, expected) == []  # same incidents with the same events, not just the same ids


def test_every_stored_alert_is_on_the_alerts_topic(run: Run) -> None:
    by_fp: dict[str, list] = {}
    for rec in run.alerts_topic:
        by_fp.setdefault(rec.key.decode(), []).append(rec)
    assert set(by_fp) == {a.fingerprint for a in run.stored}
    stored = {a.fingerprint: a for a in run.stored}
    for fp, recs in by_fp.items():
        latest = Alert.model_validate_json(recs[-1].value)
        assert latest.fingerprint == fp
        assert latest.count == stored[fp].count  # the last version published is the stored one
        headers = dict(recs[-1].headers)
        assert headers["flockwatch-change"] in (b"new", b"updated")
        assert int(headers["flockwatch-version"]) >= 1


def test_poison_lands_in_the_dead_letter_topic_and_nothing_is_lost(run: Run) -> None:
    records = [json.loads(r.value) for r in run.dead_letters]
    assert sorted(r["reason"] for r in records) == ["bad_value", "invalid_json"]
    for r in records:
        assert r["source"]["topic"] == run.topics.events
        assert isinstance(r["source"]["offset"], int)
        assert r["error"] and r["raw"]
    assert "poison-2" in next(r["raw"] for r in records if r["reason"] == "bad_value")
    events = sum(samples(run.metrics, "flockwatch_events_total").values())
    invalid = sum(samples(run.metrics, "flockwatch_invalid_events_total").values())
    assert events + invalid == run.lines  # every record was counted exactly once
    assert invalid == 2


def test_metrics_report_lag_types_latency_and_stored_alerts(run: Run) -> None:
    lag = samples(run.metrics, "flockwatch_consumer_lag")
    assert len(lag) == 4 and set(lag.values()) == {0.0}
    assert {dict(k)["topic"] for k in lag} == {run.topics.events}
    by_type = {dict(k)["type"]: v for k, v in samples(run.metrics, "flockwatch_events_total").items()}
    expected_types = Counter(json.loads(line)["type"] for line in run.stream.open()
                             if line.strip() and '"poison-' not in line)
    # Every type is exported from the start, at 0 (so increase() sees a first batch).
    assert by_type == {t: float(expected_types.get(t, 0)) for t in EVENT_TYPES}
    stored = samples(run.metrics, "flockwatch_alerts_stored_total")
    assert sum(stored.values()) >= len(run.stored)
    by_category = Counter(a.category for a in run.stored)
    for labels, value in stored.items():
        assert value >= by_category[dict(labels)["category"]]
    latency = samples(run.metrics, "flockwatch_processing_latency_seconds_count")
    assert sum(latency.values()) >= len(run.stored)
    assert samples(run.metrics, "flockwatch_invalid_events_total")[(("reason", "invalid_json"),)] == 1


def test_health_endpoints_and_graceful_stop(run: Run) -> None:
    assert run.health == 200
    assert run.ready == {"status": "ok", "partitions_assigned": True, "store_reachable": True, "rules_loaded": True}
    assert run.exit_code == 0


def test_stateful_rule_state_survives_a_restart(run: Run) -> None:
    assert not [a for a in run.stored if RESTART_AGENT in a.agent_ids]  # 5 posts: below the threshold
    floods = [a for a in run.after_restart if RESTART_AGENT in a.agent_ids]
    assert len(floods) == 1, "the restarted worker lost the first 5 posts (state table not restored?)"
    assert floods[0].count == 11
    assert set(floods[0].event_ids) == {f"restart-{i}" for i in range(11)}
    assert run.restart_exit_code == 0
