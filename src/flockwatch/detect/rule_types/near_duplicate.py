"""`near_duplicate`: the same text, give or take small edits, at least `threshold`
times within `window` — from that many distinct agents (`count: agents`, a spam
cascade) or from anywhere (`count: events`; with `group_by: [agent_id]` it is one
agent repeating itself).

Texts are compared as sets of content words (case, numbers, emoji, punctuation and
word order ignored) through MinHash LSH: `bands` x `rows` permutations, and a text
joins every band bucket it hashes to. Two texts with word-set Jaccard similarity J
share at least one bucket with probability 1 - (1 - J**rows)**bands; the 50 % point
is about (1/bands)**(1/rows) (0.25 for the default 16 x 2: generous on purpose).
Within a bucket only events whose signatures are `min_similarity` alike (default 0.6,
estimated Jaccard over 32 permutations) count together, so chance collisions on
common words do not add up. A cascade that spans several buckets is reported once
(see `window_count.py`). `bands: 0` skips LSH and compares within `group_by` only
(one agent's recent posts: cheap self-repetition).
"""

from __future__ import annotations

from typing import Any, ClassVar

from flockwatch.detect.detector import DetectorConfigError
from flockwatch.detect.keys import KeySpec, KeySpecError, parse_key_spec
from flockwatch.detect.params import Params
from flockwatch.detect.registry import register
from flockwatch.detect.rule_types.threshold import ThresholdDetector
from flockwatch.detect.text_sig import MEMO
from flockwatch.detect.window_count import COMPARE_LAST
from flockwatch.ingest.event import Event
from flockwatch.rules.fields import getter, valid_field

_OWN = {"field", "bands", "rows", "min_tokens", "count", "min_similarity"}


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
        self.field = params.get("field", "text")
        self.min_tokens = p.integer("min_tokens", 4)
        bands = p.integer("bands", 16, minimum=0)
        self._lsh = None if bands == 0 else {
            "key": "minhash", "field": self.field, "bands": bands, "rows": p.integer("rows", 2),
            "min_tokens": self.min_tokens,
        }
        if bands == 0 and not params.get("group_by"):
            raise DetectorConfigError("bands: 0 (no LSH) needs a group_by to compare within")
        self.count = count
        self.min_similarity = p.number("min_similarity", 0.6, 0.0, 1.0)
        self._text = getter(self.field) if valid_field(self.field) else None
        if self._text is None:
            raise DetectorConfigError(f"field: unknown field {self.field!r}")
        super().__init__(rule, base)
        if self.min_similarity > 0 and self.threshold > COMPARE_LAST:
            # Similarity is checked against the last COMPARE_LAST events of a bucket, so a
            # higher threshold could never be reached: refuse it instead of staying silent.
            raise DetectorConfigError(f"threshold: at most {COMPARE_LAST} with min_similarity > 0")
        self.counter.min_similarity = self.min_similarity

    def extra_keys(self, p: Params) -> list[KeySpec]:
        if self._lsh is None:
            return []
        try:
            return [parse_key_spec(self._lsh)]
        except KeySpecError as exc:
            raise DetectorConfigError(str(exc)) from None

    def compute_partition_keys(self, event: Event) -> list[str]:
        if self._lsh is None:  # no band key to skip short texts: do it here
            text = self._text(event) if self._text else None
            if not isinstance(text, str) or len(MEMO.words(text)) < self.min_tokens:
                return []
        return super().compute_partition_keys(event)

    def signature(self, event: Event) -> int | None:
        text = self._text(event) if self._text else None
        return MEMO.packed(text) if isinstance(text, str) and text else None

    def group_labels(self, key: str) -> dict[str, str]:
        labels = super().group_labels(key)
        labels.pop(self.group_by[-1].label, None)  # a band hash means nothing to a reader
        return labels
