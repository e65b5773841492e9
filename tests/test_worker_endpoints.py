"""/metrics, /healthz and /readyz on a real local HTTP server."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from flockwatch.metrics.registry import Metrics
from flockwatch.worker.health import Health
from flockwatch.worker.http import EndpointServer


@pytest.fixture
def served() -> Iterator[tuple[EndpointServer, Health, Metrics]]:
    metrics, health = Metrics(), Health()
    server = EndpointServer("127.0.0.1", 0, metrics.registry, health).start()
    try:
        yield server, health, metrics
    finally:
        server.stop()


def get(server: EndpointServer, path: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as r:
            return r.status, r.read(), r.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers["Content-Type"]


def test_metrics_are_prometheus_text(served) -> None:  # type: ignore[no-untyped-def]
    server, _, metrics = served
    metrics.consumer_lag.labels("platform.events", "3").set(42)
    code, body, ctype = get(server, "/metrics")
    assert code == 200 and ctype.startswith("text/plain")
    assert b'flockwatch_consumer_lag{partition="3",topic="platform.events"} 42.0' in body


def test_readyz_names_what_is_missing(served) -> None:  # type: ignore[no-untyped-def]
    server, health, _ = served
    code, body, ctype = get(server, "/readyz")
    assert code == 503 and ctype == "application/json"
    assert json.loads(body) == {"status": "unavailable", "partitions_assigned": False, "store_reachable": True,
                                "rules_loaded": False}
    health.rules_loaded, health.assigned = 4, True
    code, body, _ = get(server, "/readyz")
    assert code == 200 and json.loads(body)["status"] == "ok"
    assert health.ready_at is not None


def test_readyz_fails_while_the_store_is_unreachable(served) -> None:  # type: ignore[no-untyped-def]
    server, health, _ = served
    health.rules_loaded, health.assigned = 4, True

    def down() -> None:
        raise ConnectionRefusedError("connection refused")

    health.store_check = down
    code, body, _ = get(server, "/readyz")
    detail = json.loads(body)
    assert code == 503 and detail["store_reachable"] is False
    assert "ConnectionRefusedError" in detail["store_error"]


def test_healthz_fails_when_the_event_loop_stops_ticking(served) -> None:  # type: ignore[no-untyped-def]
    server, health, _ = served
    assert get(server, "/healthz")[0] == 200
    health.last_tick = time.monotonic() - 120  # the loop has been wedged for two minutes
    code, body, _ = get(server, "/healthz")
    assert code == 503 and json.loads(body)["loop_stalled_seconds"] >= 120


def test_unknown_paths_are_404(served) -> None:  # type: ignore[no-untyped-def]
    server, _, _ = served
    assert get(server, "/nope")[0] == 404
