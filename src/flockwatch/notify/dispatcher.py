"""`flockwatch notify run`: the loop between the outbox and the receivers.

Two loops in one asyncio process:

- the router loop calls `Aggregator.tick()` every `poll_interval` (in a thread; it
  is plain SQL) to turn alert changes into messages;
- the delivery loop claims due messages per receiver (at most `max_in_flight` per
  receiver and `concurrency` in all, so a receiver that hangs cannot starve the
  others), POSTs them through `delivery.post`, and records the results in batches.

A 429 pauses that receiver until its Retry-After. SIGTERM stops claiming, lets the
requests in flight finish (bounded by the receivers' timeouts) and records them, so
a restart neither loses nor repeats a message; a crash is covered by the claim
lease (the message is sent again after `lease`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable

import aiohttp
from sqlalchemy.engine import Engine

from flockwatch.metrics.registry import Metrics
from flockwatch.notify import outbox, record
from flockwatch.notify.aggregator import Aggregator, build_receivers
from flockwatch.notify.config import NotifyConfig, NotifyConfigError
from flockwatch.notify.delivery import Outcome, new_session, post
from flockwatch.notify.outbox import Claimed
from flockwatch.notify.record import AttemptResult

log = logging.getLogger(__name__)

PENDING_GAUGE_EVERY = 5.0
MAX_TICKS_PER_PASS = 20
COALESCE_SECONDS = 0.01


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Dispatcher:
    def __init__(self, config: NotifyConfig, engine: Engine, *, metrics: Metrics | None = None,
                 instance: str | None = None, clock: Callable[[], float] = time.time,
                 rng: random.Random | None = None):
        self.config = config
        self.engine = engine
        self.metrics = metrics
        self.instance = instance or instance_name()
        self.clock = clock
        self.rng = rng or random.Random()
        self.receivers = build_receivers(config)
        self.aggregator = Aggregator(config, engine, instance=self.instance, metrics=metrics,
                                     receivers=self.receivers, clock=clock)
        self.in_flight: Counter[str] = Counter()
        self.paused_until: dict[str, float] = {}
        self._results: list[AttemptResult] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake: asyncio.Event | None = None
        self._next_due: float | None = None
        self._gauge_at = 0.0
        self.delivered = 0

    # -- public ---------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event, *, once: bool = False) -> None:
        """Run until `stop` is set (or, with `once`, until nothing is due right now)."""
        self._wake = asyncio.Event()
        async with new_session(self.config.dispatcher.concurrency) as session:
            if once:
                await self._router_pass()
                await self._deliver_until_idle(session)
                return
            router = asyncio.create_task(self._router_loop(stop))
            try:
                await self._delivery_loop(session, stop)
            finally:
                router.cancel()
                await asyncio.gather(router, return_exceptions=True)
                await self._drain()

    # -- router ---------------------------------------------------------------------------
    async def _router_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self._router_pass()
            await _sleep_or(stop, self.config.dispatcher.poll_interval)

    async def _router_pass(self) -> None:
        batch = self.config.dispatcher.batch
        try:
            for _ in range(MAX_TICKS_PER_PASS):  # a burst is drained now, not one batch per poll interval
                report = await asyncio.to_thread(self.aggregator.tick)
                if report.messages:
                    log.info("queued %d message(s) from %d routed change(s)", report.messages, report.routed)
                    self._next_due = None
                    assert self._wake is not None
                    self._wake.set()
                if not report.leader or (report.routed < batch and report.flushed < batch):
                    break
            if self.metrics is not None and self.clock() >= self._gauge_at:
                self._gauge_at = self.clock() + PENDING_GAUGE_EVERY
                counts = await asyncio.to_thread(self._pending_counts)
                for name in self.receivers:
                    self.metrics.notify_outbox_pending.labels(name).set(counts.get(name, 0))
        except Exception:  # noqa: BLE001 - a database hiccup must not kill the dispatcher; retried next tick
            log.exception("routing/grouping pass failed; retrying in %.1fs", self.config.dispatcher.poll_interval)

    def _pending_counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return outbox.pending_counts(conn)

    # -- delivery -------------------------------------------------------------------------
    async def _delivery_loop(self, session: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        assert self._wake is not None
        while not stop.is_set():
            try:
                await self._record()
                await self._claim_and_send(session)
            except Exception:  # noqa: BLE001 - keep delivering; the rows stay in the outbox
                log.exception("delivery pass failed; retrying in %.1fs", self.config.dispatcher.poll_interval)
            self._wake.clear()
            wait = self.config.dispatcher.poll_interval
            if self._next_due is not None:
                wait = max(0.0, min(wait, self._next_due - self.clock()))
            await _wait_any(self._wake, stop, wait)
            # Let the answers arriving together share one record and one claim transaction:
            # fewer, larger writes leave the database (SQLite's single write lock) to the worker.
            await asyncio.sleep(COALESCE_SECONDS)

    async def _deliver_until_idle(self, session: aiohttp.ClientSession) -> None:
        while True:
            started = await self._claim_and_send(session)
            if not started and not self._tasks:
                break
            if self._tasks:
                await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
            await self._record()
        await self._record()

    async def _claim_and_send(self, session: aiohttp.ClientSession) -> int:
        now = self.clock()
        due = await asyncio.to_thread(self._due_receivers, now)
        self._next_due = None
        started = 0
        for name, due_at in due.items():
            paused = self.paused_until.get(name, 0.0)
            ready_at = max(due_at, paused)
            if ready_at > now:
                self._next_due = ready_at if self._next_due is None else min(self._next_due, ready_at)
                continue
            receiver = self.receivers.get(name)
            limit = receiver.cfg.max_in_flight if receiver else self.config.dispatcher.batch
            free = min(limit - self.in_flight[name],
                       self.config.dispatcher.concurrency - sum(self.in_flight.values()))
            if free <= 0:
                continue
            claimed = await asyncio.to_thread(self._claim, name, free, now)
            for c in claimed:
                self.in_flight[name] += 1
                task = asyncio.create_task(self._send(session, c))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                started += 1
        return started

    def _due_receivers(self, now: float) -> dict[str, float]:
        with self.engine.connect() as conn:
            return outbox.due_receivers(conn, now)

    def _claim(self, receiver: str, limit: int, now: float) -> list[Claimed]:
        with self.engine.begin() as conn:
            return outbox.claim_due(conn, receiver, limit, now, self.config.dispatcher.lease)

    async def _send(self, session: aiohttp.ClientSession, c: Claimed) -> None:
        started = self.clock()
        try:
            receiver = self.receivers.get(c.receiver)
            if receiver is None:
                outcome = Outcome("permanent", None, f"receiver {c.receiver!r} is not in the config")
            else:
                try:
                    url = receiver.cfg.resolve_url()
                    headers = {**receiver.cfg.resolve_headers(), "Idempotency-Key": c.notification_id}
                except NotifyConfigError as exc:  # an unset variable: never sent as written
                    outcome = Outcome("permanent", None, str(exc))
                else:
                    outcome = await post(session, url, c.payload.encode("utf-8"),
                                         timeout=self.config.timeout_for(receiver.cfg), headers=headers)
        except Exception as exc:  # noqa: BLE001 - never lose the result of a claimed row
            outcome = Outcome("retry", None, f"{type(exc).__name__}: {exc}")
        self.in_flight[c.receiver] -= 1
        if outcome.kind == "retry" and outcome.status_code == 429 and outcome.retry_after:
            # A rate limit covers the whole webhook, not just this message.
            wait = min(outcome.retry_after, self.config.retry.max_retry_after)
            self.paused_until[c.receiver] = max(self.paused_until.get(c.receiver, 0.0), self.clock() + wait)
        self._results.append(AttemptResult(c, outcome, started))
        if self._wake is not None:
            self._wake.set()

    async def _record(self) -> None:
        if not self._results:
            return
        results, self._results = self._results, []
        try:
            recorded = await asyncio.to_thread(self._record_sync, results)
        except Exception:
            self._results = results + self._results  # keep them; the next pass records them
            raise
        record.count(self.metrics, recorded)
        for r in recorded:
            if r.final == "delivered":
                self.delivered += 1
            elif r.final in ("failed", "expired"):
                log.error("notification to %s %s", r.receiver, r.final)

    def _record_sync(self, results: list[AttemptResult]) -> list[record.Recorded]:
        with self.engine.begin() as conn:
            return record.record_results(conn, results, now=self.clock(), retry=self.config.retry,
                                         rng=self.rng, instance=self.instance)

    async def _drain(self) -> None:
        """Shutdown: no new claims; let requests in flight finish and record them."""
        if self._tasks:
            limit = max(self.config.timeout_for(r.cfg) for r in self.receivers.values()) + 1.0
            await asyncio.wait(set(self._tasks), timeout=limit)
        await self._record()


async def _sleep_or(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        pass


async def _wait_any(wake: asyncio.Event, stop: asyncio.Event, seconds: float) -> None:
    waiters = {asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stop.wait())}
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
