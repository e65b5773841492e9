"""`threshold`: at least `threshold` matching events per `group_by` key within a
sliding event-time `window`. Optionally counts distinct values of a field instead
(`distinct: agent_id`).

One alert per incident: the incident opens when the count first reaches the
threshold and stays open (and keeps growing) while events keep arriving within
`window` of the last one; its fingerprint is the rule, the key and the incident's
first event, so every update lands on the same alert.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from flockwatch.detect.detector import Detector, DetectorConfigError, Finding
from flockwatch.detect.durations import parse_duration
from flockwatch.detect.registry import register
from flockwatch.ingest.event import Event
from flockwatch.rules.fields import getter, valid_field

_MAX_KEPT = 1000  # events remembered per key; bounds memory for a runaway key


@register
class ThresholdDetector(Detector):
    name = "threshold"
    stateful = True

    def __init__(self, rule: Any, params: dict[str, Any]):
        super().__init__(rule, params)
        allowed = {"group_by", "window", "threshold", "distinct"}
        if set(params) - allowed:
            raise DetectorConfigError(f"unknown threshold settings {sorted(set(params) - allowed)}")
        try:
            self.window = parse_duration(params.get("window"))
        except ValueError as exc:
            raise DetectorConfigError(f"window: {exc}") from None
        threshold = params.get("threshold")
        if not isinstance(threshold, int) or threshold < 2:
            raise DetectorConfigError("threshold must be a whole number of at least 2")
        self.threshold = threshold
        group_by = params.get("group_by", ["agent_id"])
        self.group_by = [group_by] if isinstance(group_by, str) else list(group_by)
        distinct = params.get("distinct")
        for f in self.group_by + ([distinct] if distinct else []):
            if not isinstance(f, str) or not valid_field(f):
                raise DetectorConfigError(f"unknown field {f!r}")
        self._key_getters = [getter(f) for f in self.group_by]
        self.distinct = distinct
        self._distinct_get = getter(distinct) if distinct else None

    def partition_key(self, event: Event) -> str | None:
        parts = [g(event) for g in self._key_getters]
        if any(p is None or p == "" for p in parts):
            return None  # events without the grouping field cannot form a group
        return "\x1f".join(str(p) for p in parts)

    def add_data(
        self, event: Event, evidence: list[dict[str, str]], state: MutableMapping[str, Any] | None
    ) -> list[Finding]:
        assert state is not None
        key = self.partition_key(event)
        if key is None:
            return []
        ts = event.epoch
        entry = state.get(key) or {"events": [], "incident": None}
        events: list[list[Any]] = entry["events"]
        if any(e[1] == event.event_id for e in events):
            return []  # a replayed event must not count twice
        value = self._distinct_get(event) if self._distinct_get else event.event_id
        events.append([ts, event.event_id, event.agent_id, None if value is None else str(value)])
        events.sort(key=lambda e: e[0])  # late events within the window still count
        horizon = max(e[0] for e in events) - self.window
        events = [e for e in events if e[0] >= horizon][-_MAX_KEPT:]
        entry["events"] = events
        measure = len({e[3] for e in events if e[3] is not None})
        incident = entry["incident"]
        if incident is not None and ts - incident["last_ts"] > self.window:
            incident = None  # the previous incident went quiet for a whole window
        findings: list[Finding] = []
        if incident is None and measure >= self.threshold:
            incident = {"first_event": events[0][1], "first_ts": events[0][0], "last_ts": ts,
                        "ids": [e[1] for e in events], "agents": sorted({e[2] for e in events})}
        elif incident is not None:
            incident["last_ts"] = max(incident["last_ts"], ts)
            if event.event_id not in incident["ids"]:
                incident["ids"] = (incident["ids"] + [event.event_id])[-_MAX_KEPT:]
            if event.agent_id not in incident["agents"]:
                incident["agents"] = sorted(incident["agents"] + [event.agent_id])[:_MAX_KEPT]
        if incident is not None:
            findings.append(
                Finding(
                    key=f"{key}\x1f{incident['first_event']}",
                    event=event,
                    event_ids=list(incident["ids"]),
                    agent_ids=list(incident["agents"]),
                    first_ts=incident["first_ts"],
                    last_ts=incident["last_ts"],
                    count=len(incident["ids"]),
                    evidence={
                        "group": dict(zip(self.group_by, key.split("\x1f"))),
                        "window_seconds": self.window,
                        "threshold": self.threshold,
                        "measure": measure,
                        "distinct": self.distinct,
                        "matches": evidence,
                    },
                )
            )
        entry["incident"] = incident
        state[key] = entry  # reassign: Faust tables only changelog on set
        return findings

    def garbage_collect(self, watermark: float, state: MutableMapping[str, Any]) -> int:
        stale = [
            k for k, v in list(state.items())
            if not v["events"] or v["events"][-1][0] < watermark - self.window
        ]
        for k in stale:
            del state[k]
        return len(stale)
