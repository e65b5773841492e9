"""Translate a cue pattern into an RE2 pattern over a Latin-1 projection of the text.

The cue bank scans every event with one RE2 `Set`. In UTF-8 mode with Unicode
classes (what `rules.prefilter.to_re2` produces for rule predicates) a Set of ~70
cue groups builds DFA states so fast that it scans at NFA speed: milliseconds per
post. Cue patterns are ASCII and run on normalised text, so the bank instead scans
a Latin-1 projection in which every non-ASCII character becomes the byte 0x80,
and classes are widened so that 0x80..0xFF may be anything:

    \\w -> [0-9A-Za-z_\\x80-\\xff]    \\d -> [0-9\\x80-\\xff]    \\s -> [\\t\\n\\v\\f\\r \\x80-\\xff]
    \\W, \\S, \\D, [^...], .  already admit 0x80..0xFF

Word boundaries are kept (RE2's ASCII `\\b` can only add boundaries next to a
non-ASCII letter, never remove one an ASCII-only cue needs) and make the DFA far
smaller; look-arounds are dropped (a superset). Whenever the real pattern matches
the normalised text, the translation matches the projection, so confirming only
the groups RE2 reports loses nothing.
"""

from __future__ import annotations

from flockwatch.rules.prefilter import _GiveUp, _skip_group  # the same group walker as rule regexes

_CLASS_OUT = {
    "w": r"[0-9A-Za-z_\x80-\xff]", "d": r"[0-9\x80-\xff]", "s": r"[\t\n\v\f\r \x80-\xff]",
    "W": r"[^0-9A-Za-z_]", "D": r"[^0-9]", "S": r"[^\t\n\v\f\r ]", "b": r"\b", "B": "",
    "A": "^", "Z": "$", "z": "$",
}
_CLASS_IN = {"w": r"0-9A-Za-z_\x80-\xff", "d": r"0-9\x80-\xff", "s": r"\t\n\v\f\r \x80-\xff"}


class CueTranslationError(ValueError):
    pass


def _group_end(p: str, i: int) -> int:
    """Index just past the `)` that closes the group opening at p[i] == '('."""
    try:
        return _skip_group(p, i + 1)
    except _GiveUp as exc:
        raise CueTranslationError(str(exc)) from None


def _escape(p: str, i: int, in_class: bool) -> tuple[str, int]:
    e = p[i + 1] if i + 1 < len(p) else ""
    if not e:
        raise CueTranslationError("trailing backslash")
    if e.isdigit() and e != "0":
        raise CueTranslationError("back-references are not supported in cue patterns")
    if e in "pPNX":
        raise CueTranslationError(f"\\{e} is not supported in cue patterns (they match normalised ASCII text)")
    if e == "x":
        if p[i + 2 : i + 3] == "{":
            end = p.index("}", i)
            return p[i : end + 1], end + 1
        return p[i : i + 4], i + 4
    if in_class:
        if e in _CLASS_IN:
            return _CLASS_IN[e], i + 2
        if e in "WDS":
            raise CueTranslationError(f"negated \\{e} inside [...] is not supported in cue patterns")
        return p[i : i + 2], i + 2
    if e in _CLASS_OUT:
        return _CLASS_OUT[e], i + 2
    return p[i : i + 2], i + 2


def cue_to_re2(pattern: str) -> str:
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            piece, i = _escape(pattern, i, in_class)
            out.append(piece)
            continue
        if in_class:
            out.append(c)
            if c == "]":
                in_class = False
            i += 1
            continue
        if c == "[":
            j = i + 1
            if pattern[j : j + 1] == "^":
                j += 1
            if pattern[j : j + 1] == "]":
                j += 1
            out.append(pattern[i:j])
            in_class, i = True, j
            continue
        if c == "(" and pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
            end = _group_end(pattern, i)
            i = end
            # a quantifier on a dropped look-around would dangle
            while i < len(pattern) and pattern[i] in "?*+":
                i += 1
            continue
        if c == "(" and pattern.startswith("(?>", i):
            out.append("(?:")
            i += 3
            continue
        if c in "*+?}" and pattern[i + 1 : i + 2] == "+":  # possessive -> greedy
            out.append(c)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


# ---- literal hints ---------------------------------------------------------------
# A full cue pattern in an RE2 Set still costs a DFA state per combination of
# partial matches; seventy of them scan unseen text at a few hundred microseconds.
# The bank therefore holds, per pattern, the literals every match must contain
# (its leading words, or its longest mandatory literal): a Set of literal
# alternations is an Aho-Corasick automaton and scans at memory speed. Only the
# groups whose literals occur are then confirmed with the real pattern.

