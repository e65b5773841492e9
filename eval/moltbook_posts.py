"""Real Moltbook posts (../shared/data, never copied into the repo) as canonical events."""

from __future__ import annotations

import html
import json
import os
from collections.abc import Iterator
from pathlib import Path

from flockwatch.ingest.decode import DecodeFailure, decode_object
from flockwatch.ingest.event import Event

ROOT = Path(__file__).resolve().parents[1]
# ../shared/data beside the checkout (as CI has it); FLOCKWATCH_SHARED_DATA overrides.
SHARED_DATA = Path(os.environ.get("FLOCKWATCH_SHARED_DATA") or ROOT.parent / "shared" / "data")
POSTS = SHARED_DATA / "moltbook" / "rafalwronapl_observatory" / "posts.jsonl"


def post_events(path: Path = POSTS) -> Iterator[Event]:
    """posts.jsonl rows (id, title, author, content, created_at) as `post` events in time
    order. Rows without an author (`"None"`) share one pseudo-agent `unknown`, so they
    can never inflate a distinct-agent count."""
    rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
    rows.sort(key=lambda r: r.get("created_at") or "")
    for r in rows:
        author = r.get("author")
        agent = author if author and author != "None" else "unknown"
        event = decode_object({
            "event_id": str(r["id"]), "type": "post", "ts": r["created_at"], "agent_id": agent,
            "agent_name": agent, "post_id": str(r["id"]),
            "title": html.unescape(r.get("title") or "") or None, "text": r.get("content") or None,
        })
        if isinstance(event, DecodeFailure):
            raise ValueError(f"post {r.get('id')}: {event.message}")
        yield event
