"""Translate `regex`-module patterns into RE2 patterns that match a superset.

The engine's prefilter runs every rule pattern at once in an RE2 `Set`. That is only
sound if, whenever the real (`regex` module) pattern matches, its RE2 translation
matches too. So the translation only ever *relaxes*: look-arounds and word
boundaries are dropped, back-references become `.*`, atomic groups and possessive
quantifiers become ordinary ones, and ASCII-only RE2 classes (`\\w`, `\\d`, `\\s`)
are widened to the Unicode classes the `regex` module uses. Anything it cannot
relax safely yields `None`, and that predicate is evaluated on every event.
"""

from __future__ import annotations

import contextlib
import os
import string
from collections.abc import Iterator
from dataclasses import dataclass

import re2

_ASCII_PUNCT = frozenset(string.punctuation) | {" "}
_RE2_FLAGS = frozenset("imsU")

_WORD = r"\p{L}\p{N}\p{Mn}\p{Pc}"
_SPACE = r"\s\p{Z}\x{85}\x{1c}-\x{1f}"
_OUT_OF_CLASS = {"w": f"[{_WORD}]", "W": f"[^{_WORD}]", "d": r"\p{Nd}", "D": r"\P{Nd}",
                 "s": f"[{_SPACE}]", "S": f"[^{_SPACE}]", "b": "", "B": "", "A": r"\A", "Z": r"\z", "z": r"\z"}
_IN_CLASS = {"w": _WORD, "d": r"\p{Nd}", "s": _SPACE, "b": r"\x08"}
_ANY = "(?s:.*)"


def escape_literal(text: str) -> str:
    """Escape for RE2: backslash ASCII punctuation only (RE2 rejects `\\é`)."""
    return "".join("\\" + c if c in _ASCII_PUNCT and c != " " else c for c in text)


@dataclass(frozen=True)
class Translation:
    pattern: str | None
    note: str = ""


class _GiveUp(Exception):
    pass


def _skip_group(p: str, i: int) -> int:
    """Index just past the `)` closing the group whose body starts at i."""
    depth, in_class = 1, False
    while i < len(p):
        c = p[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if p[i + 1 : i + 2] == "^":
                i += 1
            if p[i + 1 : i + 2] == "]":
                i += 1
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise _GiveUp("unbalanced group")


def _skip_quantifier(p: str, i: int) -> int:
    if i < len(p) and p[i] in "*+?":
        i += 1
    elif i < len(p) and p[i] == "{":
        end = p.find("}", i)
        i = end + 1 if end > 0 else i
    if i < len(p) and p[i] in "?+":
        i += 1
    return i


def _translate(p: str) -> str:
    out: list[str] = []
    i, in_class, class_start = 0, False, 0
    while i < len(p):
        c = p[i]
        if c == "\\":
            if i + 1 >= len(p):
                raise _GiveUp("trailing backslash")
            e = p[i + 1]
            # escapes that read the same in both contexts
            if e in "pPx" and p[i + 2 : i + 3] == "{":
                end = p.index("}", i)
                out.append(p[i : end + 1])
                i = end + 1
                continue
            if e == "x":
                out.append(p[i : i + 4])
                i += 4
                continue
            if e in "uU":
                width = 4 if e == "u" else 8
                out.append("\\x{" + p[i + 2 : i + 2 + width] + "}")
                i += 2 + width
                continue
            if e in "NXGKmMLg" and not (e == "g" and p[i + 2 : i + 3] == "<" and not in_class):
                raise _GiveUp(f"escape \\{e}")
            if in_class:
                if e in "WDS":
                    raise _GiveUp(f"negated class \\{e} inside [...]")
                out.append(_IN_CLASS.get(e, "\\" + e))
            elif e in _OUT_OF_CLASS:
                out.append(_OUT_OF_CLASS[e])
            elif e.isdigit() and e != "0" or e == "g":
                out.append(_ANY)  # back-reference: anything could be there
                if e == "g":
                    i = p.index(">", i) + 1
                    continue
            else:
                out.append("\\" + e)
            i += 2
            continue
        if in_class:
            out.append(c)
            if c == "]" and i > class_start:
                in_class = False
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            if p[i : i + 1] == "^":
                out.append("^")
                i += 1
            class_start = i + 1  # a `]` right here is literal
            if p[i : i + 1] == "]":
                out.append("\\]")
                i += 1
            continue
        if c == "(" and p[i + 1 : i + 2] == "?":
            rest = p[i + 2 :]
            if rest.startswith(("=", "!", "<=", "<!")):
                i = _skip_quantifier(p, _skip_group(p, i + 1))
                continue
            if rest.startswith("#"):
                i = p.index(")", i) + 1
                continue
            if rest.startswith((">", "|")):
                out.append("(?:")
                i += 3
                continue
            if rest.startswith("P="):
                out.append(_ANY)
                i = p.index(")", i) + 1
                continue
            if rest.startswith("P<") or rest.startswith(":"):
                out.append(p[i : i + 3])
                i += 3
                continue
            if rest.startswith("<"):
                out.append("(?P<")
                i += 3
                continue
            # inline flags, scoped `(?i:...)` or global `(?i)`
            j = i + 2
            while j < len(p) and p[j] not in ":)":
                j += 1
            flags = p[i + 2 : j].replace("-", "")
            if not flags or not set(flags) <= _RE2_FLAGS:
                raise _GiveUp(f"inline flags (?{p[i + 2 : j]})")
            out.append(p[i : j + 1])
            i = j + 1
            continue
        if c == "{":
            end = p.find("}", i)
            body = p[i + 1 : end] if end > 0 else ""
            if end < 0 or not body or not all(ch.isdigit() or ch == "," for ch in body):
                raise _GiveUp("brace that is not a plain repetition (fuzzy matching or literal)")
            out.append(p[i : end + 1])
            i = end + 1
            if p[i : i + 1] == "+":
                i += 1
            continue
        if c in "*+?":
            out.append(c)
            i += 1
            if p[i : i + 1] == "+":  # possessive -> greedy
                i += 1
            elif p[i : i + 1] == "?":
                out.append("?")
                i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    # RE2 logs every rejected pattern to fd 2 through absl; that noise is not an error
    # the operator can act on (the fallback is recorded as a note instead).
    try:
        fd = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)


def re2_compiles(pattern: str) -> bool:
    with _quiet_stderr():
        try:
            s = re2.Set.SearchSet(re2.Options())
            s.Add(pattern)
            return True
        except Exception:  # noqa: BLE001 - re2 raises its own error type
            return False


def to_re2(pattern: str) -> Translation:
    try:
        translated = _translate(pattern)
    except (_GiveUp, ValueError) as exc:
        return Translation(None, f"pattern {pattern!r} evaluated on every event: {exc}")
    if not re2_compiles(translated):
        return Translation(None, f"pattern {pattern!r} evaluated on every event: RE2 cannot compile it")
    return Translation(translated)
