"""Active incidents: alerts (by fingerprint) that saw a new event within the last
`horizon` seconds of event time, counted per category. A spam cascade or a reply loop
that keeps growing stays active; one that went quiet drops out. This is what the
overview dashboard's "active cascades" panel shows (`flockwatch_active_incidents`).

Counted per process from the alerts its engine emits; with several workers, each
stateful group lives on one worker, so the sum over workers is the fleet's count.
"""

from __future__ import annotations

from collections.abc import Iterable
from flockwatch.alerts.alert import Alert, iso
from flockwatch.metrics.registry import Metrics
from flockwatch.rules.spec import CATEGORIES

DEFAULT_HORIZON = 900.0  # 15 minutes of event time


class ActiveIncidents:
    def __init__(self, metrics: Metrics | None, horizon: float = DEFAULT_HORIZON):
        self.metrics = metrics
        self.horizon = horizon
        # fingerprint -> (category, last event time). Times stay the alerts' fixed-width ISO
        # strings, compared as strings: no parsing per alert on the hot path.
        self._last: dict[str, tuple[str, str]] = {}

    def observe(self, alerts: Iterable[Alert]) -> None:
        for a in alerts:
            old = self._last.get(a.fingerprint)
            if old is None or a.last_ts > old[1]:
                self._last[a.fingerprint] = (a.category, a.last_ts)

    def update(self, watermark: float) -> dict[str, int]:
        """Forget incidents quiet for longer than the horizon; publish the counts."""
        if watermark == float("-inf"):
            return self._publish(dict.fromkeys(CATEGORIES, 0))
        cutoff = iso(watermark - self.horizon)
        self._last = {fp: v for fp, v in self._last.items() if v[1] >= cutoff}
        counts = dict.fromkeys(CATEGORIES, 0)
        for category, _ in self._last.values():
            counts[category] = counts.get(category, 0) + 1
        return self._publish(counts)

    def _publish(self, counts: dict[str, int]) -> dict[str, int]:
        if self.metrics is not None:
            for category, n in counts.items():
                self.metrics.active_incidents.labels(category).set(n)
        return counts
