"""Active incidents: alerts (by fingerprint) that saw a new event within the last
`horizon` seconds of event time, counted per category. A spam cascade or a reply loop
that keeps growing stays active; one that went quiet drops out. This is what the
overview dashboard's "active cascades" panel shows (`flockwatch_active_incidents`).

Counted per process from the alerts its engine emits; with several workers, each
stateful group lives on one worker, so the sum over workers is the fleet's count.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from flockwatch.alerts.alert import Alert
from flockwatch.metrics.registry import Metrics
from flockwatch.rules.spec import CATEGORIES

DEFAULT_HORIZON = 900.0  # 15 minutes of event time


class ActiveIncidents:
    def __init__(self, metrics: Metrics | None, horizon: float = DEFAULT_HORIZON):
        self.metrics = metrics
        self.horizon = horizon
        self._last: dict[str, tuple[str, float]] = {}  # fingerprint -> (category, last event time)

    def observe(self, alerts: Iterable[Alert]) -> None:
        for a in alerts:
            ts = datetime.fromisoformat(a.last_ts).timestamp()
            old = self._last.get(a.fingerprint)
            if old is None or ts > old[1]:
                self._last[a.fingerprint] = (a.category, ts)

    def update(self, watermark: float) -> dict[str, int]:
        """Forget incidents quiet for longer than the horizon; publish the counts."""
        cutoff = watermark - self.horizon
        self._last = {fp: v for fp, v in self._last.items() if v[1] >= cutoff}
        counts = dict.fromkeys(CATEGORIES, 0)
        for category, _ in self._last.values():
            counts[category] = counts.get(category, 0) + 1
        if self.metrics is not None:
            for category, n in counts.items():
                self.metrics.active_incidents.labels(category).set(n)
        return counts
