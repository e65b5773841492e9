"""`near_duplicate`: the same text, give or take small edits, at least `threshold`
times within `window` — from that many distinct agents (`count: agents`, a spam
cascade) or from anywhere (`count: events`; with `group_by: [agent_id]` it is one
agent repeating itself).

Texts are compared as sets of content words (case, numbers, emoji, punctuation and
word order ignored) through MinHash LSH: `bands` x `rows` permutations, and a text
joins every band bucket it hashes to. Two texts with word-set Jaccard similarity J
share at least one bucket with probability 1 - (1 - J**rows)**bands; the 50 % point
is about (1/bands)**(1/rows) (0.64 for the default 6 x 4). A cascade that spans
several buckets is reported once (see `window_count.py`).
"""

from __future__ import annotations

from typing import Any, ClassVar

from flockwatch.detect.detector import DetectorConfigError
from flockwatch.detect.keys import KeySpec, KeySpecError, parse_key_spec
from flockwatch.detect.params import Params
from flockwatch.detect.registry import register
from flockwatch.detect.rule_types.threshold import ThresholdDetector

_OWN = {"field", "bands", "rows", "min_tokens", "count"}


@register
class NearDuplicateDetector(ThresholdDetector):
    name = "near_duplicate"
    settings: ClassVar[set[str]] = ThresholdDetector.settings | _OWN
    default_group_by: ClassVar[list[str]] = []

    def __init__(self, rule: Any, params: dict[str, Any]):
        p = Params(self.name, params, self.settings)
        count = p.choice("count", "agents", ("agents", "events"))
        if "distinct" in params:
            raise DetectorConfigError("near_duplicate counts `count: agents|events`, not `distinct`")
        base = {k: v for k, v in params.items() if k not in _OWN}
        if count == "agents":
            base["distinct"] = "agent_id"
        self._lsh = {
            "key": "minhash", "field": params.get("field", "text"),
            "bands": p.integer("bands", 6), "rows": p.integer("rows", 4), "min_tokens": p.integer("min_tokens", 4),
        }
        self.count = count
        super().__init__(rule, base)

    def extra_keys(self, p: Params) -> list[KeySpec]:
        try:
            return [parse_key_spec(self._lsh)]
        except KeySpecError as exc:
            raise DetectorConfigError(str(exc)) from None

    def group_labels(self, key: str) -> dict[str, str]:
        labels = super().group_labels(key)
        labels.pop(self.group_by[-1].label, None)  # a band hash means nothing to a reader
        return labels
