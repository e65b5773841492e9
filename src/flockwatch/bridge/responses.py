"""Whole API responses -> mapped events. Shared by the live poller and the importers
of raw API dumps, so a dump and a live poll of the same data give the same events.

Shapes (Moltbook API v1):
- list page  `GET /posts?sort=new`: {success, posts[...], count, has_more, next_offset}
- post detail `GET /posts/{id}`:    {success, post{..., author{...}, submolt{...}}, comments[...]}
  with replies nested under each comment's `replies`
- profile    `GET /agents/profile?name=`: {success, agent{...}, recentPosts[...]}
- submolt    `GET /submolts/{name}`:      {success, submolt{...}}
Some deployments wrap the payload in `data`; both are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flockwatch.bridge.mapping import (
    Mapped, MapResult, Rejected, reject, has_profile, iter_comment_tree, map_post,
)


@dataclass
class ListPage:
    posts: list[MapResult]
    has_more: bool
    next_offset: int | None
    next_cursor: str | None


@dataclass
class PostDetail:
    post: MapResult
    comments: list[tuple[str | None, MapResult]]  # (comment id, result), tree order
    author: dict[str, Any] | None  # the post author's profile when the response carries one
    newest: str | None  # latest created_at in the response: the fetch happened after it


def payload(doc: object) -> object:
    """The response body without the optional `{success, data: {...}}` envelope."""
    if isinstance(doc, dict) and isinstance(doc.get("data"), dict) and "success" in doc:
        return doc["data"]
    return doc


def latest(stamps: list[str | None]) -> str | None:
    """The latest of some ISO-8601 stamps (unparseable ones ignored)."""
    best: tuple[datetime, str] | None = None
    for s in stamps:
        if not isinstance(s, str):
            continue
        try:
            t = datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            continue
        if t.tzinfo is not None and (best is None or t > best[0]):
            best = (t, s)
    return best[1] if best else None


def parse_list_page(doc: object) -> ListPage | Rejected:
    body = payload(doc)
    posts = body.get("posts") if isinstance(body, dict) else body
    if not isinstance(posts, list):
        return reject("post", doc, "not_a_list_page", "response has no `posts` list")
    meta = body if isinstance(body, dict) else {}
    offset = meta.get("next_offset")
    cursor = meta.get("next_cursor") or meta.get("cursor")
    return ListPage(
        posts=[map_post(p) for p in posts],
        has_more=bool(meta.get("has_more", False)),
        next_offset=offset if isinstance(offset, int) and not isinstance(offset, bool) else None,
        next_cursor=cursor if isinstance(cursor, str) and cursor else None,
    )


def parse_post_detail(doc: object) -> PostDetail | Rejected:
    body = payload(doc)
    post_obj = body.get("post") if isinstance(body, dict) else None
    if not isinstance(post_obj, dict):
        return reject("post", doc, "not_a_post_detail", "response has no `post` object")
    post = map_post(post_obj)
    if isinstance(post, Mapped):
        pid, community, author_id = post.event.post_id, post.event.community, post.event.agent_id
    else:
        # The post is dead-lettered, but its comments are objects of their own: walk them
        # under the raw id (the replied-to author of a top-level comment is then unknown).
        raw_id = post_obj.get("id")
        pid = str(raw_id) if isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) and raw_id != "" \
            else None
        sub = post_obj.get("submolt")
        community = sub.get("name") if isinstance(sub, dict) and isinstance(sub.get("name"), str) else None
        author_id = None
    comments: list[tuple[str | None, MapResult]] = []
    raw_comments = body.get("comments", post_obj.get("comments", []))
    if pid is not None:
        comments = list(iter_comment_tree(raw_comments, post_id=pid, community=community,
                                          post_author_id=author_id))
    elif raw_comments:  # no post to hang them on: one dead letter, not a silent loss
        comments = [(None, reject("comment", raw_comments, "missing_field", "comments of a post without an id"))]
    author = post_obj.get("author")
    stamps = [post_obj.get("created_at")] + [
        r.event.ts.isoformat() for _, r in comments if isinstance(r, Mapped)
    ]
    return PostDetail(post, comments, author if has_profile(author) else None, latest(stamps))


def profile_of(doc: object) -> tuple[dict[str, Any] | None, list[Any]]:
    """(agent profile, its recent posts) from a profile response."""
    body = payload(doc)
    if not isinstance(body, dict):
        return None, []
    agent = body.get("agent")
    recent = body.get("recentPosts") or body.get("recent_posts") or []
    return (agent if isinstance(agent, dict) else None), (recent if isinstance(recent, list) else [])


def submolt_of(doc: object) -> dict[str, Any] | None:
    body = payload(doc)
    sub = body.get("submolt") if isinstance(body, dict) else None
    return sub if isinstance(sub, dict) else None
