"""`first_seen`: the first time a term shows up (a new link domain, a new token
ticker, a new template), after the rule has watched the stream for `learn` of event
time. A term forgotten for `forget` is new again. `term` is a key spec; `group_by`
optionally scopes it (new *for this community*).

The learning period starts at the first event this process sees for the rule, so a
restarted worker learns again (it alerts late, never falsely early).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from flockwatch.detect.detector import DetectorConfigError, Finding
from flockwatch.detect.incident import finding, open_incident, sample_of
from flockwatch.detect.keyed import KeyedDetector
from flockwatch.detect.keys import KeySpecError, parse_key_spec
from flockwatch.detect.params import Params
from flockwatch.detect.registry import register
from flockwatch.ingest.event import Event


@register
class FirstSeenDetector(KeyedDetector):
    name = "first_seen"

    def __init__(self, rule: Any, params: dict[str, Any]):
        super().__init__(rule, params)
        p = Params(self.name, params, {"term", "group_by", "learn", "forget"})
        if "term" not in params:
            raise DetectorConfigError("first_seen needs `term:` (a field or key function)")
        try:
            term = parse_key_spec(params["term"])
        except KeySpecError as exc:
            raise DetectorConfigError(f"term: {exc}") from None
        self.learn = p.duration("learn", "1h")
        self.ttl = p.duration("forget", "7d")
        self.group_by = (p.group_by() if "group_by" in params else []) + [term]
        self._started: float | None = None

    def reset(self) -> None:
        super().reset()
        self._started = None  # learning starts again, as after a restart

    def observe(
        self, event: Event, evidence: list[dict[str, str]], state: MutableMapping[str, Any], key: str
    ) -> list[Finding]:
        ts = event.epoch
        if self._started is None or ts < self._started:
            self._started = ts
        entry = state.get(key)
        new = entry is None or ts - entry["t"] > self.ttl
        state[key] = {"t": max(ts, entry["t"]) if entry and not new else ts, "f": ts if new else entry["f"]}
        if not new or ts < self._started + self.learn:
            return []
        incident = open_incident([(ts, event.event_id, event.agent_id, sample_of(event))])
        ev = {"term": self.group_labels(key), "learned_seconds": self.learn, "matches": evidence}
        return [finding(key, incident, event, ev)]
