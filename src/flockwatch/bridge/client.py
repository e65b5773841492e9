"""HTTP client for the Moltbook REST API: rate-limited, retrying, never logging the key.

stdlib `urllib.request` is enough: one GET at a time, paced by the rate limiter, so
an async or pooled client would buy nothing and add a dependency.
"""

from __future__ import annotations

import http.client
import logging
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from flockwatch import __version__
from flockwatch.bridge.mapping import parse_json
from flockwatch.bridge.metrics import BridgeMetrics
from flockwatch.bridge.ratelimit import RateLimiter
from flockwatch.bridge.retry import RetryPolicy

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://www.moltbook.com/api/v1"
API_KEY_ENV = "MOLTBOOK_API_KEY"


class FetchError(Exception):
    """A request failed for good. `reason` is a low-cardinality label."""

    def __init__(self, path: str, reason: str, message: str, body: bytes = b""):
        super().__init__(f"GET {path}: {message}")
        self.path = path
        self.reason = reason
        self.body = body


class Stopped(FetchError):
    """The bridge is shutting down; the request was not (re)sent."""


class NotFound(FetchError):
    pass


class Unauthorized(FetchError):
    """401/403: the key is missing, wrong or revoked. Retrying will not help."""


class Redirected(FetchError):
    """A 30x: not followed, so the key never goes where it points. The base URL is
    wrong (or something in between redirects); retrying will not help."""

    def __init__(self, path: str, status: int, location: str, suggested_base: str | None):
        fix = f"use --base-url {suggested_base}" if suggested_base else "check --base-url"
        super().__init__(path, "redirected", f"HTTP {status} redirect to {location} not followed (the API key "
                                             f"is never sent on a redirect): {fix}")
        self.location = location


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """urllib's redirect handler copies ordinary headers, Authorization included, onto
    the redirected request, to any host. Returning None turns the 30x into an
    HTTPError, which `MoltbookClient.get` reports as `Redirected`."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> None:
        return None


def _suggested_base(url: str, base_url: str, location: str) -> str | None:
    """The base URL that would have been asked directly, when the redirect kept the
    request's path and query (a host or scheme change: the usual misconfiguration)."""
    rest = url[len(base_url):]
    return location[:-len(rest)] if rest and location.endswith(rest) else None


class MalformedResponse(FetchError):
    """The body was not JSON even after retries; `body` holds it for the dead letter."""


def endpoint_label(path: str) -> str:
    """Low-cardinality endpoint name for metrics: ids replaced by placeholders."""
    parts = path.strip("/").split("/")
    if len(parts) >= 2 and parts[0] == "posts":
        return "/posts/{id}"
    if len(parts) >= 2 and parts[0] == "submolts":
        return "/submolts/{name}"
    return "/" + "/".join(parts)