import re._constants as _c  # noqa: E402  # type: ignore[import-not-found]
import re._parser as _parse  # noqa: E402  # type: ignore[import-not-found]

_MAX_HINTS = 64  # literal alternatives per pattern before giving up on extending them
_MIN_LITERAL = 3


def _re2_literal(s: str) -> str:
    return "".join(c if c.isalnum() or c == " " else "\\" + c for c in s)


def _small_class(av: list) -> list[str] | None:
    """The characters of a class like [ _-] or [ie], if it is a short explicit list."""
    chars = []
    for op, v in av:
        if op is not _c.LITERAL:
            return None
        chars.append(chr(v))
    return chars if len(chars) <= 4 else None


def _prefixes(items: list) -> tuple[set[str], bool]:
    """Literal strings one of which starts every match of `items`, and whether they
    cover the whole sequence (so what follows may be appended)."""
    out = {""}
    for op, av in items:
        if op in (_c.AT, _c.ASSERT, _c.ASSERT_NOT):
            continue  # zero-width: skipping it only widens
        if op is _c.LITERAL:
            out = {p + chr(av) for p in out}
            continue
        if op is _c.IN:
            chars = _small_class(av)
            if chars is None or len(out) * len(chars) > _MAX_HINTS:
                return out, False
            out = {p + c for p in out for c in chars}
            continue
        if op is _c.SUBPATTERN:
            inner, complete = _prefixes(list(av[-1]))
        elif op is _c.BRANCH:
            inner, complete = set(), True
            for alt in av[1]:
                sub, sub_complete = _prefixes(list(alt))
                inner |= sub
                complete = complete and sub_complete
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT) and av[0] >= 1:
            inner, _ = _prefixes(list(av[2]))
            complete = False
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT) and av[0] == 0:
            # optional: a match either skips it or starts with it
            body, body_complete = _prefixes(list(av[2]))
            inner = body | {""}
            complete = body_complete and av[1] == 1
        else:
            return out, False
        if len(out) * len(inner) > _MAX_HINTS:
            return out, False
        out = {p + q for p in out for q in inner}
        if not complete:
            return out, False
    return out, True


def _longest_literal(items: list) -> str:
    best = run = ""
    for op, av in items:
        if op is _c.LITERAL:
            run += chr(av)
            best = max(best, run, key=len)
        elif op not in (_c.AT, _c.ASSERT, _c.ASSERT_NOT):
            run = ""
    return best


def _hint(items: list, starts_at_boundary: bool) -> str | None:
    """An RE2 literal alternation every match of `items` contains, or None."""
    if len(items) == 1 and items[0][0] is _c.SUBPATTERN:
        return _hint(list(items[0][1][-1]), starts_at_boundary)
    if len(items) == 1 and items[0][0] is _c.BRANCH:
        parts = [_hint(list(alt), False) for alt in items[0][1][1]]
        return None if any(p is None for p in parts) else "|".join(parts)  # type: ignore[arg-type]
    boundary = bool(items) and items[0][0] is _c.AT and items[0][1] is _c.AT_BOUNDARY
    prefixes, _ = _prefixes(items)
    if prefixes and all(len(p.strip()) >= _MIN_LITERAL for p in prefixes):
        lead = r"\b" if boundary else ""
        return "|".join(lead + _re2_literal(p) for p in sorted(prefixes))
    literal = _longest_literal(items)
    if len(literal.strip()) >= _MIN_LITERAL:
        return _re2_literal(literal)
    return None  # a two-letter hint ("sh") would hit almost every post: scan it whole


def cue_hint(pattern: str) -> str:
    """An RE2 (Latin-1) pattern matching whenever `pattern` matches: the literals its
    matches must contain, or, for alternatives without such literals, the full
    translation. Always a superset."""
    try:
        tree = _parse.parse(pattern)
    except Exception as exc:  # noqa: BLE001 - re's parser rejects some `regex` syntax
        raise CueTranslationError(f"cannot analyse pattern: {exc}") from None
    items = list(tree)
    if len(items) == 1 and items[0][0] is _c.SUBPATTERN:
        items = list(items[0][1][-1])
    if len(items) == 1 and items[0][0] is _c.BRANCH:
        alts = [list(a) for a in items[0][1][1]]
    else:
        alts = [items]
    pieces = []
    for alt in alts:
        hint = _hint(alt, False)
        if hint is None:
            return cue_to_re2(pattern)  # an alternative without literals: scan it whole
        pieces.append(hint)
    return "(?:" + "|".join(pieces) + ")"
