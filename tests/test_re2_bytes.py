from __future__ import annotations

import re2

from flockwatch.text.re2_bytes import all_spans, first_span


def test_spans_are_those_of_the_wrapper_including_empty_matches() -> None:
    texts = [b"", b"send your api key", b"aaa b aa", b"x\x80y \x80\x80 z", b"ab" * 50]
    patterns = [rb"\ba+\b", rb"a*", rb"\b", rb"[^a-z]", rb"key$", rb"(?:x|\x80)+", rb"zzz"]
    for p in patterns:
        compiled = re2.compile(p)
        for t in texts:
            assert all_spans(compiled, t) == [m.span() for m in compiled.finditer(t)], (p, t)
            m = compiled.search(t)
            assert first_span(compiled, t) == (m.span() if m else None), (p, t)
