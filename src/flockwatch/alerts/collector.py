"""Keeps the latest version of every incident seen in a run, merged by fingerprint,
in first-seen order (what `scan` prints and what the inline tests inspect)."""

from __future__ import annotations

from collections.abc import Iterable

from flockwatch.alerts.alert import Alert


class AlertCollector:
    def __init__(self) -> None:
        self._by_fp: dict[str, Alert] = {}

    def add(self, alerts: Iterable[Alert]) -> None:
        for a in alerts:
            old = self._by_fp.get(a.fingerprint)
            self._by_fp[a.fingerprint] = a if old is None else old.merge(a)

    def __len__(self) -> int:
        return len(self._by_fp)

    def alerts(self) -> list[Alert]:
        return list(self._by_fp.values())
