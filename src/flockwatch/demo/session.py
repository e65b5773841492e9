"""What the demo starts, in one place, stopped in reverse order on the way out
(normal end, error or Ctrl-C)."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Any

from flockwatch.embedded.broker import EmbeddedBroker
from flockwatch.kafka.offsets import read_topic
from flockwatch.kafka.producer import ProduceReport, make_producer, produce_lines
from flockwatch.kafka.topics import DEAD_LETTER_TOPIC, DEFAULT_PARTITIONS, EVENTS_TOPIC, ensure_topics
from flockwatch.store.alert_store import AlertStore
from flockwatch.worker.process import WorkerProcess

# One worker on one machine: a short session timeout only shortens the group join.
DEMO_SESSION_TIMEOUT = "2"


class DemoSession:
    def __init__(self, work_dir: Path, say: Callable[[str], None] = print):
        self.work_dir = work_dir
        self.say = say
        self.database_url = f"sqlite:///{work_dir / 'alerts.db'}"
        self.group = f"flockwatch-demo-{uuid.uuid4().hex[:6]}"
        self.broker: str | None = None
        self.worker: WorkerProcess | None = None
        self._stack = ExitStack()

    def __enter__(self) -> DemoSession:
        if self.work_dir.exists():
            shutil.rmtree(self.work_dir)  # every run starts from nothing, like the broker
        self.work_dir.mkdir(parents=True)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stack.close()

    def start_broker(self) -> str:
        broker = EmbeddedBroker(log_path=self.work_dir / "broker.log")
        self.broker = broker.start()
        self._stack.callback(broker.stop)
        ensure_topics(self.broker, {EVENTS_TOPIC: DEFAULT_PARTITIONS})
        return self.broker

    def load(self, lines: Iterable[bytes], source_name: str) -> ProduceReport:
        """Produce lines as-is (raw: the sample's poison lines must reach the worker)."""
        assert self.broker is not None
        producer = make_producer(self.broker)
        try:
            return produce_lines(lines, producer, EVENTS_TOPIC, raw=True, source_name=source_name)
        finally:
            producer.close()

    def start_worker(self, rules: tuple[str, ...] = ()) -> float:
        """Start the worker and wait until it is ready; returns seconds to ready."""
        assert self.broker is not None
        extra: list[str] = ["--session-timeout", DEMO_SESSION_TIMEOUT]
        for r in rules:
            extra += ["--rules", r]
        env = {"PYTHONPATH": os.pathsep.join(p for p in (str(Path(__file__).resolve().parents[2]),
                                                         os.environ.get("PYTHONPATH", "")) if p)}
        self.worker = WorkerProcess(self.broker, group=self.group, topic=EVENTS_TOPIC,
                                    database_url=self.database_url, data_dir=self.work_dir / "faust",
                                    log_path=self.work_dir / "worker.log", extra_args=tuple(extra), env=env)
        self.worker.start()
        self._stack.callback(self.worker.stop)
        return self.worker.wait_ready(timeout=60)

    def wait_drained(self, timeout: float = 120.0) -> bool:
        assert self.worker is not None
        return self.worker.wait_drained(timeout)

    def store(self) -> AlertStore:
        return AlertStore(self.database_url)

    def dead_letters(self) -> list[dict[str, Any]]:
        assert self.broker is not None
        return [json.loads(r.value) for r in read_topic(self.broker, DEAD_LETTER_TOPIC)]
