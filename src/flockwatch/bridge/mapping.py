"""Moltbook API objects -> canonical events.

Every object goes through the same strict validator as the wire (`decode_event` on
the JSON we build), so the bridge and the importers can never emit an event that
`scan` or the worker would reject. A malformed object never raises: it comes back
as `Rejected` with a low-cardinality reason, for the caller to dead-letter.

Event ids are deterministic so a restart or a re-import emits the same ids:
`post:<id>`, `comment:<id>`, `agent:<id>:<profile hash>`,
`community:<name>:<description hash>`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic_core import from_json, to_json

from flockwatch.ingest.decode import DecodeFailure, decode_event
from flockwatch.ingest.event import Event

# Counters copied into `attrs`: rules can use them (a spam wave has no upvotes) and
# they are small. Owner (human) fields are deliberately not carried.
_POST_COUNTERS = ("upvotes", "downvotes", "comment_count")
_COMMENT_COUNTERS = ("upvotes", "downvotes", "depth")
_AGENT_ATTRS = ("karma", "follower_count", "following_count", "is_claimed", "is_active", "created_at")
_COMMUNITY_ATTRS = ("display_name", "subscriber_count", "created_at")


@dataclass(frozen=True, slots=True)
class Mapped:
    event: Event
    data: bytes  # the validated canonical JSON, UTF-8 (what a sink writes)


@dataclass(frozen=True, slots=True)
class Rejected:
    kind: str  # post | comment | agent | community
    failure: DecodeFailure


MapResult = Mapped | Rejected


class _Shape(Exception):
    """The object is not shaped like the API's (wrong container type, missing id)."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def content_hash(*parts: object) -> str:
    """Short stable hash of the watched content of a profile or description."""
    blob = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _raw(obj: object) -> str:
    try:
        return json.dumps(obj, ensure_ascii=False, default=repr)
    except (TypeError, ValueError):
        return repr(obj)


def parse_json(data: bytes | str) -> Any:
    """Parse one JSON document (Rust parser: ~2.5x the stdlib's speed on dump rows).
    NaN/Infinity are refused: they are not JSON and would poison the output."""
    return from_json(data, allow_inf_nan=False)


def _validate(kind: str, fields: dict[str, Any], source_obj: object) -> MapResult:
    # Serialise, then validate the bytes with the wire decoder: exactly what `scan` and
    # the worker will do with them (pydantic-core's serialiser is ~5x json.dumps).
    data = to_json(fields if None not in fields.values() else {k: v for k, v in fields.items() if v is not None})
    result = decode_event(data)
    if isinstance(result, DecodeFailure):
        # Dead-letter the platform's object, not our half-built event: that is what
        # an operator needs to see (and replay once the mapping is fixed).
        return Rejected(kind, DecodeFailure(result.reason, result.message, _raw(source_obj)))
    return Mapped(result, data)


def reject(kind: str, obj: object, reason: str, message: str) -> Rejected:
    return Rejected(kind, DecodeFailure(reason, message, _raw(obj)))


