"""`seed_phrase`: a run of BIP-39 words long enough to be a wallet seed.

Twelve or more consecutive words from the BIP-39 lists (English, Spanish, French,
Italian) is a wallet's master secret: whoever reads it owns the funds. A regex
cannot check 2,048-word membership cheaply, so the rule's YAML condition carries a
cheap shape test (a dozen short lowercase words in a row, prefiltered by RE2) and
this type confirms the words against the real lists. The evidence says how many
words and where, never the words themselves.
"""

from __future__ import annotations

import threading
from collections.abc import MutableMapping
from typing import Any

from flockwatch.alerts.redact import fingerprint
from flockwatch.detect.detector import Detector, DetectorConfigError, Finding, check_settings
from flockwatch.detect.registry import register
from flockwatch.ingest.event import TEXT_FIELDS, Event
from flockwatch.text.secrets import MIN_SEED_WORDS, find_seed_phrases, may_hold_seed_phrase

_MAY_HOLD = frozenset({1})
_CANNOT_HOLD: frozenset[int] = frozenset()


class SeedScreen:
    """Whether any text field may hold a seed phrase (`may_hold_seed_phrase`). The
    engine asks it only for events the prefilter picked the rule for, before the
    rule's condition (a dozen-words shape search with the `regex` module, ~100 us on
    a long post that matches it, as most long prose does) is evaluated."""

    def __init__(self, min_words: int):
        self.min_words = min_words
        self._last = threading.local()

    def hits(self, event: Event) -> frozenset[int]:
        last = getattr(self._last, "answer", None)
        if last is not None and last[0] is event:
            return last[1]
        answer = _CANNOT_HOLD
        for name in TEXT_FIELDS:
            value = getattr(event, name)
            if value and may_hold_seed_phrase(value, self.min_words):
                answer = _MAY_HOLD
                break
        self._last.answer = (event, answer)
        return answer


@register
class SeedPhraseDetector(Detector):
    name = "seed_phrase"

    def __init__(self, rule: Any, params: dict[str, Any]):
        super().__init__(rule, params)
        check_settings("seed_phrase", params, {"min_words"})
        self.min_words = params.get("min_words", MIN_SEED_WORDS)
        if not isinstance(self.min_words, int) or not 8 <= self.min_words <= 24:
            raise DetectorConfigError("min_words must be a whole number from 8 to 24")
        self._screen = SeedScreen(self.min_words)

    def screen(self) -> tuple[SeedScreen, frozenset[int]]:
        return self._screen, _MAY_HOLD

    def possible(self, hits: frozenset[int]) -> bool:
        return bool(hits)

    def add_data(
        self, event: Event, evidence: list[dict[str, str]], state: MutableMapping[str, Any] | None
    ) -> list[Finding]:
        for name in TEXT_FIELDS:
            value = getattr(event, name)
            if not value:
                continue
            runs = find_seed_phrases(value, self.min_words)
            if runs:
                start, end, count = max(runs, key=lambda r: r[2])
                found = {"field": name, "words": count, "offset": start,
                         "phrase": f"[seed phrase: {count} words]#{fingerprint(value[start:end])}"}
                return [Finding.of_event(self.rule.evidence_key(event), event,
                                         {"seed_phrase": found, "matches": evidence})]
        return []
