"""The one delivery path: POST a message to a receiver and classify what happened.

    ok         2xx
    retry      5xx, 408, 429 (with the receiver's Retry-After), timeouts, refused or
               reset connections, DNS failures: worth trying again until the deadline
    permanent  any other 4xx, redirects (a webhook that redirects is misconfigured,
               and following it would send the payload somewhere unreviewed), bad URLs

Every receiver format goes through `post`; nothing else in flockwatch sends HTTP.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass
from typing import Literal

import aiohttp

from flockwatch.alerts.redact import redact

OutcomeKind = Literal["ok", "retry", "permanent"]
MAX_ERROR_BODY = 300
USER_AGENT = "flockwatch-notify/1"


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    status_code: int | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds the receiver asked us to wait
    duration: float = 0.0


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After is either delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def classify(status: int, retry_after_header: str | None, body: str, duration: float) -> Outcome:
    if 200 <= status < 300:
        return Outcome("ok", status, None, None, duration)
    detail = redact(body.strip()[:MAX_ERROR_BODY]) or None
    error = f"HTTP {status}" + (f": {detail}" if detail else "")
    if status == 429 or status == 408 or status >= 500:
        return Outcome("retry", status, error, parse_retry_after(retry_after_header), duration)
    return Outcome("permanent", status, error, None, duration)


async def post(session: aiohttp.ClientSession, url: str, body: bytes, *, timeout: float,
               headers: dict[str, str] | None = None) -> Outcome:
    all_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {})}
    start = time.monotonic()
    try:
        async with session.post(url, data=body, headers=all_headers, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            text = await resp.content.read(4096)
            return classify(resp.status, resp.headers.get("Retry-After"), text.decode("utf-8", "replace"),
                            time.monotonic() - start)
    except (asyncio.TimeoutError, TimeoutError):
        return Outcome("retry", None, f"timeout after {timeout:g}s", None, time.monotonic() - start)
    except aiohttp.InvalidURL as exc:
        return Outcome("permanent", None, f"invalid URL: {_host_only(exc)}", None, time.monotonic() - start)
    except aiohttp.ClientConnectorError as exc:
        return Outcome("retry", None, f"cannot connect: {exc.os_error.strerror or type(exc.os_error).__name__}",
                       None, time.monotonic() - start)
    except aiohttp.ClientError as exc:
        return Outcome("retry", None, f"{type(exc).__name__}: {redact(str(exc))[:MAX_ERROR_BODY]}", None,
                       time.monotonic() - start)
    except OSError as exc:
        return Outcome("retry", None, f"{type(exc).__name__}: {exc.strerror}", None, time.monotonic() - start)


def _host_only(exc: aiohttp.InvalidURL) -> str:
    # The URL is a secret (webhook tokens live in its path); say only what kind of problem it is.
    return type(exc).__name__


def new_session(limit: int = 100) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit, limit_per_host=limit))


async def post_once(url: str, body: bytes, *, timeout: float, headers: dict[str, str] | None = None) -> Outcome:
    """One POST with its own session (test notifications from the CLI or API)."""
    async with new_session(4) as session:
        return await post(session, url, body, timeout=timeout, headers=headers)
