"""The demo's parts without a broker: the live stream, the progress line, the summary."""

from __future__ import annotations

from datetime import datetime, timezone

from prometheus_client import generate_latest

from flockwatch.alerts.internal import internal_alert
from flockwatch.demo.progress import progress_line, snapshot
from flockwatch.demo.stream import DEMO_INCIDENTS, DemoPlan, DemoStream, paced
from flockwatch.demo.summary import summarize
from flockwatch.metrics.registry import Metrics

START = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)


def test_stream_holds_the_five_incidents_within_the_run_in_time_order() -> None:
    stream = DemoStream(DemoPlan(duration=20, rate=50, seed=3), start=START)
    events = stream.events()
    dues = [d for d, _ in events]
    assert dues == sorted(dues) and dues[0] >= 0
    assert {label["kind"] for label in stream.labels} == set(DEMO_INCIDENTS)
    incident_ids = {i for label in stream.labels for i in label["event_ids"]}
    by_id = {e["event_id"]: (d, e) for d, e in events}
    assert incident_ids <= set(by_id)
    for i in incident_ids:  # every incident plays out before the run ends
        assert by_id[i][0] <= 20 * DemoStream.END_MARGIN + 1e-6
    for d, e in events[:50]:  # event time is wall time from the start
        assert abs((datetime.fromisoformat(e["ts"]) - START).total_seconds() - d) < 1e-3
    again = DemoStream(DemoPlan(duration=20, rate=50, seed=3), start=START).events()
    assert [e for _, e in again] == [e for _, e in events]  # same seed, same stream


def test_paced_waits_for_each_event_and_stops_on_request() -> None:
    import threading
    import time

    stop = threading.Event()
    t0 = time.monotonic()
    got = list(paced([(0.0, {"n": 1}), (0.2, {"n": 2})], clock=t0, stop=stop))
    assert [e["n"] for e in got] == [1, 2] and time.monotonic() - t0 >= 0.2
    stop.set()
    assert list(paced([(0.0, {"n": 1}), (5.0, {"n": 2})], stop=stop)) == []


def test_progress_reads_the_workers_metrics() -> None:
    a, b = Metrics(), Metrics()
    a.events.labels("post").inc(100)
    b.events.labels("dm").inc(50)
    b.dead_letters.labels("invalid_json").inc(2)
    before = snapshot([generate_latest(a.registry).decode()], at=0.0)
    now = snapshot([generate_latest(a.registry).decode(), generate_latest(b.registry).decode()], at=2.0)
    assert now.events == 150 and now.dead_letters == 2
    line = progress_line(now, before, 12, 160, {"spam_cascade": 2})
    assert "processed 150 (25/s)" in line and "dead letters 2" in line and "spam_cascade 2" in line


def _alert(rule: str, category: str, event_ids: list[str], key: str):  # type: ignore[no-untyped-def]
    a = internal_alert(rule, title="t", summary=f"{rule} fired", key=key, severity="high")
    return a.model_copy(update={"pack": rule.split(".")[0], "category": category, "event_ids": event_ids})


def test_summary_matches_alerts_to_incidents() -> None:
    labels = [
        {"kind": "campaign", "name": "spam cascade", "category": "spam_cascade",
         "expect_rules": ["cascades.near_duplicate_spam"], "event_ids": ["c1", "c2", "c3"]},
        {"kind": "rot13_injection", "name": "ROT13-wrapped injection", "category": "cipher",
         "expect_rules": [], "event_ids": ["r1"]},
        {"kind": "ping_pong", "name": "reply ping-pong loop", "category": "feedback_loop",
         "expect_rules": ["cascades.reply_ping_pong"], "event_ids": ["p1", "p2"]},
        {"kind": "news_discussion", "benign": True, "category": "spam_cascade", "expect_rules": [], "event_ids": ["n1"]},
    ]
    alerts = [
        _alert("cascades.near_duplicate_spam", "spam_cascade", ["c2", "c3"], "1"),
        _alert("ciphers.rot13", "cipher", ["r1"], "2"),
        _alert("cascades.self_repetition", "feedback_loop", ["p1"], "3"),  # about the loop, wrong rule
        _alert("baseline.post_flood", "spam_cascade", ["x9"], "4"),  # about nothing injected
        internal_alert("flockwatch.rules_reload_failed", title="t", summary="refused", key="5"),
    ]
    s = summarize(alerts, labels)
    verdict = {i.name: i.caught_by for i in s.incidents}
    assert verdict == {"spam cascade": ["cascades.near_duplicate_spam"], "ROT13-wrapped injection": ["ciphers.rot13"],
                       "reply ping-pong loop": []}
    assert [a.rule_id for a in s.unmatched] == ["baseline.post_flood"]
    assert [a.rule_id for a in s.internal] == ["flockwatch.rules_reload_failed"]
    assert s.total_alerts == 4
    text = s.render()
    assert "reply ping-pong loop" in text and "MISSED" in text
    assert "2 of 3 incidents caught; 1 alert(s) on background traffic" in text
    row = next(line for line in text.splitlines() if line.strip().startswith("spam_cascade"))
    assert row.split()[-1] == "2"


def test_every_rule_the_generators_expect_is_a_shipped_rule() -> None:
    # A renamed rule must not turn a caught incident into "MISSED" in the demo and the evals.
    from pathlib import Path

    from flockwatch.rules.loader import load_packs
    from support.streams import ALL_PACKS
    from flockwatch.simulate.firehose import SyntheticFirehose

    shipped = {r.id for p in load_packs([Path(__file__).resolve().parents[1] / "rules"]) for r in p.rules}
    stream = DemoStream(DemoPlan(duration=20, rate=50, seed=3), start=START)
    stream.events()
    expected = {rule for label in stream.labels for rule in label.get("expect_rules") or []}
    firehose = {ev["attrs"]["synthetic_attack"] for ev in SyntheticFirehose(seed=1, agents=200).events(20000)
                if "synthetic_attack" in (ev.get("attrs") or {})}
    assert expected and firehose
    assert expected - shipped == set()
    assert firehose - shipped == set()


def test_the_default_demo_raises_no_alert_on_its_background_traffic() -> None:
    # The demo lists alerts on background traffic as false alarms. With 300 agents at the
    # default 200 events/s each agent posted a dozen times a minute, and baseline.post_flood
    # reported 38 of them: the agent count now follows the rate.
    from flockwatch.alerts.collector import AlertCollector
    from flockwatch.cli.demo import demo
    from flockwatch.detect.engine import Engine
    from flockwatch.ingest.decode import decode_object
    from flockwatch.rules.loader import load_packs
    from support.streams import ALL_PACKS

    defaults = {p.name: p.default for p in demo.params}
    plan = DemoPlan(duration=defaults["duration"], rate=defaults["rate"], seed=defaults["seed"])
    assert plan.society_agents >= 10_000
    stream = DemoStream(plan, start=START)
    engine = Engine(load_packs([ALL_PACKS]))
    collector = AlertCollector()
    for _, raw in stream.events():
        collector.add(engine.process(decode_object(raw)))  # type: ignore[arg-type]
    alerts = collector.alerts()
    incident_ids = {i for label in stream.labels for i in label["event_ids"]}
    background = [f"{a.rule_id}: {a.summary}" for a in alerts if not set(a.event_ids) & incident_ids]
    assert background == []
    missed = [label["name"] for label in stream.labels if not any(set(a.event_ids) & set(label["event_ids"])
                                                                  for a in alerts)]
    assert missed == []
