"""Fold agent-written text into one canonical form before cue matching.

Attackers on the platform dodge keyword filters with tricks a human reader does
not even notice: fullwidth letters, Cyrillic look-alikes, zero-width joiners,
invisible Unicode "tag" characters carrying a hidden ASCII message, s p a c e d
o u t words, percent and `\\u` escapes. `normalize` undoes them, so a cue pattern is
written once, in plain lowercase ASCII:

1. HTML entities, percent-escapes and `\\uXXXX` / `\\xXX` escapes are decoded;
2. NFKC (fullwidth and compatibility forms); zero-width and format characters are
   dropped; Unicode tag characters become the ASCII they smuggle; confusable
   homoglyphs (Unicode TR39 data shipped by `confusable-homoglyphs`) become the
   ASCII letter they imitate; accents are stripped (`précédentes` -> `precedentes`);
3. lowercase (casefold: `ß` -> `ss`);
4. spaced-out letters are joined (`i g n o r e`, `s-e-n-d` -> `ignore`, `send`).

Leetspeak (`1gn0r3`) is NOT folded here: folding digits in running text costs more
than the whole cue scan and mangles numbers. Cue patterns are made leet-tolerant
instead, once, when they are compiled (`flockwatch.text.leet`).

Every step is guarded by a cheap test, so plain ASCII prose (the common case) costs
a few microseconds. The output is for matching only: it is never shown to anyone,
and secrets are never searched in it; credential rules read the raw fields.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from functools import lru_cache
from importlib import resources
from urllib.parse import unquote

import re2

from flockwatch.text.re2_bytes import first_span

# Characters that render as nothing: zero-width space/joiners, direction marks and
# isolates, word joiner and invisible operators, BOM, soft hyphen, Hangul fillers,
# Mongolian vowel separator, variation selectors. Deleted outright.
_INVISIBLE = (
    [0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0]
    + list(range(0x200B, 0x2010))  # (0x2010-0x2015 are dashes: folded to '-' below)
    + list(range(0x202A, 0x202F))
    + list(range(0x2060, 0x2070))
    + list(range(0xFE00, 0xFE10))
)
_TAG_FIRST, _TAG_LAST = 0xE0000, 0xE007F  # Unicode tags: invisible copies of ASCII

_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")
_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\x([0-9a-fA-F]{2})")
_ACCENTED = re.compile("[\u00c0-\u024f\u1e00-\u1eff]")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
# Three or more single letters/digits, all separated by the same 1-3 spacing
# characters (the same throughout, so "u.s.a. e.g." stays as it is).
_SPACED = re.compile(r"(?<![^\W_])[a-z0-9@$]([ .\-_*·]{1,3})(?:[a-z0-9@$]\1)+[a-z0-9@$](?![^\W_])")
# The same shape without the back-reference, in RE2: a fast test that lets the
# common case skip the backtracking search above.
_SPACED_HINT = re2.compile(r"(?:^|[^a-z0-9])[a-z0-9@$][ .\-_*·]{1,3}[a-z0-9@$][ .\-_*·]{1,3}[a-z0-9@$](?:[^a-z0-9]|$)")


@lru_cache(maxsize=1)
def _fold_table() -> dict[str, str]:
    """Character -> replacement: invisible -> "", tag -> ASCII, homoglyph -> ASCII."""
    table: dict[str, str] = {chr(cp): "" for cp in _INVISIBLE}
    # Typographic quotes and dashes, so patterns can say `don't` and `-` only.
    table.update({c: "'" for c in "\u2018\u2019\u201a\u201b\u2032\u02bc"})
    table.update({c: '"' for c in "\u201c\u201d\u201e\u201f\u2033\u00ab\u00bb"})
    table.update({c: "-" for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212"})
    for cp in range(_TAG_FIRST, _TAG_LAST + 1):
        ascii_cp = cp - _TAG_FIRST
        table[chr(cp)] = chr(ascii_cp) if 0x20 <= ascii_cp <= 0x7E else ""
    data = json.loads(resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8"))
    for char, glyphs in data.items():
        if len(char) != 1 or char.isascii() or char in table:
            continue
        # Prefer a letter over a digit: a Cyrillic 'о' imitates 'o' far more often than '0'.
        targets = [g["c"] for g in glyphs if len(g["c"]) == 1 and g["c"].isascii() and g["c"].isalnum()]
        if targets:
            table[char] = sorted(targets, key=str.isdigit)[0]
    return table


@lru_cache(maxsize=1)
def _fold_ords() -> dict[int, str]:
    return {ord(c): r for c, r in _fold_table().items()}


@lru_cache(maxsize=1)
def _foldable() -> re2._Regexp:
    """One RE2 character class of everything in the fold table. (The `re` module
    scans a class of ~1,500 scattered code points a hundred times slower.)"""
    opts = re2.Options()
    opts.max_mem = 64 << 20
    # A bytes pattern, searched on UTF-8 bytes: the str interface also maps byte
    # offsets back to characters, which costs more than the search itself.
    return re2.compile(("[" + "".join(f"\\x{{{ord(c):x}}}" for c in sorted(_fold_table())) + "]").encode(), opts)


_FOLDABLE_SLOT, _ACCENTED_SLOT = 0, 1


@lru_cache(maxsize=1)
def _foldable_or_accented() -> re2._re2.Set:
    """`_foldable`'s class and `_ACCENTED`'s in one RE2 Set: one pass over the UTF-8
    text answers both (the `re` scan for accents cost as much as the rest of folding)."""
    opts = re2.Options()
    opts.max_mem = 64 << 20
    s = re2.Set.SearchSet(opts)
    s.Add(_foldable().pattern)
    s.Add(b"[\\x{c0}-\\x{24f}\\x{1e00}-\\x{1eff}]")  # = _ACCENTED
    s.Compile()
    return s._set


def _unescape(text: str) -> str:
    if "&" in text:
        text = html.unescape(text)
    if "%" in text and _PERCENT.search(text):
        text = unquote(text)
    if "\\" in text:
        text = _ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), text)
    return text


# The foldable characters real posts are full of (typographic quotes and dashes,
# the emoji variation selector, the zero-width joiner inside emoji sequences):
# `str.replace` handles them at C speed; the general table lookup is per character.
_COMMON = (("\u2019", "'"), ("\u2018", "'"), ("\u201c", '"'), ("\u201d", '"'), ("\u2014", "-"),
           ("\u2013", "-"), ("\ufe0f", ""), ("\u200d", ""), ("\u200b", ""))


# The compatibility characters that keep real posts from being NFKC already: the
# fullwidth punctuation of Chinese and Japanese text, the ellipsis, no-break spaces.
# NFKC of a long CJK post costs ~30 us; replacing these by their NFKD first (at C
# speed) usually leaves a text that is NFKC as it stands. Exact: NFKC(s) is the
# composition of NFKD(s), and NFKD(s) does not change when a character is replaced
# by its own full decomposition.
_WIDE = tuple((c, unicodedata.normalize("NFKD", c)) for c in
              "\uff0c\uff1a\uff1f\uff01\uff08\uff09\u2026\uff1b\u00a0\u202f\u3000")


def _nfkc(text: str) -> str:
    if unicodedata.is_normalized("NFKC", text):
        return text
    for char, decomposed in _WIDE:
        if char in text:
            text = text.replace(char, decomposed)
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


def _fold_unicode(text: str) -> str:
    text = _nfkc(text)
    for char, replacement in _COMMON:
        if char in text:
            text = text.replace(char, replacement)
    found = _foldable_or_accented().Match(text.encode("utf-8", "surrogatepass"))
    if _FOLDABLE_SLOT in found:
        text = text.translate(_fold_ords())
        accented = _ACCENTED.search(text) is not None  # (folding maps to ASCII: it may remove accents)
    else:
        accented = _ACCENTED_SLOT in found
    if accented:
        text = _COMBINING.sub("", unicodedata.normalize("NFKD", text))
    return text


def _join_spaced(m: re.Match[str]) -> str:
    s = m.group(0)
    letters = [c for c in s if c.isalnum() or c in "@$"]
    return "".join(letters) if sum(c.isalpha() for c in letters) >= 2 else s


# `_SPACED_HINT` over the Latin-1 projection the cue bank scans (one byte per
# character: '·' is 0xb7, anything beyond Latin-1 is 0x80, which like any
# non-ASCII character is in [^a-z0-9] and in no other class here): the bank's one
# Set pass answers it with the cues (`cues.CueBank.scan_normalising`).
SPACED_HINT_LATIN1 = rb"(?:^|[^a-z0-9])[a-z0-9@$][ .\-_*\xb7]{1,3}[a-z0-9@$][ .\-_*\xb7]{1,3}[a-z0-9@$](?:[^a-z0-9]|$)"


def fold(text: str | None) -> str:
    """`normalize` up to (not including) joining spaced-out letters: steps 1-3."""
    if not text:
        return ""
    text = _unescape(text)
    if text.isascii():
        return text.lower()
    return _fold_unicode(text).casefold()


def join_spaced(text: str) -> str:
    """Step 4: spaced-out letters joined. Only worth calling when `_SPACED_HINT`
    (or `SPACED_HINT_LATIN1` on the projection) matches; otherwise a no-op."""
    return _SPACED.sub(_join_spaced, text)


def normalize(text: str | None) -> str:
    """Canonical lowercase form of `text` for cue matching."""
    text = fold(text)
    # (surrogatepass: a lone surrogate from a JSON escape must not crash the search)
    if text and first_span(_SPACED_HINT, text.encode("utf-8", "surrogatepass")) is not None:
        text = join_spaced(text)
    return text
