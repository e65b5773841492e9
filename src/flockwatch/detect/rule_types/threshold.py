"""`threshold`: at least `threshold` matching events per `group_by` key within a
sliding event-time `window`. With `distinct: <field>` it counts distinct values of
that field instead (at least N distinct agents per URL, per template, ...).

`group_by` takes fields and key functions (`keys.py`): `urls(text)`, `template(text)`,
`fingerprint(text)`, `minhash(text)`, `name_stem(agent_name)`, `pair(agent_id)`, ...

One alert per incident: the incident opens when the count first reaches the
threshold and stays open (and keeps growing) while events keep arriving within
`window` of the last one; its fingerprint is the rule, the key and the incident's
first event, so every update lands on the same alert.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, ClassVar

from flockwatch.detect.detector import DetectorConfigError, Finding
from flockwatch.detect.incident import finding, sample_of
from flockwatch.detect.keyed import KeyedDetector
from flockwatch.detect.params import Params
from flockwatch.detect.registry import register
from flockwatch.detect.window_count import MAX_KEPT, Record, WindowCount, fan_of
from flockwatch.ingest.event import Event
from flockwatch.rules.fields import getter, valid_field


@register
class ThresholdDetector(KeyedDetector):
    name = "threshold"
    settings: ClassVar[set[str]] = {"group_by", "window", "threshold", "distinct", "max_kept"}
    default_group_by: ClassVar[list[str]] = ["agent_id"]
    min_threshold: ClassVar[int] = 2

    def __init__(self, rule: Any, params: dict[str, Any]):
        super().__init__(rule, params)
        p = Params(self.name, params, self.settings)
        self.window = p.duration("window")
        self.ttl = self.window
        self.threshold = p.integer("threshold", minimum=self.min_threshold)
        self.group_by = p.group_by(self.default_group_by)
        self.group_by.extend(self.extra_keys(p))
        self.fan_out = any(s.fan_out for s in self.group_by)
        self._prepared: tuple[Any, Any] = (None, None)
        distinct = params.get("distinct")
        if distinct is not None and (not isinstance(distinct, str) or not valid_field(distinct)):
            raise DetectorConfigError(f"distinct: unknown field {distinct!r}")
        self.distinct = distinct
        self._distinct_get = getter(distinct) if distinct else None
        self.counter = WindowCount(self.window, self.threshold, distinct is not None,
                                   p.integer("max_kept", MAX_KEPT))

    def extra_keys(self, p: Params) -> list[Any]:
        """Key specs a subclass appends to `group_by` (e.g. MinHash bands)."""
        return []

    def observe(
        self, event: Event, evidence: list[dict[str, str]], state: MutableMapping[str, Any], key: str
    ) -> list[Finding]:
        entry, incident, measure = self.counter.add(state.get(key), key, self._prepare(event))
        state[key] = entry  # reassign: Faust tables only changelog on set
        if incident is None:
            return []
        return [finding(self.incident_key(key), incident, event, self.evidence(key, measure, evidence))]

    def observe_keys(
        self, event: Event, evidence: list[dict[str, str]], state: MutableMapping[str, Any], keys: list[str]
    ) -> list[Finding]:
        """`observe` + `touched` for each key, with the per-event work done once: a
        near-duplicate text lands in ten LSH buckets, so the per-key path is hot. Rule
        types that extend `observe` (propagation) take the general path."""
        if type(self).observe is not ThresholdDetector.observe:
            return super().observe_keys(event, evidence, state, keys)
        record = self._prepare(event)
        add, get = self.counter.add, state.get
        out: list[Finding] = []
        for key in keys:
            entry, incident, measure = add(get(key), key, record)
            state[key] = entry  # reassign: Faust tables only changelog on set
            if incident is not None:
                out.append(finding(self.incident_key(key), incident, event, self.evidence(key, measure, evidence)))
        self.touched_all(keys, record[0])
        return out

    def incident_key(self, key: str) -> str:
        """The key part of the alert fingerprint. Fan-out parts (which URL, which LSH
        band) are left out: buckets of one cascade share its first event, so they
        report the same incident even when neither bucket could see the other."""
        if not self.fan_out:
            return key
        parts = key.split("\x1f")
        return "\x1f".join(p for p, s in zip(parts, self.group_by) if not s.fan_out)

    def signature(self, event: Event) -> int | None:
        """Packed MinHash signature to compare events within a bucket (near_duplicate)."""
        return None

    def _prepare(self, event: Event) -> Record:
        """The event's record for `WindowCount.add`: everything about it that does not
        depend on the key, once per event (a fan-out event is observed once per key, and
        every key keeps the same record). Keyed by id *and* text: decoded content the
        engine rescans keeps its event's id."""
        memo = (event.event_id, event.text, event.title)
        if self._prepared[0] == memo:
            return self._prepared[1]
        if self._distinct_get is not None:
            raw = self._distinct_get(event)
            value = None if raw is None else str(raw)
        else:
            value = event.event_id
        fan = fan_of(self.partition_keys(event)) if self.fan_out else None
        prepared = (event.epoch, event.event_id, event.agent_id, value, fan, sample_of(event), self.signature(event))
        self._prepared = (memo, prepared)
        return prepared

    def evidence(self, key: str, measure: int, matches: list[dict[str, str]]) -> dict[str, Any]:
        return {
            "group": self.group_labels(key),
            "window_seconds": self.window,
            "threshold": self.threshold,
            "measure": measure,
            "distinct": self.distinct,
            "matches": matches,
        }


@register
class DistinctCountDetector(ThresholdDetector):
    """`distinct_count`: `threshold` with `distinct` required (default `agent_id`):
    at least N distinct agents per group within the window."""

    name = "distinct_count"

    def __init__(self, rule: Any, params: dict[str, Any]):
        super().__init__(rule, {"distinct": "agent_id", **params})
