"""The API client against a real local HTTP server: pacing, 429s, 5xx, timeouts, bad bodies."""

import logging
import time

import pytest

from flockwatch.bridge.client import (
    FetchError, MalformedResponse, MoltbookClient, NotFound, Redirected, Unauthorized,
)
from flockwatch.bridge.metrics import BridgeMetrics
from flockwatch.bridge.ratelimit import RateLimiter
from flockwatch.bridge.retry import RetryPolicy
from support.moltbook_server import MoltbookServer, Platform

KEY = "moltbook_sk_TESTKEY_must_never_be_logged"
FAST = RetryPolicy(attempts=4, base=0.01, cap=0.05)


@pytest.fixture
def server():
    p = Platform()
    p.add_agent("a-1", "Stu", "hello")
    p.add_submolt("general", "General chat")
    p.add_post("p-1", "a-1", "general", 0, "t", "c")
    with MoltbookServer(p).running() as s:
        yield s


def client(server, **kw):
    kw.setdefault("retry", FAST)
    kw.setdefault("limiter", RateLimiter(1000, 60.0))
    kw.setdefault("timeout", 0.5)
    return MoltbookClient(server.base_url, KEY, **kw)


def test_get_sends_the_bearer_key_and_parses_json(server):
    doc = client(server).get("/posts", {"sort": "new", "limit": 5, "offset": 0})
    assert doc["posts"][0]["id"] == "p-1" and doc["has_more"] is False
    req = server.requests[-1]
    assert req.authorization == f"Bearer {KEY}" and req.query == {"sort": "new", "limit": "5", "offset": "0"}


@pytest.mark.parametrize("kind,retry_after,expected_wait", [
    ("429s", 1, 1.0),  # {"retry_after_seconds": 1}
    ("429m", 0.01, 0.6),  # {"retry_after_minutes": 0.01}
    ("429h", 1, 1.0),  # Retry-After: 1 header, non-JSON body
])
def test_429_waits_what_the_platform_asks(server, kind, retry_after, expected_wait):
    server.fault("/posts", kind, times=1, retry_after=retry_after)
    metrics = BridgeMetrics()
    c = client(server, metrics=metrics)
    t0 = time.monotonic()
    assert c.get("/posts")["success"] is True
    assert time.monotonic() - t0 >= expected_wait * 0.95
    first, second = server.requests[-2:]
    assert first.status == 429 and second.status == 200
    assert second.at - first.at >= expected_wait * 0.95
    assert metrics.retries.labels("rate_limited")._value.get() == 1


def test_429_pauses_every_request_not_just_the_one(server):
    limiter = RateLimiter(1000, 60.0)
    c = client(server, limiter=limiter)
    server.fault("/posts", "429s", retry_after=1)
    c.get("/posts")
    limiter.pause(0.5)  # as a 429 on another endpoint would
    t0 = time.monotonic()
    c.get("/posts/p-1")
    assert time.monotonic() - t0 >= 0.45


def test_5xx_and_timeouts_back_off_then_succeed(server):
    server.fault("/posts/p-1", "502", times=2)
    server.fault("/posts/p-1", "timeout", times=1)
    server.timeout_sleep = 1.0
    metrics = BridgeMetrics()
    doc = client(server, timeout=0.3, metrics=metrics).get("/posts/p-1")
    assert doc["post"]["id"] == "p-1"
    assert metrics.retries.labels("server_error")._value.get() == 2
    assert metrics.retries.labels("timeout")._value.get() == 1
    assert metrics.requests.labels("/posts/{id}", "ok")._value.get() == 1


def test_gives_up_after_the_attempt_budget(server):
    server.fault("/posts", "500", times=10)
    with pytest.raises(FetchError) as exc:
        client(server).get("/posts")
    assert exc.value.reason == "server_error"
    assert len(server.requests) == FAST.attempts


def test_a_truncated_body_is_retried_then_surfaced_for_dead_lettering(server):
    server.fault("/posts/p-1", "malformed", times=1)
    assert client(server).get("/posts/p-1")["post"]["id"] == "p-1"
    server.fault("/posts/p-1", "malformed", times=10)
    with pytest.raises(MalformedResponse) as exc:
        client(server).get("/posts/p-1")
    assert exc.value.reason == "invalid_json" and exc.value.body.startswith(b'{"success"')


