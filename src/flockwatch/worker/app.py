"""The Faust app, configured for a worker that must be ready within seconds and keep
up with the firehose.

Startup: on a fresh group, time to first assignment tracks the session timeout (the
group coordinator waits that long for members), so it is kept short; Faust's web
server is off (our endpoints run on a thread), and the memory store avoids RocksDB.
A restart after a crash rejoins once the dead member's session has expired.

Throughput: large polls and fetches feed `noack_take` batches; the commit interval
bounds how much is replayed after a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust
from faust.sensors.monitor import Monitor

from flockwatch.worker.faust_patches import (
    apply_fast_drain,
    apply_fetch_max_wait,
    apply_rewind_uncommitted,
    apply_seek_before_resume,
    apply_true_highwaters,
)
from flockwatch.worker.settings import WorkerSettings


def faust_settings(s: WorkerSettings, partitions: int) -> dict[str, Any]:
    return {
        "broker": s.broker_url,
        "key_serializer": "raw",
        "value_serializer": "raw",
        "datadir": str(s.data_dir),
        "store": "memory://",  # tables are rebuilt from their changelog on start
        "web_enabled": False,
        "consumer_auto_offset_reset": "earliest",  # a new group reads the firehose from the start
        # startup / failover
        "broker_session_timeout": s.session_timeout,
        "broker_heartbeat_interval": s.heartbeat_interval,
        "broker_rebalance_timeout": s.rebalance_timeout,
        "broker_request_timeout": 30.0,
        # throughput
        "broker_max_poll_records": max(2000, s.batch_size),
        "consumer_max_fetch_size": 4 * 1024 * 1024,
        "stream_buffer_maxsize": max(8192, 4 * s.batch_size),
        "broker_commit_interval": s.commit_interval,
        "producer_linger": 0.005,
        # Faust's 16 KiB record batches meant ~100 produce round trips per 1,000 society
        # events (about 7 KB of changelog per event); Kafka's default limit is 1 MiB.
        "producer_max_batch_size": 512 * 1024,
        # tables
        "topic_partitions": partitions,  # table changelogs match the firehose
        "table_standby_replicas": 0,
    }


class RawSchema(faust.Schema):
    """Bytes in, bytes out, without Faust's codec machinery: the engine decodes values
    itself (strictly, into dead letters), so the generic per-message `loads` for key and
    value is pure overhead (~7% of the worker's main thread)."""

    def compile(self, app: Any, *, on_key_decode_error: Any = None, on_value_decode_error: Any = None,
                default_propagate: bool = False) -> Any:
        create_event = app.create_event

        async def decode(message: Any, *, propagate: bool = default_propagate) -> Any:
            return create_event(message.key, message.value, message.headers, message)

        return decode


class QuietMonitor(Monitor):
    """Faust's monitor minus its per-message bookkeeping (it feeds Faust's web stats,
    which the worker does not serve; our metrics live in `flockwatch.metrics`)."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        pass

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        return None

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        pass

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        pass


class WorkerApp(faust.App):
    """Faust's app plus hooks run just before a rebalance or shutdown waits for every
    record read so far to be acknowledged. The repartition stage holds records it may
    not process yet (their watermark has not come), and the watermarks it waits for
    cannot come while the rebalance pauses the consumer: it lets go of them here, and
    Faust (which re-reads every partition from its committed offset after a
    rebalance) reads them again."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.before_wait_empty: list[Callable[[], None]] = []

    async def _consumer_wait_empty(self, consumer: Any, logger: Any) -> None:
        for hook in self.before_wait_empty:
            hook()
        await super()._consumer_wait_empty(consumer, logger)


def create_app(settings: WorkerSettings, partitions: int) -> WorkerApp:
    apply_fast_drain()
    apply_seek_before_resume()
    apply_rewind_uncommitted()
    apply_true_highwaters(settings.broker)
    apply_fetch_max_wait(settings.fetch_max_wait)
    return WorkerApp(settings.group, monitor=QuietMonitor(), **faust_settings(settings, partitions))
