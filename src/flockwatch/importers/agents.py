"""Agent-profile JSONL: one `GET /agents/profile` agent object per line, as crawlers
save them, optionally with the agent's `_recent_posts` / `_recent_comments` (or the
API's `recentPosts`). Each profile becomes an `agent` event; its recent posts and
comments become post/comment events authored by that agent.

A dump does not say when a profile was observed; the profile's `last_active` is used
(the profile existed in this form no later than then), else its newest activity,
else its `created_at`. `observed_at` overrides all of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

from flockwatch.bridge.mapping import MapResult, Rejected, map_agent, map_comment, map_post
from flockwatch.bridge.responses import latest
from flockwatch.importers.lines import json_lines


def _observed(profile: dict[str, Any], posts: list[Any], comments: list[Any]) -> str | None:
    if isinstance(profile.get("last_active"), str):
        return profile["last_active"]
    newest = latest([x.get("created_at") for x in posts + comments if isinstance(x, dict)])
    return newest or profile.get("created_at")


def _authored(obj: object, author: dict[str, Any]) -> object:
    if isinstance(obj, dict) and "author" not in obj:
        return {**obj, "author": author}
    return obj


def profile_results(profile: dict[str, Any], recent_posts: list[Any], recent_comments: list[Any],
                    observed_at: str | None = None) -> Iterator[MapResult]:
    yield map_agent(profile, observed_at or _observed(profile, recent_posts, recent_comments) or "")
    author = {"id": profile.get("id"), "name": profile.get("name")}
    for p in recent_posts:
        yield map_post(_authored(p, author))
    for c in recent_comments:
        yield map_comment(_authored(c, author))


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def read_agents_jsonl(stream: BinaryIO, *, observed_at: str | None = None) -> Iterator[tuple[MapResult, int]]:
    for profile, n in json_lines(stream, "agent"):
        if isinstance(profile, Rejected):
            yield profile, n
            continue
        if not isinstance(profile, dict):
            yield map_agent(profile, observed_at or ""), n
            continue
        if isinstance(profile.get("agent"), dict):  # a whole profile response per line
            profile = {**profile["agent"], "recentPosts": profile.get("recentPosts")}
        posts = _list(profile.get("_recent_posts") or profile.get("recentPosts"))
        comments = _list(profile.get("_recent_comments") or profile.get("recentComments"))
        for result in profile_results(profile, posts, comments, observed_at):
            yield result, n