def test_401_and_404_are_not_retried(server):
    with pytest.raises(NotFound):
        client(server).get("/posts/nope")
    assert len(server.requests) == 1
    orig = server.respond
    server.respond = lambda path, query: (401, b'{"success": false, "error": "Invalid API key"}', {})
    try:
        with pytest.raises(Unauthorized):
            client(server).get("/posts/locked")
    finally:
        server.respond = orig
    assert len(server.requests) == 2


def test_rate_limit_holds_for_every_window_at_the_server(server):
    limit, window = 5, 0.6
    c = client(server, limiter=RateLimiter(limit, window))
    for _ in range(13):
        c.get("/posts")
    times = [r.at for r in server.requests]
    # any `limit + 1` consecutive arrivals span at least one window
    spans = [times[i + limit] - times[i] for i in range(len(times) - limit)]
    assert min(spans) >= window * 0.95, spans
    assert times[-1] - times[0] >= 2 * window * 0.95  # 13 requests need > 2 windows


def test_the_key_is_never_logged(server, caplog):
    caplog.set_level(logging.DEBUG)
    server.fault("/posts", "429s", retry_after=0.1)
    server.fault("/posts", "503", times=2)
    server.fault("/posts", "malformed", times=2)
    c = client(server)
    c.get("/posts")
    with pytest.raises(NotFound) as exc:
        c.get("/posts/missing")
    assert caplog.records, "expected retry warnings"
    assert KEY not in caplog.text and KEY not in repr(c) and KEY not in str(exc.value)
    assert all(r.authorization == f"Bearer {KEY}" for r in server.requests)


def test_rate_limiter_on_a_fake_clock():
    now = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    lim = RateLimiter(3, 10.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        assert lim.acquire() == 0
    assert lim.acquire() == pytest.approx(10.0)  # 4th waits for the 1st to leave the window
    lim.pause(30)
    assert lim.acquire() == pytest.approx(30.0)
    assert lim.waited == pytest.approx(40.0)


def test_retry_after_parsing():
    p = RetryPolicy(default_retry_after=60, max_retry_after=600)
    assert p.retry_after(b'{"retry_after_seconds": 7}', {}) == 7
    assert p.retry_after(b'{"retry_after_minutes": 30}', {}) == 600  # capped
    assert p.retry_after(b'{"retry_after_minutes": 2}', {}) == 120
    assert p.retry_after(b"busy", {"Retry-After": "3"}) == 3
    assert p.retry_after(b"", {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}) == 60
    assert p.retry_after(b'{"retry_after_seconds": -1}', {}) == 60
    for attempt in range(8):
        assert 0 < p.backoff(attempt) <= p.cap


def test_a_429_wait_is_counted_once_in_the_wait_metric(server):
    # The 429 branch added the retry-after it asked for and the limiter's acquire()
    # then added the same pause again when it slept it: a 0.5 s wait read as 1 s.
    server.fault("/posts", "429s", retry_after=0.5)
    metrics = BridgeMetrics()
    t0 = time.monotonic()
    client(server, metrics=metrics).get("/posts")
    elapsed = time.monotonic() - t0
    waited = metrics.rate_limit_wait._value.get()
    assert 0.45 <= waited <= elapsed


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_never_carries_the_key_to_its_target(server, status):
    # urllib's redirect handler copied the Authorization header onto the redirected
    # request, to any host: a 30x from the API (or from anything in between) sent the
    # key wherever it pointed. The target here is a second real server on another port.
    with MoltbookServer(Platform()).running() as front:
        front.redirect_to, front.redirect_status = server.origin, status
        c = MoltbookClient(front.base_url, KEY, retry=FAST, limiter=RateLimiter(1000, 60.0), timeout=0.5)
        try:
            c.get("/posts", {"sort": "new"})
            error = None
        except FetchError as exc:
            error = exc
    assert not [r for r in server.requests if r.authorization], "the key followed the redirect"
    assert front.requests[0].authorization == f"Bearer {KEY}" and len(front.requests) == 1  # not retried
    assert isinstance(error, Redirected) and error.reason == "redirected"
    # the operator is told where it pointed and what to configure instead
    assert f"{server.base_url}/posts?sort=new" in str(error) and f"--base-url {server.base_url}" in str(error)
    assert KEY not in str(error)
