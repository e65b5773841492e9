"""Worker settings. Most have a CLI option and a FLOCKWATCH_* environment variable
(`flockwatch worker --help`, docs/worker.md); the Kafka group timings other than the
session timeout and the pipeline depth are tuned defaults without one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from flockwatch.kafka.topics import ALERTS_TOPIC, DEAD_LETTER_TOPIC, DEFAULT_PARTITIONS, EVENTS_TOPIC

DEFAULT_GROUP = "flockwatch-worker"
DEFAULT_METRICS_PORT = 9108


@dataclass(frozen=True)
class WorkerSettings:
    broker: str = "127.0.0.1:9092"
    group: str = DEFAULT_GROUP  # Kafka consumer group id = Faust app id
    events_topic: str = EVENTS_TOPIC
    alerts_topic: str = ALERTS_TOPIC
    dead_letter_topic: str = DEAD_LETTER_TOPIC
    partitions: int = DEFAULT_PARTITIONS  # only used to create a missing events topic
    database_url: str | None = None  # None: FLOCKWATCH_DATABASE_URL or the SQLite default
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = DEFAULT_METRICS_PORT  # None: no HTTP server; 0: any free port
    batch_size: int = 1000  # events per batch (one DB transaction, one ack)
    batch_within: float = 0.2  # seconds a partial batch may wait for more events
    fetch_max_wait: float = 0.1  # seconds a fetch may wait for data (Faust hard-codes 1.5)
    pipeline_depth: int = 2  # batches taken ahead while one is being stored (still processed in order)
    session_timeout: float = 6.0  # a dead worker's partitions move after this long
    heartbeat_interval: float = 1.0
    rebalance_timeout: float = 5.0
    commit_interval: float = 1.0  # acked offsets are committed this often
    store_retry_seconds: float = 0.0  # retry an unreachable store this long, then exit 70; 0 = until it is back
    lag_interval: float = 1.0  # seconds between consumer lag updates
    watermark_interval: float = 0.5  # seconds between repeated repartition watermarks
    idle_after: float = 2.0  # seconds a caught-up firehose partition stays quiet before it is idle
    data_dir: Path = Path("var/worker")  # Faust's local data directory

    @property
    def broker_url(self) -> str:
        """Faust wants kafka:// URLs; accept plain host:port[,host:port] like every other command."""
        return ";".join(h if "://" in h else f"kafka://{h}" for h in self.broker.split(",") if h)
