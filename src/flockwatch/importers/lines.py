"""Reading JSON Lines dumps: one parsed value per non-blank line, or a rejection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from flockwatch.bridge.mapping import Rejected, parse_json, reject
from flockwatch.ingest.decode import DecodeFailure
from flockwatch.ingest.jsonl import numbered_lines


def json_lines(stream: BinaryIO, kind: str) -> Iterator[tuple[object, int]]:
    """(parsed value, line number); an unparseable or over-long line yields a `Rejected` instead."""
    for n, line in numbered_lines(stream):
        if type(line) is DecodeFailure:
            yield Rejected(kind, line), n
            continue
        try:
            yield parse_json(line), n
        except ValueError as exc:
            yield reject(kind, line.decode("utf-8", "replace"), "invalid_json", str(exc)), n
