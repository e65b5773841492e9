"""The cipher pack's fast paths against the slow, obvious code they replace.

Each fast path (a byte search instead of a regex tried at every position, one look-up
per word instead of a set intersection per shift) must give exactly what the obvious
code gives, on inputs chosen to hit its edges: Unicode whitespace and word
characters, lone surrogates, links next to words, runs at the text's ends."""

from __future__ import annotations

import random

from flockwatch.ciphers import classical, encodings, leetspeak, spans
from flockwatch.ciphers.english import english

_RNG_PIECES = [
    "word", " ", "\n", "\u00a0", "\u2003", "\x1c", "é", "😀", "٣", "_", "2", "6", "-", ".", "?", "@", "#", "&", ";",
    "://", "http://a.b/c", "HTTP://x", "www.", "wwww.x", "x.www.y", "&amp;", "#tag", "p4ss", "1gn0r3", "h100",
    "aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=", "self-improvement-focused", "%20", "50%", "\ud800",
]


def _fuzz(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(_RNG_PIECES) for _ in range(rng.randint(0, 14))) for _ in range(n)]


def test_leet_tokens_are_the_token_regex_matches() -> None:
    for text in _fuzz(3000, 1):
        expected = [(m.start(), m.group()) for m in leetspeak._TOKEN_RE.finditer(text)]
        assert leetspeak.leet_tokens(text) == expected, text


def test_link_spans_are_the_link_regex_matches() -> None:
    for text in _fuzz(3000, 2):
        urls = [m.span() for m in spans._URL_RE.finditer(text)]
        hosts = [m.span() for m in spans._WWW_RE.finditer(text)]
        assert sorted(spans._anchored_spans(text)) == sorted(urls + hosts), text


def _long_tokens_by_split(text: str, min_chars: int) -> list[tuple[int, str]]:
    out, pos = [], 0
    for token in text.split():
        pos = text.find(token, pos)
        start, pos = pos, pos + len(token)
        if len(token) < min_chars:
            continue
        if "://" in token:
            q = token.find("?")
            if q == -1 or len(token) - q <= min_chars:
                continue
            start, token = start + q + 1, token[q + 1 :]
        out.append((start, token))
    return out


def test_long_tokens_are_the_long_whitespace_tokens() -> None:
    for text in _fuzz(3000, 3):
        raw = text.encode("utf-8", "replace")
        shape = encodings._shape_of(raw)
        assert len(shape) == len(text)
        found = encodings._long_tokens(text, shape, 16)
        assert found == _long_tokens_by_split(text, 16), text


def test_caesar_ranking_by_shift_classes_counts_what_the_intersections_count() -> None:
    model = english()
    classes = classical.shift_classes(model.vocab)
    rng = random.Random(4)
    vocab = sorted(model.vocab)
    for _ in range(300):
        words = [rng.choice(vocab) for _ in range(rng.randint(1, 12))]
        k = rng.randrange(26)
        unknown = sorted({w.translate(classical._CAESAR_BYTES[k]) for w in words if w.isalpha() and w.islower()})
        unknown = [w for w in unknown if w not in model.vocab]
        if not unknown:
            continue
        joined = b" ".join(unknown)
        expected = [len(model.vocab.intersection(joined.translate(t).split())) for t in classical._CAESAR_BYTES]
        assert classical._caesar_hits(unknown, classes)[1:] == expected[1:]


def test_utf8_tells_noise_from_text_without_raising() -> None:
    assert encodings._utf8(b"plain text") == "plain text"
    assert encodings._utf8("caf\u00e9 \ufffd".encode()) == "caf\u00e9 \ufffd"  # a real U+FFFD is text
    assert encodings._utf8(b"\xff\xfe binary") is None
    assert encodings._utf8(b"\xef\xbf\xbd\xff") is None  # a real U+FFFD next to bad bytes
