"""Read canonical JSONL: one event per line; bad lines become dead letters with their
line number, never an exception."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flockwatch.ingest.decode import DecodeFailure, decode_event
from flockwatch.ingest.event import Event


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int
    failure: DecodeFailure


def open_source(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    return Path(path).open("rb")


def read_events(stream: BinaryIO) -> Iterator[Event | BadLine]:
    for n, raw in enumerate(stream, start=1):
        raw = raw.strip()
        if not raw:
            continue  # blank lines are layout, not data
        result = decode_event(raw)
        if isinstance(result, DecodeFailure):
            yield BadLine(n, result)
        else:
            yield result
