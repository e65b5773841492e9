"""Alert store outages, seen from a running worker.

The store (PostgreSQL restarted or failed over, the network cut, connections killed)
can go away while the worker holds partitions, stateful rule state and batches in
flight. `StoreGuard.write` retries a batch's store step with back-off (0.5 s doubling
to 5 s, jittered so a fleet of workers does not reconnect in step) for as long as the
outage lasts, by default with no limit. Nothing is acknowledged meanwhile, so no
offset is committed past an alert that is not stored; the store step is idempotent
(upsert by fingerprint, notifications by missing version), so an attempt that failed
half-way is simply done again.

Why retry in the process rather than exit and let the orchestrator restart it: a
restarted worker cannot start while the store is away (it needs the store to open),
so the orchestrator's growing restart delay would be added to the outage; every
restart also rebalances the whole consumer group and rebuilds rule state from the
changelog. Waiting here resumes within one back-off step of the store's return and
costs nothing. `give_up_after` > 0 restores the old behaviour: after that long the
write raises and the worker exits 70 (the batch is replayed after the restart).

A write that hangs instead of failing (packets dropped, a connection pooler queueing
the query while its database is away) counts as an outage after `STALL_AFTER`
seconds and is waited for; when the host dropped off the network, libpq's timeouts and
keepalives (`store/database.py`) end it in an error, and it is retried.

The outage is reported once when it begins (log ERROR with the error, gauge
`flockwatch_store_up` 0), every `REPORT_EVERY` seconds while it lasts (WARNING), and
when it ends (WARNING, with its length). `/readyz` says `store_reachable: false` with
the error; readiness checks feed the same state, so an idle worker notices too.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError

from flockwatch.metrics.registry import Metrics
from flockwatch.worker.health import Health

log = logging.getLogger(__name__)

STORE_ERRORS = (OperationalError, InterfaceError)  # worth retrying: the database is away
FIRST_DELAY = 0.5
MAX_DELAY = 5.0
REPORT_EVERY = 30.0  # seconds between "still unavailable" log lines
STALL_AFTER = 20.0  # a write that has not returned after this long is reported as an outage

T = TypeVar("T")


def describe(exc: BaseException) -> str:
    """One line: the exception type and the driver's message (no traceback, no URL)."""
    orig = getattr(exc, "orig", None) or exc
    message = " ".join(str(orig).split())
    return f"{type(orig).__name__}: {message}"[:300]


class StoreGuard:
    def __init__(self, metrics: Metrics, health: Health, give_up_after: float = 0.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
                 jitter: Callable[[], float] = random.random, stall_after: float = STALL_AFTER):
        self.metrics = metrics
        self.health = health
        self.give_up_after = give_up_after  # 0 = retry for as long as the outage lasts
        self.clock = clock
        self.sleep = sleep
        self.jitter = jitter
        self.stall_after = stall_after
        self.down_since: float | None = None
        self.failures = 0  # failed attempts in the current outage
        self.waiting = 0  # events whose batches wait for a store write now
        self._reported = 0.0
        self._lock = threading.Lock()  # readiness checks report from the HTTP thread
        metrics.store_up.set(1)

    async def write(self, fn: Callable[[], T], events: int = 0) -> T:
        """Run the blocking store step `fn` in a thread until it succeeds. `events`: how
        many events wait for it (for the log)."""
        started = self.clock()
        delay = FIRST_DELAY
        self.waiting += events
        try:
            while True:
                try:
                    result = await self._attempt(fn)
                except STORE_ERRORS as exc:
                    self.metrics.store_retries.inc()
                    self.failed(exc)
                    if self.give_up_after > 0 and self.clock() - started >= self.give_up_after:
                        log.critical("alert store unavailable for %.0f s (--store-retry-seconds %g); giving up",
                                     self.clock() - started, self.give_up_after)
                        raise
                    await self.sleep(delay * (0.8 + 0.4 * self.jitter()))
                    delay = min(delay * 2, MAX_DELAY)
                else:
                    self.recovered()
                    return result
        finally:
            self.waiting -= events

    async def _attempt(self, fn: Callable[[], T]) -> T:
        """One attempt in a thread. One that hangs (packets dropped on the way, a pooler
        holding the query while its database is away) is reported as an outage while it
        lasts, and waited for: a second attempt beside it could only queue behind it."""
        attempt = asyncio.ensure_future(asyncio.to_thread(fn))
        try:
            while True:
                done, _ = await asyncio.wait({attempt}, timeout=self.stall_after)
                if done:
                    return attempt.result()
                self.failed(TimeoutError(f"a store write has not returned for {self.stall_after:g} s or more"))
        finally:
            attempt.cancel()  # a no-op once done; on shutdown the thread itself runs on

    def check(self, ping: Callable[[], None]) -> None:
        """A readiness check: `ping` raises if the store is unreachable (and so does this)."""
        try:
            ping()
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
            self.failed(exc, source="readiness check")
            raise
        self.recovered(source="readiness check")

    def failed(self, exc: BaseException, source: str = "write") -> None:
        error = describe(exc)
        self.health.store_error = error
        now = self.clock()
        with self._lock:
            self.failures += 1
            if self.down_since is None:
                self.down_since = self._reported = now
                self.metrics.store_up.set(0)
                log.error("alert store unavailable (%s failed: %s); %s", source, error, self._holding())
            elif now - self._reported >= REPORT_EVERY:
                self._reported = now
                log.warning("alert store still unavailable after %.0f s (%d failed attempts, last: %s); %s",
                            now - self.down_since, self.failures, error, self._holding())

    def recovered(self, source: str = "write") -> None:
        if self.down_since is None:
            return
        with self._lock:
            if self.down_since is None:
                return
            outage, failures = self.clock() - self.down_since, self.failures
            self.down_since, self.failures = None, 0
            self.metrics.store_up.set(1)
        self.health.store_error = None
        log.warning("alert store is back after %.1f s (%d failed attempts; seen by a %s); resuming",
                    outage, failures, source)

    def _holding(self) -> str:
        if not self.waiting:
            return "no batch waits for it yet"
        until = f"for up to {self.give_up_after:g} s" if self.give_up_after > 0 else "until it is back"
        return (f"{self.waiting} events wait for it, unacknowledged (no offset is committed past them); "
                f"retrying with back-off {until}")
