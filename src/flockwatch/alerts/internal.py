"""Alerts flockwatch raises about itself (a refused rule reload, ...).

They have the same shape as rule alerts so they travel the same way (store, alerts
topic, notifications, API), under category `other` and pack `flockwatch`. Their event
time is wall-clock time: there is no platform event behind them.
"""

from __future__ import annotations

import time
from typing import Any

from flockwatch import __version__
from flockwatch.alerts.alert import Alert, alert_id_of, fingerprint_of, iso

INTERNAL_PACK = "flockwatch"


def internal_alert(
    rule_id: str,
    *,
    title: str,
    summary: str,
    key: str,
    severity: str = "high",
    tags: list[str] | None = None,
    evidence: dict[str, Any] | None = None,
    at: float | None = None,
) -> Alert:
    """`key` names the incident: the same rule and key update one alert (a broken pack
    file refused on every SIGHUP is one incident, not one alert per attempt)."""
    now = time.time() if at is None else at
    fp = fingerprint_of(rule_id, key)
    return Alert(
        alert_id=alert_id_of(fp, key), fingerprint=fp, rule_id=rule_id, pack=INTERNAL_PACK,
        pack_version=__version__, category="other", severity=severity, title=title, summary=summary,
        tags=list(tags or ["flockwatch"]), event_ids=[], agent_ids=[], count=1,
        first_ts=iso(now), last_ts=iso(now), evidence=dict(evidence or {}),
    )
