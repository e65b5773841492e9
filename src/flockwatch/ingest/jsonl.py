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

# The longest line read, line break included: the producer's `max_request_size`, so a
# file holds no event the firehose could not carry. Without a bound one line with no
# newline (a 5 GB dump, binary garbage) is read whole into memory, several times over
# once decoded.
MAX_LINE_BYTES = 4 * 1024 * 1024
BOM = b"\xef\xbb\xbf"  # UTF-8 byte order mark: not JSON, and invisible in an editor


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int
    failure: DecodeFailure


def open_source(path: str) -> BinaryIO:
    if path == "-":
        return sys.stdin.buffer
    return Path(path).open("rb")


def numbered_lines(stream: BinaryIO, max_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes | DecodeFailure]]:
    """(line number, stripped line) for every non-blank line; a line over `max_bytes`
    comes as a `too_large` failure holding its first `max_bytes`, the rest skipped
    without ever being held in memory."""
    readline = stream.readline
    n = 0
    while line := readline(max_bytes + 1):
        n += 1
        if len(line) > max_bytes:
            if not line.endswith(b"\n"):  # skip to the end of the line, a chunk at a time
                while (rest := readline(max_bytes)) and not rest.endswith(b"\n"):
                    pass
            yield n, DecodeFailure("too_large", f"line longer than {max_bytes} bytes", line)
            continue
        line = line.strip()
        if n == 1 and line.startswith(BOM):  # Windows editors start a UTF-8 file with one
            line = line[len(BOM):].strip()
        if line:  # blank lines are layout, not data
            yield n, line


def read_events(stream: BinaryIO) -> Iterator[Event | BadLine]:
    for n, raw in numbered_lines(stream):
        result = raw if type(raw) is DecodeFailure else decode_event(raw)
        if isinstance(result, DecodeFailure):
            yield BadLine(n, result)
        else:
            yield result
