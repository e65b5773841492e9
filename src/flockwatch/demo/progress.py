"""The demo's progress line: events processed and per second and dead letters from the
workers' own /metrics (the numbers an SRE sees in Grafana), alerts by category from the
store."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families


@dataclass
class Snapshot:
    at: float
    events: float = 0.0
    dead_letters: float = 0.0
    alert_updates: Counter[str] = field(default_factory=Counter)  # alert versions stored, by category


def snapshot(metric_texts: Iterable[str], at: float | None = None) -> Snapshot:
    """Sum the counters over every worker's /metrics text."""
    snap = Snapshot(time.monotonic() if at is None else at)
    for text in metric_texts:
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "flockwatch_events_total":
                    snap.events += s.value
                elif s.name == "flockwatch_dead_letters_total":
                    snap.dead_letters += s.value
                elif s.name == "flockwatch_alerts_stored_total":
                    snap.alert_updates[s.labels["category"]] += s.value
    return snap


def progress_line(now: Snapshot, before: Snapshot | None, elapsed: float, produced: int,
                  alerts_by_category: dict[str, int]) -> str:
    """`alerts_by_category`: incidents in the store (the metrics count alert updates)."""
    rate = 0.0
    if before is not None and now.at > before.at:
        rate = (now.events - before.events) / (now.at - before.at)
    alerts = ", ".join(f"{cat} {n}" for cat, n in sorted(alerts_by_category.items()) if n) or "none yet"
    return (f"{elapsed:5.0f}s  sent {produced:,}  processed {int(now.events):,} ({rate:,.0f}/s)  "
            f"dead letters {int(now.dead_letters)}  alerts: {alerts}")