class MoltbookClient:
    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        *,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 15.0,
        metrics: BridgeMetrics | None = None,
        sleep: Callable[[float], object] = time.sleep,
        rng: random.Random | None = None,
        stop: threading.Event | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key  # private: never logged, never in errors or dead letters
        self.limiter = limiter or RateLimiter(sleep=sleep)
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.metrics = metrics
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._stop = stop
        self.requests_sent = 0
        self._opener = urllib.request.build_opener(_RefuseRedirects())

    def __repr__(self) -> str:
        return f"MoltbookClient({self.base_url!r}, api_key={'<set>' if self._api_key else None})"

    def _request(self, url: str) -> urllib.request.Request:
        headers = {"Accept": "application/json", "User-Agent": f"flockwatch-bridge/{__version__}"}
        req = urllib.request.Request(url, headers=headers, method="GET")
        if self._api_key:
            # unredirected as well as refused redirects: should a redirect ever be
            # followed, the key still stays with the URL it was configured for
            req.add_unredirected_header("Authorization", f"Bearer {self._api_key}")
        return req

    def _count(self, path: str, outcome: str) -> None:
        if self.metrics:
            self.metrics.requests.labels(endpoint_label(path), outcome).inc()

    def _retrying(self, cause: str, path: str, attempt: int, detail: str) -> None:
        if self.metrics:
            self.metrics.retries.labels(cause).inc()
        wait = self.retry.backoff(attempt, self._rng)
        log.warning("GET %s: %s (%s); retry %d in %.1fs", path, cause, detail, attempt + 1, wait)
        self._sleep(wait)

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET `path` (relative to the base URL) and return the parsed JSON body."""
        query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None})
        url = f"{self.base_url}/{path.lstrip('/')}" + (f"?{query}" if query else "")
        failures = malformed = limited = 0
        while True:
            if self._stop is not None and self._stop.is_set():
                raise Stopped(path, "stopped", "shutting down")
            waited = self.limiter.acquire()
            if waited and self.metrics:
                self.metrics.rate_limit_wait.inc(waited)
            if self._stop is not None and self._stop.is_set():
                raise Stopped(path, "stopped", "shutting down")
            self.requests_sent += 1
            try:
                with self._opener.open(self._request(url), timeout=self.timeout) as resp:
                    body = resp.read()
            except urllib.error.HTTPError as exc:
                body = _read_quietly(exc)
                status = exc.code
                self._count(path, str(status))
                if status == 429:
                    limited += 1
                    if limited > self.retry.rate_limited_attempts:
                        raise FetchError(path, "rate_limited", f"still 429 after {limited - 1} waits") from None
                    wait = self.retry.retry_after(body, exc.headers or {})
                    log.warning("GET %s: 429 rate limited; pausing all requests for %.1fs", path, wait)
                    if self.metrics:  # the wait itself is counted when acquire() sleeps it
                        self.metrics.retries.labels("rate_limited").inc()
                    self.limiter.pause(wait)
                    continue
                if status in (301, 302, 303, 307, 308):
                    location = urllib.parse.urljoin(url, (exc.headers or {}).get("Location") or "")
                    raise Redirected(path, status, location,
                                     _suggested_base(url, self.base_url, location)) from None
                if status in (401, 403):
                    raise Unauthorized(path, "unauthorized", f"HTTP {status}: check the API key") from None
                if status == 404:
                    raise NotFound(path, "not_found", "HTTP 404", body) from None
                if status >= 500 or status == 408:
                    if failures + 1 >= self.retry.attempts:
                        raise FetchError(path, "server_error", f"HTTP {status} after {failures + 1} tries") from None
                    self._retrying("server_error", path, failures, f"HTTP {status}")
                    failures += 1
                    continue
                raise FetchError(path, "http_error", f"HTTP {status}", body) from None
            except (TimeoutError, socket.timeout, urllib.error.URLError, ConnectionError,
                    http.client.HTTPException, OSError) as exc:
                cause = "timeout" if _is_timeout(exc) else "connection_error"
                self._count(path, cause)
                if failures + 1 >= self.retry.attempts:
                    raise FetchError(path, cause, f"{type(exc).__name__} after {failures + 1} tries") from None
                self._retrying(cause, path, failures, type(exc).__name__)
                failures += 1
                continue
            try:
                doc = parse_json(body)
            except ValueError as exc:
                self._count(path, "malformed")
                malformed += 1
                if malformed >= self.retry.malformed_attempts:
                    raise MalformedResponse(path, "invalid_json", f"body is not JSON ({exc})", body) from None
                self._retrying("malformed", path, malformed - 1, "body is not JSON")
                continue
            self._count(path, "ok")
            return doc


def _is_timeout(exc: BaseException) -> bool:
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return True
    reason = getattr(exc, "reason", None)
    return isinstance(reason, (TimeoutError, socket.timeout))


def _read_quietly(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read() or b""
    except Exception:  # noqa: BLE001 - the body is only a hint
        return b""
