"""The one delivery path against a real local HTTP receiver: how each answer (or
non-answer) is classified, and what is sent."""

from __future__ import annotations

import asyncio
import email.utils
import time

import pytest

from flockwatch.notify.delivery import classify, parse_retry_after, post_once
from support.servers import free_port
from support.webhook import WebhookReceiver


@pytest.fixture
def rx():
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


def send(url: str, timeout: float = 1.0, headers=None):
    return asyncio.run(post_once(url, b'{"hello": "world"}', timeout=timeout, headers=headers))


def test_ok_sends_json_with_headers(rx):
    out = send(rx.url, headers={"Idempotency-Key": "n-1"})
    assert (out.kind, out.status_code, out.error) == ("ok", 200, None)
    [req] = rx.snapshot()
    assert req.body == {"hello": "world"} and req.headers["Content-Type"] == "application/json"
    assert req.key == "n-1" and req.headers["User-Agent"].startswith("flockwatch")


@pytest.mark.parametrize("mode, kind, status", [("error", "retry", 500), ("reject", "permanent", 400),
                                                ("redirect", "permanent", 302)])
def test_status_classification(rx, mode, kind, status):
    rx.set(mode)
    out = send(rx.url)
    assert (out.kind, out.status_code) == (kind, status)
    assert out.error.startswith(f"HTTP {status}: mode {mode}")


def test_429_carries_retry_after_seconds_and_dates(rx):
    rx.set("ratelimit")
    rx.retry_after = "7"
    assert send(rx.url).retry_after == 7.0
    rx.retry_after = email.utils.formatdate(time.time() + 30, usegmt=True)
    out = send(rx.url)
    assert out.kind == "retry" and 28 <= out.retry_after <= 31


def test_slow_receiver_is_a_timeout_and_is_retried(rx):
    rx.set("slow")
    rx.slow_seconds = 1.0
    start = time.monotonic()
    out = send(rx.url, timeout=0.2)
    assert out.kind == "retry" and out.error == "timeout after 0.2s" and time.monotonic() - start < 0.9


def test_refused_connection_is_retried():
    out = send(f"http://127.0.0.1:{free_port()}/hook")
    assert out.kind == "retry" and out.error.startswith("cannot connect")


def test_bad_url_is_permanent_and_does_not_echo_the_url():
    out = send("http://[::1/hook/secret-token")
    assert out.kind == "permanent" and "secret-token" not in (out.error or "")


def test_classify_and_parse_retry_after_edges():
    assert classify(204, None, "", 0.1).kind == "ok"
    assert classify(408, None, "", 0.1).kind == "retry"
    assert classify(503, "120", "busy", 0.1).retry_after == 120
    assert classify(404, None, "no_service", 0.1).kind == "permanent"
    body = "invalid token sk-proj-abcdefghijklmnopqrstuvwxyz012345"
    assert "abcdefghijklmnopqrstuvwxyz012345" not in classify(403, None, body, 0.1).error
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after(email.utils.formatdate(1000, usegmt=True), now=990) == pytest.approx(10)
