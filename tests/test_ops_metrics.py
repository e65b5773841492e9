"""Metrics the dashboards need beyond the engine's basics: engine time per rule, and
the active-incident gauge."""

from __future__ import annotations

import pytest

from flockwatch.alerts.internal import internal_alert
from flockwatch.detect.engine import Engine
from flockwatch.ingest.decode import decode_object
from flockwatch.metrics.incidents import ActiveIncidents
from flockwatch.metrics.registry import Metrics
from packs import load

TWO_RULES = """
rules:
  - id: tp.alpha
    title: alpha
    description: d
    category: spam_cascade
    severity: low
    condition: {field: text, icontains: alpha}
  - id: tp.beta
    title: beta
    description: d
    category: cipher
    severity: low
    condition: {field: text, regex: 'beta\\d+'}
"""


def ev(n: int, text: str, ts: str = "2026-01-30T12:00:00Z"):
    return decode_object({"event_id": f"e{n}", "type": "post", "ts": ts, "agent_id": "a", "text": text})


def test_engine_time_is_reported_per_rule_and_sums_to_the_pack() -> None:
    m = Metrics()
    engine = Engine([load(TWO_RULES)], metrics=m)
    for n in range(300):
        engine.process(ev(n, "alpha beta12" if n % 2 else "alpha"))
    engine.flush_metrics()
    alpha = m.registry.get_sample_value("flockwatch_rule_engine_seconds_total", {"rule": "tp.alpha", "pack": "tp"})
    beta = m.registry.get_sample_value("flockwatch_rule_engine_seconds_total", {"rule": "tp.beta", "pack": "tp"})
    pack = m.registry.get_sample_value("flockwatch_engine_seconds_total", {"pack": "tp"})
    assert alpha and beta and alpha > 0 and beta > 0
    assert pack == pytest.approx(alpha + beta)


def test_active_incidents_count_recent_incidents_by_category() -> None:
    m = Metrics()
    tracker = ActiveIncidents(m, horizon=600)
    t0 = 1_800_000_000.0
    old = internal_alert("x.old", title="t", summary="s", key="1", at=t0)
    fresh = internal_alert("x.fresh", title="t", summary="s", key="2", at=t0 + 900)
    tracker.observe([old, fresh, fresh])
    counts = tracker.update(watermark=t0 + 1000)
    assert counts["other"] == 1  # the old one went quiet more than 600 s before the watermark
    assert m.registry.get_sample_value("flockwatch_active_incidents", {"category": "other"}) == 1
    assert m.registry.get_sample_value("flockwatch_active_incidents", {"category": "spam_cascade"}) == 0
    assert tracker.update(watermark=t0 + 2000)["other"] == 0
