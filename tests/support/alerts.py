"""Alert factories for tests."""

from __future__ import annotations

from flockwatch.alerts.alert import Alert, alert_id_of, fingerprint_of


def make_alert(key: str, *, rule: str = "r.test", events: list[str] | None = None, severity: str = "high",
               category: str = "other", pack: str = "p", tags: list[str] | None = None, title: str = "t",
               summary: str | None = None, agents: list[str] | None = None, evidence: dict | None = None,
               last: str = "2026-01-30T12:00:00.000Z") -> Alert:
    events = events or [f"{key}-e1"]
    fp = fingerprint_of(rule, key)
    return Alert(
        alert_id=alert_id_of(fp, events[0]), fingerprint=fp, rule_id=rule, pack=pack, pack_version="1.0.0",
        category=category, severity=severity, title=title, summary=summary if summary is not None else f"s {key}",
        tags=tags if tags is not None else ["x"], event_ids=events, agent_ids=agents or ["a1"], count=len(events),
        first_ts="2026-01-30T12:00:00.000Z", last_ts=last, evidence=evidence if evidence is not None else {"k": key},
    )
