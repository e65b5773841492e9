"""What the demo prints at the end: alerts by category and severity, and each injected
incident with the alert that caught it (or "missed"), from the alert store's contents.

An incident counts as caught by an alert that names one of its events and comes from
one of the rules the incident is meant to trip (or, where the generator names no rule,
an alert of the incident's category). Alerts that match no incident are shown too: on
benign background traffic they are false alarms, and the demo does not hide them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from flockwatch.alerts.alert import Alert
from flockwatch.rules.spec import CATEGORIES, SEVERITIES


@dataclass
class IncidentOutcome:
    name: str
    category: str
    events: int
    caught_by: list[str] = field(default_factory=list)  # rule ids

    @property
    def caught(self) -> bool:
        return bool(self.caught_by)


@dataclass
class DemoSummary:
    by_category_severity: Counter[tuple[str, str]]
    incidents: list[IncidentOutcome]
    unmatched: list[Alert]  # alerts about no injected incident
    internal: list[Alert]  # flockwatch's alerts about itself

    @property
    def total_alerts(self) -> int:
        return sum(self.by_category_severity.values())

    def render(self) -> str:
        lines = ["Alerts by category and severity", ""]
        severities = [s for s in reversed(SEVERITIES)]
        header = f"  {'category':20}" + "".join(f"{s:>10}" for s in severities) + f"{'total':>8}"
        lines += [header, "  " + "-" * (len(header) - 2)]
        for cat in CATEGORIES:
            row = [self.by_category_severity.get((cat, s), 0) for s in severities]
            if any(row):
                lines.append(f"  {cat:20}" + "".join(f"{n or '.':>10}" for n in row) + f"{sum(row):>8}")
        totals = [sum(n for (c, s), n in self.by_category_severity.items() if s == sev) for sev in severities]
        lines.append(f"  {'all':20}" + "".join(f"{n or '.':>10}" for n in totals) + f"{self.total_alerts:>8}")
        lines += ["", "Injected incidents", ""]
        for inc in self.incidents:
            status = "caught by " + ", ".join(inc.caught_by) if inc.caught else "MISSED"
            lines.append(f"  {inc.name:28} {inc.category:20} {inc.events:>3} events   {status}")
        caught = sum(i.caught for i in self.incidents)
        lines.append(f"  {caught} of {len(self.incidents)} incidents caught; "
                     f"{len(self.unmatched)} alert(s) on background traffic")
        for a in self.unmatched[:10]:
            lines.append(f"    background: {a.rule_id} ({a.category}/{a.severity}) {a.summary[:80]}")
        for a in self.internal:
            lines.append(f"  flockwatch: {a.rule_id}: {a.summary[:100]}")
        return "\n".join(lines)


def summarize(alerts: Iterable[Alert], labels: Iterable[dict[str, Any]]) -> DemoSummary:
    alerts = list(alerts)
    internal = [a for a in alerts if a.pack == "flockwatch"]
    detections = [a for a in alerts if a.pack != "flockwatch"]
    by = Counter((a.category, a.severity) for a in detections)
    explained: set[str] = set()
    outcomes = []
    for label in labels:
        if label.get("benign"):
            continue
        ids = set(label["event_ids"])
        expect = set(label.get("expect_rules") or [])
        caught = []
        for a in detections:
            if ids.isdisjoint(a.event_ids):
                continue
            if a.rule_id in expect or (not expect and a.category == label["category"]):
                caught.append(a.rule_id)
            explained.add(a.fingerprint)  # about this incident, even if from another rule
        outcomes.append(IncidentOutcome(label.get("name", label["kind"]), label["category"], len(ids),
                                        sorted(set(caught))))
    unmatched = [a for a in detections if a.fingerprint not in explained]
    return DemoSummary(by, outcomes, unmatched, internal)
