"""SQL forms of the alert listing's `rule` glob and `tag` filters, for SQLite and
PostgreSQL. Each is what Python's `fnmatchcase(rule_id, glob)` and `tag in tags`
select; where SQL can only narrow the rows down, the caller re-checks them in Python.

`rule`: `*` and `?` become GLOB on SQLite (its LIKE ignores ASCII case, fnmatchcase
does not) and LIKE on PostgreSQL (case-sensitive), with every character that means
something to either written as a literal: `%`, `_` and the escape character `\\` for
LIKE, `*`, `?` and `[` for GLOB. A `[...]` class matches one character; it becomes a
one-character wildcard, and the rows are re-checked.

`tag`: tags are a JSON array of strings in a JSON column (TEXT on SQLite, `json` on
PostgreSQL), matched element by element with `json_each` / `json_array_elements`.
An element holding an escaped NUL (`\\u0000`) cannot be compared in SQL: SQLite cuts
the string at it (`"a\\u0000b"` would equal `a`), PostgreSQL refuses to turn it into
text (an error for the whole query). Rows whose tags contain `\\u0000` anywhere, or
are not an array, are therefore let through for the re-check instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.sql.elements import ColumnElement

from flockwatch.store.tables import AlertRecord

GLOB_CHARS = "*?["


def is_glob(rule: str) -> bool:
    return any(ch in rule for ch in GLOB_CHARS)


def glob_tokens(pattern: str) -> list[str]:
    """`pattern` as fnmatch reads it: "*" (any run), "?" (one character), "[]" (a
    character class, one character) and single literal characters. The bracket
    scanning is fnmatch.translate's: `[!` negates, a `]` right after `[` or `[!` is a
    member, and a `[` without a closing `]` is a literal."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            if not out or out[-1] != "*":
                out.append("*")
        elif c == "?":
            out.append("?")
        elif c == "[":
            j = i
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j >= n:
                out.append("lit:[")
            else:
                out.append("[]")
                i = j + 1
        else:
            out.append("lit:" + c)
    return out


def like_pattern(tokens: list[str], escape: str = "\\") -> str:
    parts = []
    for t in tokens:
        if t == "*":
            parts.append("%")
        elif t in ("?", "[]"):
            parts.append("_")
        else:
            c = t[4:]
            parts.append(escape + c if c in ("%", "_", escape) else c)
    return "".join(parts)


def sqlite_glob_pattern(tokens: list[str]) -> str:
    parts = []
    for t in tokens:
        if t == "*":
            parts.append("*")
        elif t in ("?", "[]"):
            parts.append("?")
        else:
            c = t[4:]
            # GLOB has no escape character; a one-member class is the literal.
            parts.append(f"[{c}]" if c in GLOB_CHARS else c)
    return "".join(parts)


def rule_filter(rule: str, dialect: str) -> tuple[ColumnElement[bool], bool]:
    """(condition, exact): the SQL condition for `rule` (an id, or a glob when it has
    `*`, `?` or `[`), and whether it is exact (False: re-check with fnmatchcase)."""
    column: Any = AlertRecord.rule_id
    if not is_glob(rule):
        return column == rule, True
    tokens = glob_tokens(rule)
    exact = "[]" not in tokens
    if dialect == "sqlite":
        return column.op("GLOB")(sqlite_glob_pattern(tokens)), exact
    return column.like(like_pattern(tokens), escape="\\"), exact


_SQLITE_TAG = (
    "(instr(alerts.tags, :tag_nul) > 0 OR json_type(alerts.tags) IS NOT 'array' OR EXISTS ("
    "SELECT 1 FROM json_each(alerts.tags) AS tag_element"
    " WHERE tag_element.type = 'text' AND tag_element.value = :tag_filter))"
)
_POSTGRES_TAG = (
    "(CASE WHEN strpos(alerts.tags::text, :tag_nul) > 0 OR json_typeof(alerts.tags) <> 'array' THEN true"
    " ELSE EXISTS (SELECT 1 FROM json_array_elements(alerts.tags) AS tag_element(value)"
    " WHERE json_typeof(tag_element.value) = 'string' AND tag_element.value #>> '{}' = :tag_filter) END)"
)


def tag_filter(tag: str, dialect: str) -> ColumnElement[bool]:
    """Rows whose tags hold `tag`, plus the rare rows SQL cannot decide (see the module
    docstring): re-check with `tag in row.tags`."""
    sql = _SQLITE_TAG if dialect == "sqlite" else _POSTGRES_TAG
    # The six characters \u0000 as a parameter: as a literal, a server with
    # standard_conforming_strings off would read the backslash as an escape.
    return text(sql).bindparams(tag_filter=tag, tag_nul="\\u0000")  # type: ignore[return-value]
