"""Flattened dumps: one post or comment per row (JSONL or CSV), as the public
observatories publish them. Differences from the raw API, handled here:
- the author is a name, not an object (agent ids become `name:<author>`);
- a missing author is written as the string "None" (pandas) or left empty;
- titles are HTML-escaped (`&#x27;`), so rules would miss `'` and `&` without unescaping;
- comments carry `post_id` and `depth` but no `parent_id`.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from flockwatch.bridge.mapping import MapResult, Rejected, map_comment, map_post
from flockwatch.importers.lines import json_lines

_MISSING_AUTHORS = frozenset({"", "None", "null", "NaN", "nan"})
_INT_COLUMNS = ("upvotes", "downvotes", "comment_count", "depth")

Row = dict[str, Any]


def _normalise(row: Row) -> Row:
    author = row.get("author")
    title = row.get("title")
    if (isinstance(author, str) and author in _MISSING_AUTHORS) or (isinstance(title, str) and "&" in title):
        row = dict(row)
        if isinstance(author, str) and author in _MISSING_AUTHORS:
            row["author"] = None
        if isinstance(title, str) and "&" in title:
            row["title"] = html.unescape(title)
    return row


def _csv_row(row: Row) -> Row:
    """CSV has only strings: empty cells are missing, counters are integers."""
    out: Row = {k: (v if v != "" else None) for k, v in row.items() if k is not None}
    for col in _INT_COLUMNS:
        v = out.get(col)
        if isinstance(v, str) and v.lstrip("-").isdigit():
            out[col] = int(v)
    return out


def _read(stream: BinaryIO, kind: str, is_csv: bool, mapper: Callable[[object], MapResult]
          ) -> Iterator[tuple[MapResult, int]]:
    """(mapped row or rejection, line number). One flat loop: this is the hot path
    of `flockwatch import` (see benchmarks/bench_import.py)."""
    if is_csv:
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
        reader = csv.DictReader(text)
        for row in reader:
            yield mapper(_normalise(_csv_row(row))), reader.line_num
        return
    for row, n in json_lines(stream, kind):
        if type(row) is dict:
            yield mapper(_normalise(row)), n
        elif isinstance(row, Rejected):
            yield row, n
        else:  # a non-object: the mapper rejects it with the right reason
            yield mapper(row), n


def read_posts_table(stream: BinaryIO, *, is_csv: bool = False) -> Iterator[tuple[MapResult, int]]:
    """Rows `id, title, author, content, upvotes, downvotes, comment_count, created_at`
    (optionally `submolt`, `url`)."""
    return _read(stream, "post", is_csv, map_post)


def read_comments_table(stream: BinaryIO, *, is_csv: bool = False) -> Iterator[tuple[MapResult, int]]:
    """Rows `id, post_id, author?, content, created_at, depth` (optionally `parent_id`)."""
    return _read(stream, "comment", is_csv, map_comment)
