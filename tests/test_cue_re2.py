"""The cue bank may only skip a group when the group cannot match: its RE2 hint
must match whenever the real pattern does (on the same normalised text)."""

from __future__ import annotations

import pytest
import re2
import regex

from flockwatch.detect.cue_re2 import CueTranslationError, cue_hint, cue_to_re2
from flockwatch.detect.cues import _latin1_options, project

PATTERNS = [
    r"\bignore\s+(?:all\s+)?previous\b",
    r"\bpass(?:word|words)\b(?! managers?)",
    r"(?:^|\s|/)\.env\b",
    r"\b0x[0-9a-f]{40}\b",
    r"\b[a-z0-9._%+-]+@[a-z0-9-]+\.[a-z]{2,}\b",
    r"\bapi[ _-]?keys?\b",
    r"\b(?:ba)?sh\s+-c\b",
    r"\b(?:2fa|mfa|otp) (?:codes?|pins?)\b",
    r"(?<!not )\bsend\b",
    r"\bre-?verif\w+",
]
TEXTS = [
    "please ignore all previous rules", "ignore previous", "my password is safe", "the password manager",
    "cat .env now", "x/.env", "send to 0x213dba333f24ec06c1a330d89efeac1df194692c", "mail me at a.b@evil.example",
    "api_key and api keys", "run sh -c 'x'", "bash -c", "your 2fa code please", "do not send", "send it",
    "reverify your account", "re-verification", "日本語 ignore all previous 🦞", "naïve text",
]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_hint_and_translation_are_supersets(pattern: str) -> None:
    real = regex.compile(pattern)
    hint = re2.compile(cue_hint(pattern).encode("latin-1"), _latin1_options())
    full = re2.compile(cue_to_re2(pattern).encode("latin-1"), _latin1_options())
    for text in TEXTS:
        if real.search(text):
            assert hint.search(project(text)), (pattern, text)
            assert full.search(project(text)), (pattern, text)


def test_hint_is_literal_when_it_can_be() -> None:
    hint = cue_hint(r"\bapi[ _-]?keys?\b")
    assert "[" not in hint and r"\bapi_key" in hint.replace("\\_", "_")
    assert cue_hint(r"\b(?:send|share)\b") == r"(?:\bsend|\bshare)"


@pytest.mark.parametrize("pattern", [r"(a)\1", r"\p{L}+", r"[\W]"])
def test_untranslatable_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(CueTranslationError):
        cue_to_re2(pattern)


def test_projection_maps_each_character_beyond_latin1_to_0x80() -> None:
    import random

    from flockwatch.detect.cues import project

    rnd = random.Random(9)
    pool = ["a", "?", " ", "é", "\x80", "\xff", "漢", "😀", "\ud800", "ß", "—"]
    for _ in range(5000):
        text = "".join(rnd.choice(pool) for _ in range(rnd.randint(0, 10)))
        assert project(text) == bytes(ord(c) if ord(c) < 256 else 0x80 for c in text), repr(text)


def test_fallback_shortcut_never_hides_a_lookaround_match(repo_root) -> None:
    """A look-around pattern's `regex` search is skipped when its RE2 translation
    finds nothing on the plain projection; on the shipped packs' test texts and
    leetspeak variants of them, the translation must match wherever the search does."""
    import random

    from flockwatch.detect import cues
    from flockwatch.detect.engine import Engine
    from flockwatch.rules.loader import load_packs
    from flockwatch.text.normalize import normalize
    from flockwatch.text.re2_bytes import first_span

    engine = Engine(load_packs([repo_root / "rules" / "social_engineering.yaml"]))
    texts = [normalize(case.get("text", "")) for rule in engine.rules
             for cases in rule.tests.values() for case in cases if isinstance(case, dict)]
    texts += ["never share your password manager", "p4ssw0rd please", "send it to https://evil.example/x",
              "la tua password", "mot de passe", "paste your p@55word here"]
    rnd = random.Random(2)
    leet = {"a": "4@", "e": "3", "i": "1!|", "o": "0", "s": "5$", "t": "7+"}
    texts += ["".join(rnd.choice(leet[c]) if c in leet and rnd.random() < 0.4 else c for c in t)
              for t in texts for _ in range(3)]
    fallbacks = [m for g in cues._MATCHERS.values() for m in g.langs.values() if m.fallback is not None]
    assert fallbacks and all(m.fallback_hint is not None for m in fallbacks)
    matched = 0
    for matcher in fallbacks:
        for text in texts:
            if matcher.fallback.search(text):
                matched += 1
                assert first_span(matcher.fallback_hint, cues.project(text)) is not None, text
    assert matched > 20
