"""A real local HTTP server speaking the Moltbook API v1 shapes (as recorded in
../shared/data/moltbook/viyercal_molt_observatory_raw): list pages, post details
with nested comment trees, profiles, submolts; plus scripted faults (429 with
retry-after, 5xx, timeouts, malformed JSON) and a request log.

It is a tiny platform, not a mock: tests mutate it (new posts, growing trees,
edited profiles) between polls, and the bridge talks to it over real HTTP.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

T0 = datetime(2026, 1, 30, 17, 0, 0, tzinfo=timezone.utc)


def stamp(seconds: float, t0: datetime = T0) -> str:
    """created_at the way the API writes it: microseconds and +00:00."""
    return (t0 + timedelta(seconds=seconds)).isoformat(timespec="microseconds")


@dataclass
class Fault:
    """Answer the next `times` requests whose path matches `path` (prefix) with `kind`."""

    path: str
    kind: str  # 429s | 429m | 429h | 500 | 502 | timeout | malformed | 404
    times: int = 1
    retry_after: float = 1


@dataclass
class Platform:
    t0: datetime = T0  # time 0 of the scenario (created_at = t0 + `at` seconds)
    agents: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> profile
    submolts: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> submolt
    posts: list[dict[str, Any]] = field(default_factory=list)  # stored objects (any order)
    comments: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # post id -> top-level
    raw_list_items: list[Any] = field(default_factory=list)  # malformed objects injected into page 1
    raw_detail: dict[str, Any] = field(default_factory=dict)  # post id -> body served verbatim

    def add_agent(self, aid: str, name: str, description: str) -> None:
        self.agents[aid] = {
            "id": aid, "name": name, "description": description, "karma": 3, "follower_count": 1,
            "following_count": 0,
            "owner": {"x_handle": "<redacted>", "x_name": "<redacted>", "x_bio": "<redacted>",
                      "x_follower_count": 0, "x_verified": False},
            "you_follow": False,
        }

    def add_submolt(self, name: str, description: str) -> None:
        self.submolts[name] = {"id": f"sub-{name}", "name": name, "display_name": name.title(),
                               "description": description, "subscriber_count": 10,
                               "created_at": stamp(-86400, self.t0)}

    def add_post(self, pid: str, author: str, submolt: str, at: float, title: str, content: str) -> None:
        self.posts.append({"id": pid, "title": title, "content": content, "url": None, "upvotes": 0,
                           "downvotes": 0, "created_at": stamp(at, self.t0), "author_id": author,
                           "submolt": submolt})
        self.comments.setdefault(pid, [])

    def add_comment(self, pid: str, cid: str, author: str, at: float, content: str,
                    parent: str | None = None) -> None:
        node = {"id": cid, "content": content, "parent_id": parent, "upvotes": 0, "downvotes": 0,
                "created_at": stamp(at, self.t0), "author_id": author, "replies": []}
        if parent is None:
            self.comments[pid].append(node)
            return
        stack = list(self.comments[pid])
        while stack:
            c = stack.pop()
            if c["id"] == parent:
                c["replies"].append(node)
                return
            stack.extend(c["replies"])
        raise KeyError(parent)

    # -- API shapes -------------------------------------------------------------------------
    def _count(self, pid: str) -> int:
        stack, n = list(self.comments.get(pid, [])), 0
        while stack:
            c = stack.pop()
            n += 1
            stack.extend(c["replies"])
        return n

    def _list_post(self, p: dict[str, Any]) -> dict[str, Any]:
        a = self.agents[p["author_id"]]
        s = self.submolts[p["submolt"]]
        return {"id": p["id"], "title": p["title"], "content": p["content"], "url": p["url"],
                "upvotes": p["upvotes"], "downvotes": p["downvotes"], "comment_count": self._count(p["id"]),
                "created_at": p["created_at"], "author": {"id": a["id"], "name": a["name"]},
                "submolt": {"id": s["id"], "name": s["name"], "display_name": s["display_name"]}}

    def _comment(self, c: dict[str, Any]) -> dict[str, Any]:
        a = self.agents[c["author_id"]]
        return {"id": c["id"], "content": c["content"], "parent_id": c["parent_id"], "upvotes": c["upvotes"],
                "downvotes": c["downvotes"], "created_at": c["created_at"],
                "author": {"id": a["id"], "name": a["name"], "karma": a["karma"],
                           "follower_count": a["follower_count"]},
                "replies": [self._comment(r) for r in c["replies"]]}

    def list_page(self, offset: int, limit: int) -> dict[str, Any]:
        newest = sorted(self.posts, key=lambda p: p["created_at"], reverse=True)
        items: list[Any] = [self._list_post(p) for p in newest[offset:offset + limit]]
        if offset == 0:
            items = self.raw_list_items + items
        more = offset + limit < len(newest)
        return {"success": True, "posts": items, "count": len(items), "has_more": more,
                "next_offset": offset + limit if more else None, "authenticated": True}

    def detail(self, pid: str) -> dict[str, Any] | None:
        if pid in self.raw_detail:
            return self.raw_detail[pid]
        post = next((p for p in self.posts if p["id"] == pid), None)
        if post is None:
            return None
        body = self._list_post(post)
        a = self.agents[post["author_id"]]
        body["author"] = {k: a[k] for k in ("id", "name", "description", "karma", "follower_count",
                                            "following_count", "owner", "you_follow")}
        return {"success": True, "post": body, "comments": [self._comment(c) for c in self.comments[pid]],
                "context": {"tip": "Check author.follower_count, author.karma, and author.owner."}}

    def profile(self, name: str) -> dict[str, Any] | None:
        a = next((a for a in self.agents.values() if a["name"] == name), None)
        return None if a is None else {"success": True, "agent": dict(a), "recentPosts": []}

    def submolt(self, name: str) -> dict[str, Any] | None:
        s = self.submolts.get(name)
        return None if s is None else {"success": True, "submolt": dict(s)}


@dataclass
class Request:
    at: float  # time.monotonic() on arrival
    path: str
    query: dict[str, str]
    authorization: str | None
    status: int = 0


class MoltbookServer:
    def __init__(self, platform: Platform):
        self.platform = platform
        self.faults: list[Fault] = []
        self.requests: list[Request] = []
        self.lock = threading.RLock()
        self.on_request: Callable[[Request], None] | None = None
        self.timeout_sleep = 1.0
        self.redirect_to: str | None = None  # origin to redirect every request to (like the bare domain)
        self.redirect_status = 301
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def origin(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/api/v1"

    def fault(self, path: str, kind: str, times: int = 1, retry_after: float = 1) -> None:
        with self.lock:
            self.faults.append(Fault(path, kind, times, retry_after))

    def _take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if path.startswith(f.path) and f.times > 0:
                    f.times -= 1
                    return f
        return None

    def respond(self, path: str, query: dict[str, str]) -> tuple[int, bytes, dict[str, str]]:
        with self.lock:
            p = self.platform
            route = path.removeprefix("/api/v1")
            body: Any = None
            if route == "/posts":
                body = p.list_page(int(query.get("offset", 0)), int(query.get("limit", 25)))
            elif route.startswith("/posts/"):
                body = p.detail(urllib.parse.unquote(route.split("/")[2]))
            elif route == "/agents/profile":
                body = p.profile(query.get("name", ""))
            elif route.startswith("/submolts/"):
                body = p.submolt(urllib.parse.unquote(route.split("/")[2]))
            if body is None:
                return 404, json.dumps({"success": False, "error": "Not found"}).encode(), {}
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            return 200, raw, {}

    @contextmanager
    def running(self) -> Iterator[MoltbookServer]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                parsed = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parsed.query))
                req = Request(time.monotonic(), parsed.path, query, self.headers.get("Authorization"))
                with server.lock:
                    server.requests.append(req)
                if server.on_request:
                    server.on_request(req)
                if server.redirect_to is not None:
                    req.status = server.redirect_status
                    self.send_response(server.redirect_status)
                    self.send_header("Location", server.redirect_to + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                fault = server._take_fault(parsed.path.removeprefix("/api/v1"))
                status, body, headers = server.respond(parsed.path, query)
                if fault is not None:
                    status, body, headers = self._fault(fault, body)
                    if status == 0:
                        return
                req.status = status
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(body)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _fault(self, fault: Fault, body: bytes) -> tuple[int, bytes, dict[str, str]]:
                if fault.kind == "timeout":
                    time.sleep(server.timeout_sleep)  # longer than the client's timeout
                    return 0, b"", {}
                if fault.kind == "429s":
                    return 429, json.dumps({"success": False, "error": "Rate limit exceeded",
                                            "retry_after_seconds": fault.retry_after}).encode(), {}
                if fault.kind == "429m":
                    return 429, json.dumps({"success": False, "error": "You can only post once every 30 minutes",
                                            "retry_after_minutes": fault.retry_after}).encode(), {}
                if fault.kind == "429h":
                    return 429, b"Too Many Requests", {"Retry-After": str(fault.retry_after)}
                if fault.kind in ("500", "502", "503"):
                    return int(fault.kind), b"<html><body>Bad gateway</body></html>", {}
                if fault.kind == "malformed":
                    return 200, body[: max(1, len(body) // 2)], {}  # a truncated response
                if fault.kind == "404":
                    return 404, b'{"success": false, "error": "Post not found"}', {}
                raise ValueError(fault.kind)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._httpd.shutdown()
            self._httpd.server_close()
