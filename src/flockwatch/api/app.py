"""The alert API: aiohttp.web over `AlertService`. Documented by openapi.json (served
at /openapi.json; tests check that every route is in it and nothing else is).

Authentication: set FLOCKWATCH_API_TOKEN and every /api/ request must carry
`Authorization: Bearer <token>`. Without it the server refuses to listen on
anything but localhost.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web

from flockwatch.api.service import AlertService, BadRequest, NoConfig, iso, parse_utc
from flockwatch.detect.durations import parse_duration
from flockwatch.store.lifecycle import AlertNotFound, LifecycleConflict
from flockwatch.store.silences import SilenceError, SilenceNotFound

log = logging.getLogger(__name__)

SERVICE = web.AppKey("service", AlertService)
TOKEN = web.AppKey("token", str)
MAX_BODY = 64 * 1024
# PostgreSQL text cannot hold NUL (the driver raises: a 500); refused up front on both stores.
NUL_ERROR = "NUL characters are not allowed"


def openapi_document() -> dict[str, Any]:
    return json.loads(resources.files("flockwatch.api").joinpath("openapi.json").read_text(encoding="utf-8"))


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, ensure_ascii=False, default=str))


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


@web.middleware
async def errors_and_auth(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                          ) -> web.StreamResponse:
    token = request.app[TOKEN]
    if token and request.path.startswith("/api/"):
        given = request.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return _error(401, "missing or wrong bearer token")
    try:
        if "\x00" in request.path or any("\x00" in k + v for k, v in request.query.items()):
            raise BadRequest(NUL_ERROR)
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # aiohttp's own errors (no such route or method, body too large) are text/plain;
        # the documented error body is JSON.
        response = _error(exc.status, exc.reason)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except LifecycleConflict as exc:
        return _error(409, str(exc))
    except NoConfig as exc:
        return _error(503, str(exc))
    except (BadRequest, SilenceError, ValueError) as exc:
        return _error(400, str(exc))
    except (AlertNotFound, SilenceNotFound, KeyError, LookupError) as exc:
        return _error(404, f"not found: {exc}")


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_length and request.content_length > MAX_BODY:
        raise BadRequest("request body too large")
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    if _has_nul(data):
        raise BadRequest(NUL_ERROR)
    return data


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _text(body: dict[str, Any], name: str) -> str:
    """A text field of a request body; absent or null is empty (str(None) is "None",
    which passed for an author or a comment)."""
    value = body.get(name)
    return "" if value is None else str(value)


def _int(request: web.Request, name: str, default: int) -> int:
    try:
        return int(request.query.get(name, default))
    except ValueError:
        raise BadRequest(f"{name} must be an integer") from None


def _only(request: web.Request, *names: str) -> None:
    """Refuse query parameters the endpoint does not read: a misspelt filter
    (`severty=high`) was ignored, and the caller got every alert back as if filtered."""
    unknown = sorted(set(request.query) - set(names))
    if unknown:
        raise BadRequest(f"unknown query parameter(s) {', '.join(unknown)}; this endpoint takes {', '.join(names)}")


def _svc(request: web.Request) -> AlertService:
    return request.app[SERVICE]


async def list_alerts(request: web.Request) -> web.Response:
    _only(request, "status", "category", "severity", "rule", "pack", "tag", "since", "limit", "offset", "cursor",
          "order")
    q = request.query
    page = await asyncio.to_thread(
        _svc(request).list_page, status=q.get("status"), category=q.get("category"), severity=q.get("severity"),
        rule=q.get("rule"), pack=q.get("pack"), tag=q.get("tag"), since=q.get("since"),
        limit=_int(request, "limit", 100), offset=_int(request, "offset", 0), cursor=q.get("cursor") or None,
        order=q.get("order") or None,
    )
    returned = len(page["alerts"])
    # `count` is kept for the clients that read it; it is this page's size, never a total.
    return _json({"alerts": page["alerts"], "returned": returned, "count": returned,
                  "has_more": page["has_more"], "next": page["next"]})


async def show_alert(request: web.Request) -> web.Response:
    return _json(await asyncio.to_thread(_svc(request).show, request.match_info["ref"]))


async def ack_alert(request: web.Request) -> web.Response:
    body = await _body(request)
    return _json(await asyncio.to_thread(
        _svc(request).acknowledge, request.match_info["ref"], _text(body, "author"), _text(body, "comment")))


async def resolve_alert(request: web.Request) -> web.Response:
    body = await _body(request)
    return _json(await asyncio.to_thread(
        _svc(request).resolve, request.match_info["ref"], _text(body, "author"), _text(body, "comment")))


async def list_silences(request: web.Request) -> web.Response:
    _only(request, "state")
    state = request.query.get("state")
    if state not in (None, "active", "pending", "expired"):
        raise BadRequest("state must be active, pending or expired")
    silences = await asyncio.to_thread(_svc(request).silences.list, state)
    return _json({"silences": [_silence_out(s) for s in silences]})


async def create_silence(request: web.Request) -> web.Response:
    body = await _body(request)
    now = time.time()
    starts_at = _time_field(body, "starts_at", now)
    if "ends_at" in body:
        ends_at = _time_field(body, "ends_at", now)
    elif "duration" in body:
        ends_at = max(starts_at, now) + parse_duration(body["duration"])
    else:
        raise BadRequest("give ends_at or duration")
    matchers = body.get("matchers")
    if not isinstance(matchers, dict):
        raise BadRequest("matchers must be an object, e.g. {\"rule\": \"spam.*\"}")
    silence = await asyncio.to_thread(
        _svc(request).silences.create, matchers, starts_at=starts_at, ends_at=ends_at,
        created_by=_text(body, "author"), comment=_text(body, "comment"),
    )
    return _json(_silence_out(silence), 201)


async def show_silence(request: web.Request) -> web.Response:
    return _json(_silence_out(await asyncio.to_thread(_svc(request).silences.get, request.match_info["id"])))


async def expire_silence(request: web.Request) -> web.Response:
    author = request.query.get("author", "")
    if request.can_read_body:
        author = _text(await _body(request), "author") or author
    if not author.strip():
        raise BadRequest("say who you are (author)")
    silence = await asyncio.to_thread(_svc(request).silences.expire, request.match_info["id"], author.strip())
    return _json(_silence_out(silence))


async def list_receivers(request: web.Request) -> web.Response:
    return _json({"receivers": _svc(request).receivers()})


async def test_receiver(request: web.Request) -> web.Response:
    body = await _body(request) if request.can_read_body else {}
    result = await _svc(request).send_test(request.match_info["name"], _text(body, "author"))
    return _json(result, 200 if result["outcome"] == "ok" else 502)


async def list_notifications(request: web.Request) -> web.Response:
    _only(request, "status", "receiver", "limit")
    q = request.query
    items = await asyncio.to_thread(_svc(request).notifications, status=q.get("status"), receiver=q.get("receiver"),
                                    limit=_int(request, "limit", 100))
    return _json({"notifications": items})


async def show_notification(request: web.Request) -> web.Response:
    return _json(await asyncio.to_thread(_svc(request).notification, request.match_info["id"]))


async def health(request: web.Request) -> web.Response:
    counts = await asyncio.to_thread(_svc(request).outbox_counts)
    return _json({"status": "ok", "outbox": counts})


async def openapi(request: web.Request) -> web.Response:
    return _json(openapi_document())


def _time_field(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return parse_utc(value).timestamp()
        except (ValueError, OverflowError):
            pass
    raise BadRequest(f"{name} must be an ISO-8601 time or epoch seconds")


def _silence_out(s: dict[str, Any]) -> dict[str, Any]:
    out = dict(s)
    for key in ("starts_at", "ends_at", "created_at", "updated_at"):
        out[key] = iso(out[key])
    return out


ROUTES: list[tuple[str, str, Callable[[web.Request], Awaitable[web.Response]]]] = [
    ("GET", "/api/v1/alerts", list_alerts),
    ("GET", "/api/v1/alerts/{ref}", show_alert),
    ("POST", "/api/v1/alerts/{ref}/ack", ack_alert),
    ("POST", "/api/v1/alerts/{ref}/resolve", resolve_alert),
    ("GET", "/api/v1/silences", list_silences),
    ("POST", "/api/v1/silences", create_silence),
    ("GET", "/api/v1/silences/{id}", show_silence),
    ("DELETE", "/api/v1/silences/{id}", expire_silence),
    ("GET", "/api/v1/receivers", list_receivers),
    ("POST", "/api/v1/receivers/{name}/test", test_receiver),
    ("GET", "/api/v1/notifications", list_notifications),
    ("GET", "/api/v1/notifications/{id}", show_notification),
    ("GET", "/healthz", health),
    ("GET", "/openapi.json", openapi),
]


def make_app(service: AlertService, token: str = "") -> web.Application:
    app = web.Application(middlewares=[errors_and_auth], client_max_size=MAX_BODY)
    app[SERVICE] = service
    app[TOKEN] = token
    for method, path, handler in ROUTES:
        app.router.add_route(method, path, handler)
    return app
