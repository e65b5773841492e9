"""The demo's printout: alerts by category and severity, then one line per alert."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Sequence

from flockwatch.alerts.alert import Alert
from flockwatch.rules.spec import SEVERITIES


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def counts_table(alerts: Sequence[Alert]) -> str:
    """Category rows x severity columns (most severe first), with totals."""
    severities = sorted({a.severity for a in alerts}, key=_rank, reverse=True)
    by = Counter((a.category, a.severity) for a in alerts)
    categories = sorted({a.category for a in alerts})
    width = max([len("category")] + [len(c) for c in categories])
    head = f"  {'category':<{width}}  " + "  ".join(f"{s:>8}" for s in severities) + f"  {'total':>6}"
    rows = [head]
    for c in categories:
        cells = "  ".join(f"{by[(c, s)] or '':>8}" for s in severities)
        rows.append(f"  {c:<{width}}  {cells}  {sum(by[(c, s)] for s in severities):>6}")
    return "\n".join(rows)


def alerts_table(alerts: Sequence[Alert], width: int | None = None) -> str:
    """One line per alert, most severe first: severity, rule, events, summary."""
    ordered = sorted(alerts, key=lambda a: (-_rank(a.severity), a.category, a.first_ts))
    rule_w = max([len("rule")] + [len(a.rule_id) for a in ordered])
    rows = [f"  {'severity':<8}  {'rule':<{rule_w}}  {'events':>6}  summary"]
    width = width or shutil.get_terminal_size((120, 24)).columns
    room = max(30, width - rule_w - 24)
    for a in ordered:
        summary = a.summary if len(a.summary) <= room else a.summary[: room - 1] + "…"
        rows.append(f"  {a.severity:<8}  {a.rule_id:<{rule_w}}  {a.count:>6}  {summary}")
    return "\n".join(rows)
