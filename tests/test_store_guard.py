"""The worker's handling of an unreachable alert store, without a broker or a database:
retries with back-off, what it reports (log, gauge, readiness), giving up when told,
and what a shutdown or rebalance does while a batch waits.
(tests/test_worker_store_outage.py does it for real, through a cut TCP proxy.)"""

from __future__ import annotations

import asyncio
import logging
import threading
from types import SimpleNamespace

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from flockwatch.metrics.registry import Metrics
from flockwatch.worker.health import Health
from flockwatch.worker.store_guard import StoreGuard
from flockwatch.worker.store_wait import ShortWaitEmptyLog, StoreWaitHook


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def down() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("connection refused"))


def flaky(failures: int, clock: Clock | None = None, seen: list[float] | None = None):  # type: ignore[no-untyped-def]
    """A store step failing `failures` times, then returning 'stored'."""
    calls = {"n": 0}

    def step() -> str:
        calls["n"] += 1
        if seen is not None and clock is not None:
            seen.append(clock.now)
        if calls["n"] <= failures:
            raise down()
        return "stored"
    return step


def make(give_up_after: float = 0.0) -> tuple[StoreGuard, Metrics, Health, Clock]:
    metrics, health, clock = Metrics(), Health(), Clock()
    guard = StoreGuard(metrics, health, give_up_after=give_up_after, clock=clock, sleep=clock.sleep,
                       jitter=lambda: 0.5)  # no jitter: a factor of exactly 1
    return guard, metrics, health, clock


def value(metrics: Metrics, name: str) -> float:
    v = metrics.registry.get_sample_value(name)
    assert v is not None, name
    return v


def test_an_outage_is_waited_out_with_back_off_and_reported_once_begun_and_once_over(
        caplog: pytest.LogCaptureFixture) -> None:
    guard, metrics, health, clock = make()
    states: list[tuple[float, str | None]] = []
    step = flaky(10)

    def observed() -> str:
        states.append((value(metrics, "flockwatch_store_up"), health.store_error))
        return step()

    with caplog.at_level(logging.INFO, logger="flockwatch.worker.store_guard"):
        assert asyncio.run(guard.write(observed, events=200)) == "stored"
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0] + [5.0] * 6  # doubling, capped at 5 s
    assert value(metrics, "flockwatch_store_retries_total") == 10
    assert states[0] == (1.0, None)
    assert states[1][0] == 0.0 and "connection refused" in (states[1][1] or "")  # down after the first failure
    assert value(metrics, "flockwatch_store_up") == 1.0 and health.store_error is None
    assert guard.down_since is None and guard.waiting == 0
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert messages[0][0] == "ERROR" and "alert store unavailable (write failed: Exception: connection refused)" \
        in messages[0][1] and "200 events wait for it" in messages[0][1]
    assert messages[1][0] == "WARNING" and messages[1][1].startswith(  # a reminder every 30 s
        "alert store still unavailable after 32 s (10 failed attempts")
    assert messages[-1][0] == "WARNING" and messages[-1][1].startswith("alert store is back after 37.5 s")
    assert len(messages) == 3, messages


def test_a_write_given_a_limit_gives_up_after_it_and_not_before() -> None:
    guard, metrics, _, clock = make(give_up_after=10.0)
    seen: list[float] = []
    with pytest.raises(OperationalError):
        asyncio.run(guard.write(flaky(100, clock, seen), events=5))
    assert seen[-1] - seen[0] >= 10.0  # the last attempt came at or after the limit
    assert seen[-2] - seen[0] < 10.0
    assert guard.waiting == 0
    assert value(metrics, "flockwatch_store_up") == 0.0  # still down: the process exits 70 now


def test_other_errors_are_not_retried() -> None:
    guard, metrics, _, clock = make()

    def broken() -> None:
        raise IntegrityError("INSERT", {}, Exception("a bug, not an outage"))

    with pytest.raises(IntegrityError):
        asyncio.run(guard.write(broken, events=1))
    assert clock.sleeps == [] and value(metrics, "flockwatch_store_retries_total") == 0


