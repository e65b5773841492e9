"""Find runs of non-English words: the candidate places where a cipher may hide.

A text is tokenised once, in C (`english.words_of`). Tokens that are never cipher
material are out of the game: URLs, e-mail addresses, @mentions, #tags and HTML
entities are blanked first (same length, so offsets hold), and tokens with a digit
(hashes, hex ids, UUIDs, usernames like agent_1736) never count as words.

Each token is classed E (in the English word list), U (unknown, alphabetic, at least
`min_word_len` letters) or N (neutral: anything else). A candidate run is a stretch of
U words in which single E words may sit between unknown ones, because a shift now and
then lands on a real word ("fur" is ROT13 of "she"). The common case, plain English,
is settled by one set difference: fewer distinct unknown words than a run needs means
there is no run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import filterfalse, repeat

from flockwatch.ciphers.english import EnglishModel, words_of, words_of_utf8

# Masked token kinds, each gated by a substring test so text without them pays one
# `in` check (regexes that start with a character class are slow in `re`).
_MASKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("#", re.compile(r"#[\w-]+")),
    ("&", re.compile(r"&#?\w+;")),
)
# Links and bare www. hosts. Both patterns open with `\b`, which leaves `re` trying
# every position of the text, so they are only tried where their literal part ("://",
# "www.") occurs (`_anchored_spans`).
_URL_RE = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+")
_WWW_RE = re.compile(r"\bwww\.\S+")
_SCHEME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789+.-")
_AT_LEFT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-")
_AT_RIGHT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
# The str-level twin of `words_of`: same tokens, with their character offsets.
_TOKEN_RE = re.compile(r"[A-Za-z0-9]+")
_RUN_RE = re.compile(r"U(?:N*E?N*U)*")
_AZ = [bytes([c]) for c in range(97, 123)]
# _SHORTER_THAN[n - 1]: every a-z string shorter than n letters (n = 1, 2, 3).
_SHORTER_THAN: tuple[frozenset[bytes], ...] = (
    frozenset(),
    frozenset(_AZ),
    frozenset(_AZ) | frozenset(a + b for a in _AZ for b in _AZ),
)


def _anchored_spans(text: str) -> list[tuple[int, int]]:
    """What `_URL_RE.finditer` and `_WWW_RE.finditer` find, trying each pattern only
    at the places its literal part allows: a link's match starts in the run of scheme
    characters just before its "://", a www. match at the "www." itself."""
    spans: list[tuple[int, int]] = []
    if "://" in text:
        pos = 0
        p = text.find("://")
        while p != -1:
            left = p
            while left > pos and text[left - 1] in _SCHEME_CHARS:
                left -= 1
            for s in range(left, p):  # the leftmost start that matches wins, as in finditer
                m = _URL_RE.match(text, s)
                if m is not None:
                    spans.append(m.span())
                    pos = m.end()
                    break
            else:
                pos = max(pos, p + 1)
            p = text.find("://", max(pos, p + 1))
    if "www." in text:
        pos = 0
        p = text.find("www.")
        while p != -1:
            m = _WWW_RE.match(text, p)
            pos = m.end() if m is not None else p + 1
            if m is not None:
                spans.append(m.span())
            p = text.find("www.", pos)
    return spans


def mask(text: str) -> str:
    """`text` with URLs, e-mail addresses, @mentions, #tags and HTML entities blanked
    out (replaced by spaces of the same length, so offsets hold)."""
    spans = _anchored_spans(text)
    for hint, pattern in _MASKS:
        if hint in text:
            spans.extend(m.span() for m in pattern.finditer(text))
    at = text.find("@")
    while at != -1:  # mentions and e-mail addresses: expand around each "@"
        a, b = at, at + 1
        while a > 0 and text[a - 1] in _AT_LEFT:
            a -= 1
        while b < len(text) and text[b] in _AT_RIGHT:
            b += 1
        spans.append((a, b))
        at = text.find("@", b)
    if not spans:
        return text
    parts, pos = [], 0
    for a, b in sorted(spans):
        if b <= pos:
            continue  # inside a span already blanked
        a = max(a, pos)
        parts.append(text[pos:a])
        parts.append(" " * (b - a))
        pos = b
    parts.append(text[pos:])
    return "".join(parts)


class Tokens:
    """A text's tokens. Character offsets are worked out only when asked for: most
    texts never need them (plain slots class: it is built for every field scanned)."""

    __slots__ = ("text", "words", "unknown", "outside", "_offsets", "_word_count")

    def __init__(self, text: str, words: list[bytes], unknown: frozenset[bytes] | set[bytes],
                 outside: frozenset[bytes] | set[bytes] | None = None):
        self.text = text  # the masked text the tokens come from
        self.words = words
        self.unknown = unknown  # distinct U words
        # Distinct tokens outside the word list (U and N words); None: not worked out.
        self.outside = outside
        self._offsets: list[tuple[int, int]] | None = None
        self._word_count: int | None = None

    def word_count(self) -> int:
        """Alphabetic words of two or more letters (worked out once, when a span is
        judged: most texts never get that far)."""
        if self._word_count is None:
            # In C: alphabetic tokens less the one-letter ones.
            words = self.words
            self._word_count = sum(map(bytes.isalpha, words)) - sum(map(_SHORTER_THAN[1].__contains__, words))
        return self._word_count

    def offsets(self) -> list[tuple[int, int]]:
        """Character span of every token."""
        if self._offsets is None:
            self._offsets = [(m.start(), m.end()) for m in _TOKEN_RE.finditer(self.text)]
        return self._offsets


@dataclass(frozen=True)
class Run:
    first: int  # token index
    last: int  # token index, inclusive
    words: list[bytes]  # the run's tokens
    tokens: Tokens

    @property
    def offsets(self) -> list[tuple[int, int]]:
        """Character span of every token of the text (indexed like `tokens.words`)."""
        return self.tokens.offsets()

    @property
    def start(self) -> int:
        return self.offsets[self.first][0]

    @property
    def end(self) -> int:
        return self.offsets[self.last][1]


def tokenize(text: str, model: EnglishModel, min_word_len: int = 3, min_unknown_hint: int = 2,
             raw: bytes | None = None) -> Tokens:
    """Tokens of `text`. The unknown-word set is only filtered down to real candidate
    words when it holds at least `min_unknown_hint` entries (below that no run can
    form, and the caller only needs to know the set is small). `raw`, when
    given, is `text.encode("utf-8", "replace")`."""
    masked = mask(text)
    # `raw` is the text's UTF-8, shared with the other finders; masking made a new string.
    words = words_of_utf8(raw) if raw is not None and masked is text else words_of(masked)
    # One look-up per token in C, without first building the set of all tokens.
    outside = set(filterfalse(model.vocab.__contains__, words))
    unknown = outside
    if len(outside) >= min_unknown_hint:  # most English texts stop here, unfiltered
        if min_word_len <= len(_SHORTER_THAN):
            # In C: alphabetic tokens, less every letter string too short to count.
            unknown = set(filter(bytes.isalpha, outside)).difference(_SHORTER_THAN[min_word_len - 1])
        else:
            unknown = {w for w in outside if len(w) >= min_word_len and w.isalpha()}
    return Tokens(masked, words, unknown, outside)


def candidate_runs(
    tokens: Tokens, model: EnglishModel, *, min_unknown: int, min_unknown_share: float
) -> list[Run]:
    """Runs of mostly unknown words, with their character span in the text."""
    if len(tokens.unknown) < min_unknown:
        # Repeats could still make a run, but a cipher run of a few words with fewer
        # distinct unknown words than `min_unknown` is too short to decode reliably.
        return []
    unknown = tokens.unknown
    outside = tokens.outside
    if outside is None:
        outside = set(filterfalse(model.vocab.__contains__, tokens.words))
    # Each token's class by one dict look-up in C: U and N words are the few outside
    # the word list, everything else is E.
    class_of = dict.fromkeys(outside, "N")
    class_of.update(dict.fromkeys(unknown, "U"))
    classes = "".join(map(class_of.get, tokens.words, repeat("E")))
    found = []
    for m in _RUN_RE.finditer(classes):
        seg = m.group()
        n_unknown = seg.count("U")
        n_known = seg.count("E")
        if n_unknown < min_unknown or n_unknown / (n_unknown + n_known) < min_unknown_share:
            continue
        a, b = m.start(), m.end() - 1
        # Short unknown words at the edges ("gb zr" is ROT13 "to me") belong to the
        # run; the judge trims any that do not decode.
        while a > 0 and classes[a - 1] == "N" and tokens.words[a - 1].isalpha():
            a -= 1
        while b + 1 < len(classes) and classes[b + 1] == "N" and tokens.words[b + 1].isalpha():
            b += 1
        found.append((a, b))
    return [Run(a, b, tokens.words[a : b + 1], tokens) for a, b in found]
