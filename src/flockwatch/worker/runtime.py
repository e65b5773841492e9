"""Wiring of the worker: topics, the agent loop, the state table, timers, endpoints.

Delivery guarantee. The agent takes a batch with `noack_take` (Faust's plain `take`
acks a batch even when the loop body raises or is cancelled, losing it), and acks
the batch's events only after: its alerts are stored (idempotent by fingerprint),
its alerts and dead letters are on the broker, and then (not before: a replay from
state that holds the batch's events would regenerate nothing) the state changes it
caused are in the table changelog. Offsets are committed from acks, so a crash at any point
replays at most the unacknowledged batches, and the replay stores nothing twice.

Repartitioning. Stateful rules whose keys are not keyed by agent are evaluated by a
second agent on `<events topic>.by-key` (see `repartition.py`); the firehose agent
publishes their matches there before acknowledging its batch, and the second agent
acknowledges a forwarded record only after the same three steps for what it caused.

An alert store that is unreachable (the database restarted, the network cut) is
waited for with back-off, without acking (`store_guard.py`). A batch that fails for
any other reason ends the process (exit 70) without acking:
Faust would otherwise restart the agent and later commit past the failed batch (its
offset bookkeeping ignores a one-message gap). The supervisor restarts the worker and
the batch is replayed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import faust
from sqlalchemy import text

from flockwatch.alerts.alert import Alert
from flockwatch.alerts.collector import AlertCollector
from flockwatch.detect.compiled import CompiledPack
from flockwatch.detect.engine import Engine
from flockwatch.kafka.topics import ensure_topics
from flockwatch.metrics.registry import Metrics
from flockwatch.notify.notifier import Notifier
from flockwatch.pipeline.processor import Processor
from flockwatch.pipeline.rejection_log import RejectionLog
from flockwatch.rules.reload import RuleSet
from flockwatch.rules.watch import RuleWatcher, install_sighup
from flockwatch.store.alert_store import AlertStore, StoredAlert
from flockwatch.worker.app import RawSchema, create_app
from flockwatch.worker.batch import BatchOutcome, BatchStep, Record, publication
from flockwatch.worker.health import Health
from flockwatch.worker.http import EndpointServer
from flockwatch.worker.lag import LagTracker
from flockwatch.worker.outbox import OutRecord, kafka_producer, send_records
from flockwatch.worker.settings import WorkerSettings
from flockwatch.worker.store_guard import StoreGuard
from flockwatch.worker.store_wait import StoreWaitHook, shorten_wait_empty_log
from flockwatch.worker.repartition import AckOrder, Held, KeyedStage, by_key_topic, forward_records, watermark_records
from flockwatch.worker.table_state import TableState

log = logging.getLogger(__name__)

EXIT_BATCH_FAILED = 70  # EX_SOFTWARE: a batch could not be made durable; it will be replayed
STATE_TABLE = "detector-state"


class WorkerRuntime:
    def __init__(self, settings: WorkerSettings, packs: Sequence[CompiledPack], metrics: Metrics | None = None,
                 started: float | None = None, rule_paths: Sequence[str] | None = None,
                 rules_poll_seconds: float = 5.0):
        """`rule_paths`: where `packs` came from; given, the rules are reloaded on SIGHUP and
        (every `rules_poll_seconds`, 0 = never) when a pack file changes."""
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.health = Health(started=started if started is not None else time.monotonic())
        s = settings
        counts = ensure_topics(s.broker, {s.events_topic: s.partitions, s.alerts_topic: s.partitions,
                                          s.dead_letter_topic: 1})
        self.partitions = counts[s.events_topic]
        # With reloads a stateful rule may arrive later, so the table must exist from the start.
        stateful = bool(rule_paths) or any(r.detector.stateful for p in packs for r in p.rules if r.enabled)
        self.by_key: str | None = None
        if stateful:
            self.by_key = by_key_topic(s.events_topic)
            n = ensure_topics(s.broker, {self.by_key: self.partitions})[self.by_key]
            if n != self.partitions:
                raise SystemExit(f"topic {self.by_key} has {n} partitions, {s.events_topic} has {self.partitions}: "
                                 f"they must match (delete {self.by_key}; the worker recreates it)")
        self.app = create_app(s, self.partitions)
        self.store = AlertStore(s.database_url)
        # Outages of the store while running are waited out (see `store_guard.py`).
        self.guard = StoreGuard(self.metrics, self.health, give_up_after=s.store_retry_seconds)
        self.health.store_check = self._ping_store
        self.table: Any = None
        self.state: TableState | None = None
        if stateful:
            self.table = self.app.Table(STATE_TABLE, partitions=self.partitions,
                                        key_type=bytes, value_type=bytes)  # raw: `TableState.sync` decodes
            # The memory store is a FastUserDict over a plain dict, the same object for the
            # store's life: recovery writes into it in place, and the state takes what it
            # restored from there (detectors read the state's own per-rule dicts).
            store = self.table.data
            raw = getattr(store, "data", None)
            self.state = TableState(raw if isinstance(raw, dict) else store)
            self._changelog = self.table.changelog_topic.get_topic_name()
        self.rules: RuleSet | None = None
        self.watcher: RuleWatcher | None = None
        engine: Engine | RuleSet
        if rule_paths:
            engine = self.rules = RuleSet(rule_paths, metrics=self.metrics, state=self.state, packs=list(packs),
                                          on_alert=self._internal_alert, repartition=stateful)
            self.watcher = RuleWatcher(self.rules, interval=rules_poll_seconds or 3600.0,
                                       watch_files=rules_poll_seconds > 0)
        else:
            engine = Engine(packs, metrics=self.metrics, state=self.state, repartition=stateful)
        self.engine = engine
        self.health.rules_loaded = len(engine.rules)
        self.notifier = Notifier(engine=self.store.engine, metrics=self.metrics)
        self.step = BatchStep(Processor(engine, self.metrics), self.store, self.metrics, self.state,
                              notifier=self.notifier, rejections=RejectionLog(s.dead_letter_topic))
        self.lag = LagTracker(self.metrics, s.events_topic)
        self.events_topic = self.app.topic(s.events_topic, schema=RawSchema())
        self.app.agent(self.events_topic, name="flockwatch.detect")(self._consume)
        self.keyed: KeyedStage[Any] = KeyedStage(self.partitions)
        self.ack_order: AckOrder[Any] = AckOrder()
        self._latest: dict[int, float] = {}  # firehose partition -> latest event time forwarded
        self._quiet_since: dict[int, tuple[int | None, float]] = {}  # partition -> (acked offset, since)
        self._idle: set[int] = set()  # owned firehose partitions with nothing left to read for a while
        if self.by_key is not None:
            self.by_key_topic = self.app.topic(self.by_key, schema=RawSchema())
            self.app.agent(self.by_key_topic, name="flockwatch.keyed")(self._consume_keyed)
            self.app.timer(s.watermark_interval)(self._send_watermarks)
            self.app.before_wait_empty.append(self._let_go_of_held)
        self.app.before_wait_empty.append(StoreWaitHook(self.app, self.guard, EXIT_BATCH_FAILED))
        shorten_wait_empty_log()
        self.app.timer(s.lag_interval)(self._tick)
        self.app.on_partitions_revoked.connect(self._on_revoked)
        self.app.on_partitions_assigned.connect(self._on_assigned)
        self._owned: set[int] = set()  # firehose partitions this worker owns
        self.app.on_rebalance_complete.connect(self._on_rebalance_complete)
        self.endpoints: EndpointServer | None = None
        self._ready_logged = False  # not `health.ready_at`: a /readyz probe may set that first

    # --- running -------------------------------------------------------------------

    def run(self, loglevel: str = "warning") -> None:
        """Run until SIGINT/SIGTERM (graceful: acked offsets are committed on the way out)."""
        if self.settings.metrics_port is not None:
            self.endpoints = EndpointServer(self.settings.metrics_host, self.settings.metrics_port,
                                            self.metrics.registry, self.health).start()
            log.warning("worker endpoints on http://%s:%d (/metrics /healthz /readyz)",
                        self.settings.metrics_host, self.endpoints.port)
        worker = faust.Worker(self.app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
        worker.spinner = None  # terminal escape codes are noise in logs
        if self.watcher is not None:
            # Faust handles INT/TERM/USR1/USR2; unhandled, SIGHUP would kill the worker.
            install_sighup(self.watcher)
            self.watcher.start()
        try:
            worker.execute_from_commandline()
        finally:
            if self.watcher is not None:
                self.watcher.stop()
            if self.endpoints is not None:
                self.endpoints.stop()

    # --- the agent -----------------------------------------------------------------

    async def _consume(self, stream: faust.StreamT) -> None:
        """Take batches and hand them to one processing task through a short queue, so
        the next batch fills while the previous one waits for the store and the broker.
        Batches are processed and acked strictly in order, one at a time."""
        s = self.settings
        queue: asyncio.Queue[list[Any]] = asyncio.Queue(maxsize=max(1, s.pipeline_depth))
        processor = asyncio.ensure_future(self._process_batches(stream, queue))
        try:
            async for events in stream.noack_take(s.batch_size, within=s.batch_within):
                if processor.done():
                    processor.result()  # surfaces a crash of the processing task
                await queue.put(list(events))
        finally:
            processor.cancel()  # shutdown or rebalance: whatever is queued is not acked, so it is replayed

    async def _process_batches(self, stream: faust.StreamT, queue: asyncio.Queue[list[Any]]) -> None:
        while True:
            events = await queue.get()
            try:
                await self.handle_batch(events)
            except asyncio.CancelledError:
                raise
            except BaseException:  # noqa: BLE001
                log.critical("batch of %d events failed; exiting without acknowledging it (it will be replayed)",
                             len(events), exc_info=True)
                logging.shutdown()
                os._exit(EXIT_BATCH_FAILED)
            last: dict[int, int] = {}
            for ev in events:
                await stream.ack(ev)
                last[ev.message.partition] = ev.message.offset
            for partition, offset in last.items():
                self.lag.finished(partition, offset)

    async def handle_batch(self, events: Sequence[Any]) -> None:
        t0 = time.perf_counter()
        records = [Record(m.value, m.key, m.topic, m.partition, m.offset) for m in (ev.message for ev in events)]
        outcome = self.step.evaluate(records)
        pending = []
        if self.by_key is not None and outcome.forwards:
            # Sent first: they need nothing from the store, and must be on the broker
            # before this partition's next watermark promises they are.
            records = forward_records(outcome.forwards, self.partitions, written=self.keyed.written)
            pending += await self._send_all(self.by_key, records)
            self.metrics.forwarded.inc(len(outcome.forwards))
        stored = await self._store(outcome, len(events))
        for s in stored:
            pub = publication(s)
            pending.append(await self._send(self.settings.alerts_topic, pub.key, pub.value, headers=pub.headers))
        for dl in outcome.dead_letters:
            pending.append(await self._send(self.settings.dead_letter_topic, dl.key, dl.value))
        if pending:
            await asyncio.gather(*pending)  # every record acknowledged by the broker
        if self.state is not None:
            await self._send_changelog(self.state.flush())
        for partition, ts in outcome.partition_ts.items():
            if partition in self._owned and ts > self._latest.get(partition, float("-inf")):
                self._latest[partition] = ts
                if self.by_key is not None:
                    # Not awaited: a lost watermark costs only delay (the timer repeats it).
                    await self._send_watermark(partition, idle=False)
            self._idle.discard(partition)
        self._update_low_watermark()
        self.metrics.batch_seconds.observe(time.perf_counter() - t0)

    def _update_low_watermark(self) -> None:
        """Rules run in place expire state by the busy partition furthest behind: one
        partition read ahead of the others must not expire what their events need."""
        busy = [self._latest.get(p, float("-inf")) for p in self._owned if p not in self._idle]
        if busy:
            self.engine.set_low_watermark(min(busy))
        elif self._latest:
            self.engine.set_low_watermark(max(self._latest.values()))

    # --- the repartition stage ------------------------------------------------------

    async def _consume_keyed(self, stream: faust.StreamT) -> None:
        s = self.settings
        keyed = self.keyed
        order = self.ack_order
        async for events in stream.noack_take(s.batch_size, within=s.batch_within):
            ack_now = self._accept_keyed(events)
            events = []  # noqa: PLW2901 - held records must be collectable when a rebalance lets go of them
            released = keyed.release()
            if released:
                try:
                    await self.handle_keyed(released)
                except asyncio.CancelledError:
                    raise
                except BaseException:  # noqa: BLE001
                    log.critical("%d forwarded events failed; exiting without acknowledging them "
                                 "(they will be replayed)", len(released), exc_info=True)
                    logging.shutdown()
                    os._exit(EXIT_BATCH_FAILED)
            for handle in keyed.finished(released):
                ack_now += order.done(handle.message.partition, handle)
            for ev in ack_now:
                await stream.ack(ev)
            self.metrics.reorder_held.set(len(keyed))
            if keyed.late:
                self.metrics.forwards_late.inc(keyed.late)
                keyed.late = 0

    def _accept_keyed(self, events: Sequence[Any]) -> list[Any]:
        """Hand records to stage 2; returns those that may be acknowledged now."""
        ack_now: list[Any] = []
        for ev in events:
            partition = ev.message.partition
            self.ack_order.read(partition, ev)
            if self.keyed.accept(partition, ev.message.value, ev) is not None:
                ack_now += self.ack_order.done(partition, ev)
        return ack_now

    async def handle_keyed(self, released: Sequence[Held[Any]]) -> None:
        """Observe released forwards; store, publish and changelog what they caused."""
        t0 = time.perf_counter()
        collector = AlertCollector()
        event_ts: list[float] = []
        state = self.state
        assert state is not None
        state.sync()  # what a rebalance's recovery restored, before any forward reads it
        self.engine.set_low_watermark(self.keyed.low_watermark(), forwarded=True)
        try:
            state.writer = "keyed"
            for held in released:
                state.partition = held.partition
                alerts = self.engine.observe_forwards(held.record.forwards)  # they share one event
                if alerts:
                    collector.add(alerts)
                    event_ts.extend([held.record.event.epoch] * len(alerts))
        finally:
            state.writer = ""
        outcome = BatchOutcome(alerts=collector.alerts(), event_ts=event_ts)
        stored = await self._store(outcome, len(released))
        pending = []
        for st in stored:
            pub = publication(st)
            pending.append(await self._send(self.settings.alerts_topic, pub.key, pub.value, headers=pub.headers))
        if pending:
            await asyncio.gather(*pending)
        await self._send_changelog(state.flush("keyed"))
        self.metrics.batch_seconds.observe(time.perf_counter() - t0)

    async def _send_watermark(self, partition: int, idle: bool) -> None:
        assert self.by_key is not None
        records = watermark_records(partition, self._latest.get(partition, float("-inf")), idle, self.partitions)
        await self._send_all(self.by_key, records)

    async def _send_watermarks(self) -> None:
        """Repeat every owned firehose partition's watermark (a restarted stage 2 needs
        them), marking idle those whose every record is acknowledged."""
        if self.app.rebalancing:
            return
        try:
            consumer = self.app.consumer
            assignment = [tp for tp in consumer.assignment() if tp.topic == self.settings.events_topic]
        except Exception:  # noqa: BLE001 - consumer not started yet
            return
        committed = getattr(consumer, "_committed_offset", {})
        now = time.monotonic()
        for tp in assignment:
            hw = consumer.highwater(tp)
            done = self.lag.done.get(tp.partition)
            if done is None:
                done = committed.get(tp)
            caught_up = hw is not None and done is not None and done >= hw
            # Idle only after a quiet spell: caught up for a moment (the producer still
            # writing) is not idle, and idle lets the other partitions run ahead of it.
            seen = self._quiet_since.get(tp.partition)
            if not caught_up or seen is None or seen[0] != done:
                self._quiet_since[tp.partition] = (done, now)
                idle = False
            else:
                idle = now - seen[1] >= self.settings.idle_after
            if idle:
                self._idle.add(tp.partition)
            else:
                self._idle.discard(tp.partition)
            await self._send_watermark(tp.partition, idle)
        self._update_low_watermark()

    def _let_go_of_held(self) -> None:
        dropped = self.keyed.drop_held()
        self.ack_order.forget()
        if dropped:
            log.info("rebalance: let go of %d held forwarded records (they are read again)", dropped)
        self.metrics.reorder_held.set(len(self.keyed))

    async def _store(self, outcome: BatchOutcome, events: int) -> list[StoredAlert]:
        if not outcome.alerts:
            return self.step.store(outcome)
        return await self.guard.write(lambda: self.step.store(outcome), events)

    async def _send(self, topic: str, key: bytes | None, value: bytes | None, *, partition: int | None = None,
                    headers: list[tuple[str, bytes]] | None = None) -> Any:
        """Hand a record to the producer; returns the delivery future. Straight to the
        transport producer: Faust's Topic.send adds a channel, schema and callbacks per
        record, which cost more than the engine for a state-heavy batch."""
        return await self.app.producer.send(topic, key, value, partition, None, headers)

    async def _send_all(self, topic: str, records: Sequence[OutRecord]) -> list[Any]:
        """Hand records for explicit partitions to the producer as record batches (see
        `outbox.py`); returns the delivery futures, one per record batch."""
        if not records:
            return []
        return await send_records(kafka_producer(self.app.producer), topic, records)

    async def _send_changelog(self, records: Sequence[OutRecord]) -> None:
        """Send a batch's state changes and wait for the broker. Only once its alerts and
        dead letters are on the broker: state that already holds the batch's events makes
        a replay after a crash regenerate nothing, so a publication lost in that crash
        would stay lost (the crash test saw it once in 13 runs while both were in flight)."""
        if records:
            await asyncio.gather(*await self._send_all(self._changelog, records))

    def _internal_alert(self, alert: Alert) -> None:
        """An alert about flockwatch itself (a refused rule reload), raised on the rule
        watcher's thread: stored like any other, then published from the event loop."""
        stored = self.store.upsert([alert])
        self.notifier.enqueue(stored)
        for s in stored:
            if s.changed:
                self.metrics.alerts_stored.labels(s.alert.category, s.alert.severity).inc()
        try:
            loop = self.app.loop
            for s in stored:
                pub = publication(s)
                asyncio.run_coroutine_threadsafe(
                    self._send(self.settings.alerts_topic, pub.key, pub.value, headers=pub.headers), loop)
        except Exception:  # noqa: BLE001 - it is stored and logged; the topic copy is best effort
            log.warning("could not publish internal alert %s", alert.rule_id, exc_info=True)

    def _ping_store(self) -> None:
        def ping() -> None:
            with self.store.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        self.guard.check(ping)

    # --- signals and timers -----------------------------------------------------------

    async def _on_revoked(self, app: faust.App, revoked: set[Any], **_: Any) -> None:
        self.health.assigned = False  # a rebalance started (Kafka revokes everything, then reassigns)

    async def _on_assigned(self, app: faust.App, assigned: set[Any], **_: Any) -> None:
        owned = {tp.partition for tp in assigned if tp.topic == self.settings.events_topic}
        moved, self._owned = self._owned - owned, owned
        if self.by_key is not None:
            reading = {tp.partition for tp in assigned if tp.topic == self.by_key}
            self.keyed.drop_held(keep_partitions=reading)
            self.ack_order.forget(keep_partitions=reading)
            self.keyed.written.partitions = reading
        if not moved:
            return
        for p in moved:
            self._latest.pop(p, None)
            self._quiet_since.pop(p, None)
            self._idle.discard(p)
        self.lag.forget(moved)
        if self.state is not None:
            # Only partitions that really left: Faust does not re-read the changelog of
            # partitions a worker keeps, and restores any that come back from it.
            dropped = self.state.drop_partitions(moved)
            log.warning("partitions %s moved to another worker: forgot %d state keys", sorted(moved), dropped)

    async def _on_rebalance_complete(self, app: faust.App, **_: Any) -> None:
        self.health.assigned = True

    async def _tick(self) -> None:
        self.health.tick()
        if self.rules is not None:
            self.health.rules_loaded = len(self.rules.rules)  # a reload may change it
        if not self._ready_logged:
            ok, _ = await asyncio.to_thread(self.health.ready)
            if ok and self.health.ready_at is not None:
                self._ready_logged = True
                log.warning("worker ready %.2f s after start (group %s, %d partitions of %s)",
                            self.health.ready_at - self.health.started, self.settings.group,
                            len([tp for tp in self.app.consumer.assignment()
                                 if tp.topic == self.settings.events_topic]),
                            self.settings.events_topic)
        if self.app.rebalancing:
            return
        try:
            await self.lag.update(self.app.consumer)
        except Exception:  # noqa: BLE001 - consumer not started or mid-rebalance
            log.debug("lag update failed", exc_info=True)
