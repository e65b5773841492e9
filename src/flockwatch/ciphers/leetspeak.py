"""Leetspeak used to slip words past keyword filters: "1gn0r3 4ll pr3v10us
1n5truct10n5". A token is a leet word when it mixes letters with leet symbols and
reads as a dictionary word once the symbols are put back (1 may stand for i or l).
Version strings, model names and usernames (gpt4, web3, agent_1736, h100) do not read
as words, so they do not count.

The decoded text is the whole field with every leet word replaced, so the rescan sees
the sentence the filter was meant to see.
"""

from __future__ import annotations

import re
from itertools import product

from flockwatch.ciphers.config import LeetSettings
from flockwatch.ciphers.decoding import Decoding
from flockwatch.ciphers.english import EnglishModel, words_of

# Symbol -> the letters it may stand for.
LEET: dict[str, str] = {
    "0": "o", "1": "il", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
    "@": "a", "$": "s", "!": "i", "|": "l", "+": "t",
}
_SYMBOLS = re.escape("".join(LEET))
# Cheap gate, all in C: fold letters to "a" and leet symbols to "1", then look for a
# symbol inside a word ("pr3v10us"); a leet sentence of three words has one.
_GATE = bytes(
    97 if chr(c).isascii() and chr(c).isalpha() else 49 if chr(c) in LEET else 32 for c in range(256)
)
# A candidate token: letters and leet symbols only, at least one symbol. Possessive
# and anchored at token starts, so a long crafted token costs linear time.
_TOKEN_RE = re.compile(
    rf"(?<![\w{_SYMBOLS}])(?=[A-Za-z{_SYMBOLS}]*?[{_SYMBOLS}])[A-Za-z{_SYMBOLS}]++(?![\w{_SYMBOLS}])"
)
_MAX_VARIANTS = 16


def _readings(token: str) -> list[str]:
    """Every letter string the token may stand for (ambiguous symbols expanded)."""
    # Punctuation-like symbols at the edges are punctuation, not letters.
    core = token.lower().strip("!|+$@")
    if not any(c.isalpha() for c in core) or not any(c in LEET for c in core):
        return []
    options = [LEET.get(c, c) for c in core]
    n = 1
    for o in options:
        n *= len(o)
    if n > _MAX_VARIANTS:
        return []
    return ["".join(p) for p in product(*options)]


def deleet_word(token: str, model: EnglishModel, min_len: int) -> str | None:
    for reading in _readings(token):
        if len(reading) >= min_len and reading.encode() in model.vocab:
            return reading
    return None


_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" + "".join(LEET))
_SYMBOL_RE = re.compile(f"[{_SYMBOLS}]")


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"  # what `\w` matches in a str pattern


def leet_tokens(text: str) -> list[tuple[int, str]]:
    """(offset, token) of every `_TOKEN_RE` match, found from the symbols outwards: a
    match is a whole run of letters and leet symbols holding a symbol, with neither a
    word character nor a symbol on either side. `_TOKEN_RE.finditer` tries every
    position of the text, which costs far more on a long post."""
    out: list[tuple[int, str]] = []
    n, done = len(text), 0
    for m in _SYMBOL_RE.finditer(text):
        s = m.start()
        if s < done:
            continue  # in the run just taken
        a, b = s, s + 1
        while a > 0 and text[a - 1] in _TOKEN_CHARS:
            a -= 1
        while b < n and text[b] in _TOKEN_CHARS:
            b += 1
        done = b
        if (a == 0 or not _is_word_char(text[a - 1])) and (b == n or not _is_word_char(text[b])):
            out.append((a, text[a:b]))
    return out


def find(text: str, cfg: LeetSettings, model: EnglishModel, raw: bytes | None = None) -> Decoding | None:
    """The text with its leet words spelt out, or None. `raw`, when given, is
    `text.encode("utf-8", "replace")`."""
    if raw is None:
        raw = text.encode("utf-8", "replace")
    folded = raw.translate(_GATE)
    # A third of texts have no leet symbol at all (memchr); the rest are searched for
    # letter-symbol-letter from their first symbol on.
    first = folded.find(b"1")
    if first == -1 or folded.find(b"a1a", max(first - 1, 0)) == -1:
        return None
    candidates = [(a, t) for a, t in leet_tokens(text) if any(c.isalpha() for c in t)]
    if len(candidates) < cfg.min_words:
        return None  # too few leet-looking tokens to count, whatever they decode to
    replaced: list[tuple[int, int, str]] = []
    short: list[tuple[int, int, str]] = []  # "t0", "m3": decoded, but too short to count
    for token_start, token in candidates:
        word = deleet_word(token, model, 2)
        if word is None:
            continue
        core = token.lower().strip("!|+$@")
        offset = token.lower().index(core)
        start = token_start + offset
        hit = (start, start + len(core), _match_case(token[offset:offset + len(core)], word))
        (replaced if len(word) >= cfg.min_word_len else short).append(hit)
    if len(replaced) < cfg.min_words:
        return None
    # Density where the leet words are (a leet sentence inside a plain post counts),
    # not over the whole text.
    start, end = replaced[0][0], replaced[-1][1]
    n_words = len(words_of(text[start:end])) or 1
    if len(replaced) / n_words < cfg.min_share:
        return None
    parts, pos = [], 0
    for a, b, word in sorted(replaced + short):
        parts.append(text[pos:a])
        parts.append(word)
        pos = b
    parts.append(text[pos:])
    plaintext = "".join(parts)
    return Decoding(
        "leetspeak", None, start, end, text[start:end], plaintext,
        whole=end - start >= 0.8 * len(text.strip()),
        scores={"leet_words": len(replaced), "words": n_words},
    )


def _match_case(original: str, word: str) -> str:
    if original.isupper():
        return word.upper()
    if original[:1].isupper():
        return word.capitalize()
    return word
