"""Which importer reads a file: given with `--format`, or recognised from the file
name and its first record."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from flockwatch.bridge.mapping import MapResult
from flockwatch.importers.agents import read_agents_jsonl
from flockwatch.importers.api_dump import read_api_json, read_api_jsonl
from flockwatch.importers.tables import read_comments_table, read_posts_table
from flockwatch.ingest.jsonl import numbered_lines

FORMATS = ("api", "posts-table", "comments-table", "agents")
SUFFIXES = (".json", ".jsonl", ".ndjson", ".csv")

Reader = Callable[[BinaryIO], Iterator[tuple[MapResult, int]]]
_API_KEYS = frozenset({"post", "posts", "agent", "submolt", "success", "data"})


class FormatError(ValueError):
    pass


def _first_record(path: Path) -> object:
    with path.open("rb") as f:
        for _, line in numbered_lines(f):  # bounded: the first line may be a whole dump
            try:
                return json.loads(line) if type(line) is bytes else None
            except ValueError:
                return None
    return None


def _first_csv_header(path: Path) -> list[str]:
    with path.open("r", encoding="utf-8", errors="replace") as f:
        return [h.strip() for h in f.readline().split(",")]


def detect_format(path: Path) -> str:
    """Name the format of `path` or raise FormatError saying why it is not known."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "api"
    if suffix == ".csv":
        header = _first_csv_header(path)
        if "post_id" in header and "title" not in header:
            return "comments-table"
        if "title" in header:
            return "posts-table"
        raise FormatError(f"{path}: CSV header {header[:8]} is neither a posts nor a comments table")
    first = _first_record(path)
    if not isinstance(first, dict):
        raise FormatError(f"{path}: first record is not a JSON object; pass --format")
    keys = set(first)
    if keys & _API_KEYS and not {"title", "karma"} & keys:
        return "api"
    if "_recent_posts" in keys or "_recent_comments" in keys or ("karma" in keys and "title" not in keys):
        return "agents"
    if "post_id" in keys and "title" not in keys:
        return "comments-table"
    if "title" in keys:
        return "posts-table"
    raise FormatError(f"{path}: cannot tell the format from keys {sorted(keys)[:10]}; pass --format")


def reader_for(fmt: str, path: Path, observed_at: str | None = None) -> Reader:
    is_csv = path.suffix.lower() == ".csv"
    if fmt == "api":
        if is_csv:
            raise FormatError(f"{path}: raw API responses are JSON, not CSV")
        if path.suffix.lower() == ".json":
            return lambda s: read_api_json(s, observed_at=observed_at)
        return lambda s: read_api_jsonl(s, observed_at=observed_at)
    if fmt == "posts-table":
        return lambda s: read_posts_table(s, is_csv=is_csv)
    if fmt == "comments-table":
        return lambda s: read_comments_table(s, is_csv=is_csv)
    if fmt == "agents":
        if is_csv:
            raise FormatError(f"{path}: agent profiles are JSONL, not CSV")
        return lambda s: read_agents_jsonl(s, observed_at=observed_at)
    raise FormatError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")


def expand(paths: list[str]) -> list[Path]:
    """Files named, and the importable files under directories named (sorted, so an
    import is reproducible)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES))
        else:
            out.append(p)
    return out
