"""Silences: matchers with a time window, an author and a comment.

A silenced alert is still stored, acknowledged or resolved as usual; only its
messages are held back (counted as `suppressed{reason="silenced"}`). When the
silence ends, an alert still firing is sent as new.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flockwatch.notify.matchers import Matcher


@dataclass(frozen=True)
class Silence:
    id: str
    matcher: Matcher
    starts_at: float
    ends_at: float
    created_by: str
    comment: str

    def state(self, now: float) -> str:
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Silence:
        return cls(row["id"], Matcher.model_validate(row["matchers"]), row["starts_at"], row["ends_at"],
                   row["created_by"], row["comment"])


class SilenceSet:
    """The silences active at one moment."""

    def __init__(self, silences: Iterable[Silence], now: float):
        self.now = now
        self.active = [s for s in silences if s.state(now) == "active"]

    def silenced_by(self, labels: Mapping[str, Any]) -> Silence | None:
        for s in self.active:
            if s.matcher.matches(labels):
                return s
        return None
