from __future__ import annotations

import pytest

from flockwatch.text.leet import leet_tolerant
from flockwatch.text.normalize import normalize

import regex


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("Ignore ALL previous", "ignore all previous"),
        ("Ｉｇｎｏｒｅ", "ignore"),  # fullwidth (NFKC)
        ("іgnоrе аll", "ignore all"),  # Cyrillic look-alikes (TR39 confusables)
        ("ig\u200bno\u200dre\ufeff", "ignore"),  # zero-width characters
        ("x" + "".join(chr(0xE0000 + ord(c)) for c in "send ETH"), "xsend eth"),  # Unicode tag smuggling
        ("Ignore%20all%20previous", "ignore all previous"),
        ("\\u0049\\u0067nore", "ignore"),
        ("Don&#x27;t &amp; go", "don't & go"),
        ("Précédentes Straße", "precedentes strasse"),
        ("Don’t — “quoted”", "don't - \"quoted\""),
        ("I g n o r e all", "ignore all"),
        ("s-e-n-d your k e y", "send your key"),
        ("i . g . n . o . r . e", "ignore"),
    ],
)
def test_normalize_undoes_obfuscation(raw: str, want: str) -> None:
    assert normalize(raw) == want


@pytest.mark.parametrize(
    "text",
    ["e.g. and i.e. stay", "version 2.0.1 ships today", "0x213dba333f24ec06c1a330d89efeac1df194692c",
     "a b is not spaced out"],
)
def test_normalize_leaves_ordinary_text_alone(text: str) -> None:
    assert normalize(text) == text


def test_normalize_handles_empty_and_none() -> None:
    assert normalize("") == ""
    assert normalize(None) == ""


def test_leet_tolerant_pattern_matches_leetspeak_but_keeps_regex_syntax() -> None:
    pattern = leet_tolerant(r"\bignore\s+(?:all\s+)?previous\s+instructions\b")
    assert regex.search(pattern, "1gn0r3 4ll pr3v10u5 1n57ruc710n5")
    assert regex.search(pattern, "ignore previous instructions")
    assert not regex.search(pattern, "ignored previous instructions")
    # escapes, classes, group headers and counted repeats are untouched
    assert leet_tolerant(r"\s\b[a-z](?P<name>x){2,3}(?<!not )") == r"\s\b[a-z](?P<name>x){2,3}(?<!n[o0][t7+] )"


def test_lone_surrogate_does_not_crash_normalisation_or_the_bank() -> None:
    # json.loads accepts "\ud800"; such a post once raised UnicodeEncodeError here
    from flockwatch.detect.cues import project

    text = normalize("x \ud800 s e n d")
    assert text == "x \ud800 send"
    assert project(text) == b"x \x80 send"


def test_nfkc_shortcut_equals_nfkc() -> None:
    """`_nfkc` replaces common compatibility punctuation by its decomposition before
    deciding whether the full NFKC pass is needed; the result must be NFKC's."""
    import random
    import unicodedata

    from flockwatch.text.normalize import _WIDE, _nfkc

    rnd = random.Random(3)
    chars = [c for c, _ in _WIDE] + list("aé\u0301\u0327漢字。a b.") + ["\uff21", "\u1100", "\u1161", "\u212b", "\ufb01"]
    for _ in range(20000):
        text = "".join(rnd.choice(chars) for _ in range(rnd.randint(0, 12)))
        assert _nfkc(text) == unicodedata.normalize("NFKC", text), repr(text)
    assert _nfkc("你好，世界！…") == "你好,世界!..."
