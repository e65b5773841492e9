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

from typing import Any

import faust

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
        # tables
        "topic_partitions": partitions,  # table changelogs match the firehose
        "table_standby_replicas": 0,
    }


def create_app(settings: WorkerSettings, partitions: int) -> faust.App:
    return faust.App(settings.group, **faust_settings(settings, partitions))
