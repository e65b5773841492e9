"""`spike`: a group suddenly far busier than it usually is. Event time is cut into
`window`-long buckets (aligned to the epoch, so every worker cuts them the same
way); each key learns an exponentially weighted mean of its per-bucket counts
(`alpha`). A bucket spikes when its count reaches `min_count` and `factor` times the
learned mean, once the key has at least `warmup` buckets of history (new keys are
never "spiking" against nothing). Quiet buckets between events pull the mean down.

A key's state expires after `forget` of silence (default 50 windows).
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping
from typing import Any

from flockwatch.detect.detector import Finding
from flockwatch.detect.incident import finding, grow, open_incident, sample_of, still_open
from flockwatch.detect.keyed import KeyedDetector
from flockwatch.detect.params import Params
from flockwatch.detect.registry import register
from flockwatch.ingest.event import Event

MAX_RECENT = 50


@register
class SpikeDetector(KeyedDetector):
    name = "spike"

    def __init__(self, rule: Any, params: dict[str, Any]):
        super().__init__(rule, params)
        p = Params(self.name, params, {"group_by", "window", "factor", "min_count", "warmup", "alpha", "forget"})
        self.window = p.duration("window")
        self.factor = p.number("factor", 5.0, 1.0, 1e6)
        self.min_count = p.integer("min_count", 10)
        self.warmup = p.integer("warmup", 6, minimum=1)
        self.alpha = p.number("alpha", 0.3, 0.01, 1.0)
        self.ttl = p.duration("forget", self.window * 50)
        self.group_by = p.group_by(["agent_id"])

    def observe(
        self, event: Event, evidence: list[dict[str, str]], state: MutableMapping[str, Any], key: str
    ) -> list[Finding]:
        ts = event.epoch
        bucket = math.floor(ts / self.window) * self.window
        entry = state.get(key) or {"t": ts, "start": bucket, "cur": 0, "mean": 0.0, "n": 0, "recent": [], "inc": None}
        if bucket > entry["start"]:
            self._roll(entry, bucket)
        if any(r[1] == event.event_id for r in entry["recent"]) or event.event_id in entry.get("prev", ()):
            return []  # a replay, also of the bucket before (a restarted worker re-reads across the turn)
        entry["cur"] += 1  # a late event (older bucket) counts toward the current one
        entry["t"] = max(entry["t"], ts)
        sample = sample_of(event)
        entry["recent"] = (entry["recent"] + [[ts, event.event_id, event.agent_id, sample]])[-MAX_RECENT:]
        baseline = max(entry["mean"], 1.0)
        spiking = entry["n"] >= self.warmup and entry["cur"] >= self.min_count and entry["cur"] >= self.factor * baseline
        incident = entry["inc"] if still_open(entry["inc"], ts, self.window) else None
        if incident is None and spiking:
            incident = open_incident([tuple(r) for r in entry["recent"]])  # type: ignore[misc]
        elif incident is not None:
            grow(incident, ts, event.event_id, event.agent_id, sample)
        if incident is not None:  # the summary reports the worst bucket, not the latest
            if entry["cur"] >= incident.get("peak", 0):
                incident["peak"], incident["peak_mean"] = entry["cur"], round(entry["mean"], 2)
        entry["inc"] = incident
        state[key] = entry
        if incident is None:
            return []
        ev = {"group": self.group_labels(key), "bucket_count": incident["peak"], "baseline": incident["peak_mean"],
              "factor": self.factor, "window_seconds": self.window, "matches": evidence}
        return [finding(key, incident, event, ev)]

    def _roll(self, entry: dict[str, Any], bucket: float) -> None:
        """Close the current bucket into the mean, decay over empty buckets, start anew."""
        a = self.alpha
        entry["mean"] = float(entry["cur"]) if entry["n"] == 0 else a * entry["cur"] + (1 - a) * entry["mean"]
        empty = int(round((bucket - entry["start"]) / self.window)) - 1
        if empty > 0:
            entry["mean"] *= (1 - a) ** min(empty, 1000)
        entry["n"] += 1 + max(empty, 0)
        entry["prev"] = [r[1] for r in entry["recent"]]
        entry["start"], entry["cur"], entry["recent"] = bucket, 0, []
