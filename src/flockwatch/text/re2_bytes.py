"""RE2 searches on bytes without the `re2` wrapper's per-call cost.

`re2._Regexp.search` and `finditer` run every call through a generator that
re-checks the argument's type, maps offsets and builds a `_Match`; for the short
searches of the hot path (cue confirmation, normalisation hints) that costs more
than the search. These call the compiled `_re2.RE2` directly on bytes, with the
wrapper's exact iteration rule, so the spans are the ones `finditer` gives.
"""

from __future__ import annotations

import re2

_UNANCHORED = re2._re2.RE2.Anchor.UNANCHORED
_NO_MATCH = (-1, -1)


def first_span(pattern: re2._Regexp, data: bytes) -> tuple[int, int] | None:
    """The span of the first match of `pattern` in `data` (what `search` finds), or None."""
    span = pattern._regexp.Match(_UNANCHORED, data, 0, len(data))[0]
    return None if span == _NO_MATCH else span


def all_spans(pattern: re2._Regexp, data: bytes) -> list[tuple[int, int]]:
    """The spans `finditer` would yield, in order."""
    raw = pattern._regexp
    out: list[tuple[int, int]] = []
    pos, end = 0, len(data)
    while True:
        span = raw.Match(_UNANCHORED, data, pos, end)[0]
        if span == _NO_MATCH:
            return out
        out.append(span)
        if pos == end:
            return out
        # an empty match where the search started: step past it, as finditer does
        pos = pos + 1 if pos == span[1] else span[1]