def test_readiness_checks_report_an_outage_and_its_end(caplog: pytest.LogCaptureFixture) -> None:
    guard, metrics, health, _ = make()

    def failing_ping() -> None:
        raise down()

    with caplog.at_level(logging.INFO, logger="flockwatch.worker.store_guard"):
        with pytest.raises(OperationalError):
            guard.check(failing_ping)
        assert value(metrics, "flockwatch_store_up") == 0.0
        assert "readiness check failed" in caplog.records[0].getMessage()
        assert "no batch waits for it yet" in caplog.records[0].getMessage()
        guard.check(lambda: None)
    assert value(metrics, "flockwatch_store_up") == 1.0 and health.store_error is None
    assert "seen by a readiness check" in caplog.records[-1].getMessage()


def test_health_reports_the_store_through_the_guard() -> None:
    guard, metrics, health, _ = make()
    reachable = {"ok": False}

    def ping() -> None:
        if not reachable["ok"]:
            raise down()

    health.store_check = lambda: guard.check(ping)
    health.assigned, health.rules_loaded = True, 3
    ok, detail = health.ready()
    assert not ok and detail["store_reachable"] is False and detail["store_error"]
    reachable["ok"] = True
    health._store_checked = float("-inf")  # skip the 2 s cache
    assert health.ready()[0] and value(metrics, "flockwatch_store_up") == 1.0


def test_a_stop_while_a_batch_waits_for_the_store_exits_70_at_once(caplog: pytest.LogCaptureFixture) -> None:
    guard, *_ = make()
    exits: list[int] = []
    app = SimpleNamespace(should_stop=True)
    hook = StoreWaitHook(app, guard, 70, exit=exits.append)
    hook()
    assert exits == []  # nothing waits: Faust's own wait is short
    guard.waiting = 300
    hook()
    assert exits == []  # a write in flight while the store answers finishes and is acknowledged
    guard.failed(down())
    hook()
    assert exits == [70]
    assert "stopping while 300 events wait for the alert store" in caplog.text


def test_a_rebalance_while_a_batch_waits_is_explained_once(caplog: pytest.LogCaptureFixture) -> None:
    guard, *_ = make()
    exits: list[int] = []
    hook = StoreWaitHook(SimpleNamespace(should_stop=False), guard, 70, exit=exits.append)
    guard.waiting = 10
    hook()
    assert "a rebalance waits" not in caplog.text  # an ordinary write in flight: nothing to explain
    guard.failed(down())
    hook()
    hook()
    assert exits == []
    assert caplog.text.count("a rebalance waits for 10 events") == 1


def test_faust_wait_empty_log_is_shortened_to_a_count() -> None:
    record = logging.LogRecord("faust.transport.drivers.aiokafka", logging.WARNING, __file__, 1,
                               "[^--Consumer]: wait_empty: Waiting for tasks %r",
                               ([(1, f"<message offset={i}>") for i in range(5000)],), None)
    assert ShortWaitEmptyLog().filter(record)
    message = record.getMessage()
    assert "5000 unacknowledged records" in message and len(message) < 300


def test_a_write_that_hangs_is_reported_as_an_outage_and_its_return_as_the_end(
        caplog: pytest.LogCaptureFixture) -> None:
    metrics, health = Metrics(), Health()
    guard = StoreGuard(metrics, health, stall_after=0.05)
    release = threading.Event()
    states: list[float] = []

    def hanging() -> str:
        release.wait(5)
        return "stored"

    async def run() -> str:
        write = asyncio.ensure_future(guard.write(hanging, events=7))
        await asyncio.sleep(0.3)
        states.append(value(metrics, "flockwatch_store_up"))
        release.set()
        return await write

    with caplog.at_level(logging.INFO, logger="flockwatch.worker.store_guard"):
        assert asyncio.run(run()) == "stored"
    assert states == [0.0]
    assert value(metrics, "flockwatch_store_up") == 1.0
    assert value(metrics, "flockwatch_store_retries_total") == 0  # it was waited for, not tried again
    first = caplog.records[0].getMessage()
    assert "a store write has not returned for 0.05 s" in first and "7 events wait for it" in first
    assert "alert store is back" in caplog.records[-1].getMessage()
