"""Deduplication: is there anything in this alert that the group has not told yet?

Each group remembers what it last sent for each alert (version, status, severity).
A replayed or unchanged alert is not sent again; an acknowledged alert is only sent
again when its severity rises (someone is on it: growth alone is not news).
"""

from __future__ import annotations

from typing import Any

from flockwatch.rules.spec import SEVERITIES

SentState = dict[str, Any]  # {"v": version, "s": status, "sev": severity}


def state_of(version: int, status: str, severity: str) -> SentState:
    return {"v": version, "s": status, "sev": severity}


def change_of(previous: SentState | None, version: int, status: str, severity: str) -> str | None:
    """What is new for one alert since the group's last message, or None."""
    if status == "resolved":
        return "resolved" if previous is not None else None
    if previous is None:
        return "new"
    if escalated(previous, severity):
        return "escalated"
    if status == "acknowledged":
        return None
    if version > int(previous.get("v", 0)):
        return "updated"
    return None


def escalated(previous: SentState | None, severity: str) -> bool:
    """The alert is now worse than the group last told."""
    return previous is not None and _rank(severity) > _rank(previous.get("sev", severity))


def held_back_by_ack(previous: SentState | None, version: int, status: str) -> bool:
    """An acknowledged alert that grew without escalating: not sent, but counted."""
    return status == "acknowledged" and previous is not None and version > int(previous.get("v", 0))


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0
