"""Inhibition: while a source alert fires, matching target alerts are not sent.

Example: a critical spam cascade inhibits the medium alerts of the same category,
so on-call people read one message about the incident, not its echoes. Inhibited
alerts are counted as `suppressed{reason="inhibited"}` and sent if they still fire
after the source resolves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flockwatch.notify.config import InhibitRule


class Inhibitor:
    def __init__(self, rules: Iterable[InhibitRule], active_sources: Iterable[Mapping[str, Any]]):
        """`active_sources`: labels of every alert not resolved (firing or acknowledged)."""
        self._rules: list[tuple[InhibitRule, dict[tuple[Any, ...], set[str]]]] = []
        sources = list(active_sources)
        for rule in rules:
            keys: dict[tuple[Any, ...], set[str]] = {}
            for src in sources:
                if rule.source.matches(src):
                    keys.setdefault(tuple(src.get(label) for label in rule.equal), set()).add(src["fingerprint"])
            self._rules.append((rule, keys))

    def inhibited(self, labels: Mapping[str, Any]) -> bool:
        for rule, keys in self._rules:
            if not keys or not rule.target.matches(labels):
                continue
            sources = keys.get(tuple(labels.get(label) for label in rule.equal))
            # An alert never inhibits itself (it may match both sides of a rule).
            if sources and sources - {labels["fingerprint"]}:
                return True
        return False
