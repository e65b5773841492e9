"""Raw API responses saved to disk: a post detail with its comment tree, a list page,
a profile or a submolt response, one per `.json` file (or one per line of `.jsonl`).

Agents and communities need an observation time; a saved response does not record
its fetch time, so the newest `created_at` it contains stands in (the fetch came
after it). `observed_at` overrides that.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from flockwatch.bridge.mapping import parse_json, MapResult, Rejected, map_agent, map_community, reject
from flockwatch.bridge.responses import (
    ListPage, parse_list_page, parse_post_detail, payload, profile_of, submolt_of,
)
from flockwatch.importers.agents import profile_results
from flockwatch.importers.lines import json_lines


def document_results(doc: object, observed_at: str | None = None) -> Iterator[MapResult]:
    body = payload(doc)
    if isinstance(body, dict) and "post" in body:
        detail = parse_post_detail(doc)
        if isinstance(detail, Rejected):
            yield detail
            return
        yield detail.post
        if detail.author is not None:
            yield map_agent(detail.author, observed_at or detail.newest or "")
        for _, result in detail.comments:
            yield result
    elif isinstance(body, list) or (isinstance(body, dict) and "posts" in body):
        page = parse_list_page(doc)
        if isinstance(page, ListPage):
            yield from page.posts
        else:
            yield page
    elif isinstance(body, dict) and "agent" in body:
        agent, recent = profile_of(doc)
        yield from profile_results(agent or {}, recent, [], observed_at)
    elif isinstance(body, dict) and "submolt" in body:
        sub = submolt_of(doc)
        stamp = observed_at or (sub or {}).get("updated_at") or (sub or {}).get("created_at") or ""
        yield map_community(sub, stamp)
    else:
        yield reject("post", doc, "unknown_document",
                     "not a post detail, list page, profile or submolt response")


def read_api_json(stream: BinaryIO, *, observed_at: str | None = None) -> Iterator[tuple[MapResult, int]]:
    """A whole-file JSON response; the locator is 1 (the document)."""
    data = stream.read()
    try:
        doc = parse_json(data)
    except ValueError as exc:
        yield reject("post", data.decode("utf-8", "replace"), "invalid_json", str(exc)), 1
        return
    for result in document_results(doc, observed_at):
        yield result, 1


def read_api_jsonl(stream: BinaryIO, *, observed_at: str | None = None) -> Iterator[tuple[MapResult, int]]:
    for doc, n in json_lines(stream, "post"):
        if isinstance(doc, Rejected):
            yield doc, n
            continue
        for result in document_results(doc, observed_at):
            yield result, n