def _as_dict(obj: object, what: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise _Shape("not_an_object", f"{what} is {type(obj).__name__}, expected an object")
    return obj


def _object_id(obj: dict[str, Any], what: str) -> str:
    value = obj.get("id")
    if type(value) is str and value:  # the usual case, first
        return value
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise _Shape("missing_field" if value in (None, "") else "bad_type", f"{what}.id: {value!r} is not an id")
    return str(value)


def _author(obj: dict[str, Any], kind: str, oid: str) -> tuple[str, str | None, bool]:
    """(agent_id, agent_name, missing). Raw API authors are objects with an id; flattened
    dumps carry only the name (ids `name:<name>`). A missing author gets an id of its
    own so that authorless rows never pile up as one prolific fake agent."""
    author = obj.get("author")
    if isinstance(author, dict):
        aid, name = author.get("id"), author.get("name")
        if isinstance(aid, (str, int)) and not isinstance(aid, bool) and aid != "":
            return str(aid), name if isinstance(name, str) else None, False
        if isinstance(name, str) and name:
            return f"name:{name}", name, False
    elif isinstance(author, str) and author:
        return f"name:{author}", author, False
    elif author is not None and not isinstance(author, dict):
        raise _Shape("bad_type", f"{kind}.author is {type(author).__name__}")
    return f"unknown:{kind}:{oid}", None, True


def _community_name(obj: dict[str, Any]) -> str | None:
    sub = obj.get("submolt")
    if isinstance(sub, dict):
        name = sub.get("name")
        return name if isinstance(name, str) else None
    return sub if isinstance(sub, str) else None


def _pick(obj: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k in keys if (v := obj.get(k)) is not None}


def map_post(obj: object) -> MapResult:
    """A post from a list page, a post detail, or a flattened row. Written for speed
    (the import hot path, see benchmarks/bench_import.py): the common shapes are
    checked inline, anything unusual goes through the general helpers."""
    pid = obj.get("id") if type(obj) is dict else None
    author = obj.get("author") if type(obj) is dict else None
    if type(pid) is str and pid and type(author) is str and author:  # flattened row
        agent_id, agent_name, missing = "name:" + author, author, False
    else:
        try:
            post = _as_dict(obj, "post")
            pid = _object_id(post, "post")
            agent_id, agent_name, missing = _author(post, "post", pid)
        except _Shape as exc:
            return reject("post", obj, exc.reason, str(exc))
    post = obj  # type: ignore[assignment]
    fields = {"event_id": "post:" + pid, "type": "post", "ts": post.get("created_at"), "agent_id": agent_id,
              "post_id": pid}
    if agent_name is not None:
        fields["agent_name"] = agent_name
    community = _community_name(post) if "submolt" in post else None
    if community is not None:
        fields["community"] = community
    for src, dst in (("title", "title"), ("content", "text"), ("url", "url")):
        value = post.get(src)
        if value is not None:
            fields[dst] = value
    attrs = {k: v for k in _POST_COUNTERS if (v := post.get(k)) is not None}
    if missing:
        attrs["author_missing"] = True
    fields["attrs"] = attrs
    return _validate("post", fields, obj)


def map_comment(obj: object, *, post_id: str | None = None, community: str | None = None,
                parent_id: str | None = None, target_agent_id: str | None = None,
                depth: int | None = None) -> MapResult:
    """One comment. `post_id`/`community` come from the enclosing post when the
    comment object does not carry them; `target_agent_id` is the replied-to agent;
    `depth` its place in a tree (0 = top level) when the object does not say."""
    try:
        com = _as_dict(obj, "comment")
        cid = _object_id(com, "comment")
        agent_id, agent_name, missing = _author(com, "comment", cid)
        post = com.get("post")
        if isinstance(post, dict):  # profile "recent comments" embed their post
            post_id = post_id or (str(post["id"]) if post.get("id") else None)
            community = community or _community_name(post)
    except _Shape as exc:
        return reject("comment", obj, exc.reason, str(exc))
    attrs = _pick(com, _COMMENT_COUNTERS)
    if depth is not None:
        attrs.setdefault("depth", depth)
    if missing:
        attrs["author_missing"] = True
    own_parent = com.get("parent_id")
    return _validate("comment", {
        "event_id": f"comment:{cid}", "type": "comment", "ts": com.get("created_at"),
        "agent_id": agent_id, "agent_name": agent_name, "community": community,
        "post_id": com.get("post_id", post_id) if post_id is None else post_id,
        "parent_id": own_parent if own_parent is not None else parent_id,
        "target_agent_id": target_agent_id, "text": com.get("content"), "attrs": attrs,
    }, obj)


def iter_comment_tree(comments: object, *, post_id: str, community: str | None,
                      post_author_id: str | None) -> Iterator[tuple[str | None, MapResult]]:
    """Flatten a `GET /posts/{id}` comment tree (replies nested under `replies`),
    depth first in document order. Yields (comment id or None, result). A top-level
    comment replies to the post's author; a reply to its parent comment's author.
    A malformed comment is rejected but its replies are still walked."""
    if not isinstance(comments, list):
        yield None, reject("comment", comments, "bad_type", f"post {post_id}: comments is not a list")
        return
    # the API sends no depth; the tree gives it (the comments tables carry it too)
    stack: list[tuple[object, str | None, str | None, int]] = [
        (c, None, post_author_id, 0) for c in reversed(comments)
    ]
    while stack:
        obj, parent_id, target, depth = stack.pop()
        result = map_comment(obj, post_id=post_id, community=community, parent_id=parent_id,
                             target_agent_id=target, depth=depth)
        cid = result.event.event_id.removeprefix("comment:") if isinstance(result, Mapped) else None
        yield cid, result
        if not isinstance(obj, dict):
            continue
        replies = obj.get("replies")
        if replies is None:
            continue
        if not isinstance(replies, list):
            yield None, reject("comment", replies, "bad_type", f"comment {obj.get('id')!r}: replies is not a list")
            continue
        author = result.event.agent_id if isinstance(result, Mapped) else None
        own_id = cid or (str(obj["id"]) if isinstance(obj.get("id"), (str, int)) else None)
        stack.extend((r, own_id, author, depth + 1) for r in reversed(replies))


def _version_id(kind: str, key: str, digest: str, revision: int) -> str:
    return f"{kind}:{key}:{digest}" + (f":r{revision}" if revision else "")


def has_profile(author: object) -> bool:
    """List pages carry only {id, name}; a post detail's author and a profile carry a
    description: only those are profile observations worth an `agent` event."""
    return isinstance(author, dict) and "description" in author


def map_agent(obj: object, observed_at: str, *, revision: int = 0) -> MapResult:
    """An agent profile observed at `observed_at` (ISO-8601). The id hashes the
    watched fields (name, description), so an unchanged profile maps to the same id.
    `revision` > 0 distinguishes a profile that changed back to an earlier text."""
    try:
        agent = _as_dict(obj, "agent")
        aid = _object_id(agent, "agent")
    except _Shape as exc:
        return reject("agent", obj, exc.reason, str(exc))
    name, description = agent.get("name"), agent.get("description")
    digest = content_hash(name, description)
    return _validate("agent", {
        "event_id": _version_id("agent", aid, digest, revision), "type": "agent", "ts": observed_at,
        "agent_id": aid, "agent_name": name, "text": description,
        "attrs": {**_pick(agent, _AGENT_ATTRS), "profile_hash": digest},
    }, obj)


def map_community(obj: object, observed_at: str, *, revision: int = 0) -> MapResult:
    """A submolt description observed at `observed_at`. Its acting agent is the
    creator when the API names one, else a per-community pseudo agent `submolt:<name>`
    (never one shared id, which would look like one agent running every community)."""
    try:
        sub = _as_dict(obj, "submolt")
        name = sub.get("name")
        if not isinstance(name, str) or not name:
            raise _Shape("missing_field", f"submolt.name: {name!r} is not a name")
    except _Shape as exc:
        return reject("community", obj, exc.reason, str(exc))
    description = sub.get("description")
    digest = content_hash(name, description)
    creator = sub.get("created_by") or sub.get("owner")
    agent_id = f"submolt:{name}"
    if isinstance(creator, dict) and isinstance(creator.get("id"), str) and creator["id"]:
        agent_id = creator["id"]
    return _validate("community", {
        "event_id": _version_id("community", name, digest, revision), "type": "community", "ts": observed_at,
        "agent_id": agent_id, "community": name, "text": description,
        "attrs": {**_pick(sub, _COMMUNITY_ATTRS), "description_hash": digest},
    }, obj)
