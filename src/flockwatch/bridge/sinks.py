"""Where events go: a Kafka topic (kafka-python, acks=all) or a canonical JSONL file.

Exactly-once across a crash needs each sink to answer one question at restart:
"of these event ids, which did you durably receive after position P?"
(`position()` is taken before a batch is sent, `landed()` asks after a crash).
- Kafka: read the topic from P to its end and collect event ids.
- JSONL file: truncate back to P (nothing of the batch counts as written).
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from collections.abc import Iterable
from typing import Any, BinaryIO, Protocol

from flockwatch.bridge.mapping import Mapped

log = logging.getLogger(__name__)

KEY_BY = ("agent", "post")


class SinkError(Exception):
    pass


class EventSink(Protocol):
    def send(self, item: Mapped) -> None: ...
    def send_raw(self, data: bytes, agent_id: str, post_id: str | None) -> None: ...
    def flush(self) -> None: ...
    def position(self) -> dict[str, Any]: ...
    def landed(self, position: dict[str, Any], keys: Iterable[str]) -> set[str]: ...
    def close(self) -> None: ...


class DeadLetterSink(Protocol):
    def send_record(self, record: dict[str, Any]) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class JsonlSink:
    """Canonical JSONL to a file (appending) or to stdout (`-`)."""

    def __init__(self, path: str, *, append: bool = True):
        self.path = path
        self._stdout = path == "-"
        if self._stdout:
            self._out: BinaryIO = sys.stdout.buffer
        else:
            self._out = open(path, "ab" if append else "wb")  # noqa: SIM115
        self._buf: list[bytes] = []

    def send(self, item: Mapped) -> None:
        self.write_line(item.data)

    def send_raw(self, data: bytes, agent_id: str, post_id: str | None) -> None:
        self.write_line(data)

    def write_line(self, line: bytes) -> None:
        self._buf.append(line)
        if len(self._buf) >= 4096:
            self._drain()

    def _drain(self) -> None:
        if self._buf:
            self._buf.append(b"")
            self._out.write(b"\n".join(self._buf))
            self._buf.clear()

    def flush(self) -> None:
        self._drain()
        self._out.flush()
        if not self._stdout:
            os.fsync(self._out.fileno())

    def position(self) -> dict[str, Any]:
        if self._stdout:
            return {}
        self.flush()
        return {"size": self._out.tell()}

    def landed(self, position: dict[str, Any], keys: Iterable[str]) -> set[str]:
        if self._stdout or "size" not in position:
            return set()  # a pipe cannot be rewound: the batch may be repeated on stdout
        self._buf.clear()
        self._out.flush()
        self._out.truncate(position["size"])
        self._out.seek(0, io.SEEK_END)
        return set()

    def close(self) -> None:
        self.flush()
        if not self._stdout:
            self._out.close()


class JsonlDeadLetters:
    def __init__(self, path: str):
        self._sink = JsonlSink(path)

    def send_record(self, record: dict[str, Any]) -> None:
        self._sink.write_line(json.dumps(record, ensure_ascii=False).encode())

    def flush(self) -> None:
        self._sink.flush()

    def close(self) -> None:
        self._sink.close()


def _producer(bootstrap: str, **config: Any) -> Any:
    from kafka import KafkaProducer

    return KafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=20, retries=5,
        max_in_flight_requests_per_connection=1,  # keep per-key order through retries
        **config,
    )


class KafkaSink:
    """Produce canonical events to `topic`, keyed by agent id (default) or post id so
    that everything one detector keys state on lands on one partition."""

    def __init__(self, bootstrap: str, topic: str, *, key_by: str = "agent", partitions: int = 1,
                 producer_config: dict[str, Any] | None = None):
        if key_by not in KEY_BY:
            raise ValueError(f"key_by must be one of {KEY_BY}")
        self.bootstrap = bootstrap
        self.topic = topic
        self.key_by = key_by
        self._producer = _producer(bootstrap, **(producer_config or {}))
        self._futures: list[Any] = []
        self._consumer: Any = None
        ensure_topic(bootstrap, topic, partitions)

    def send(self, item: Mapped) -> None:
        self.send_raw(item.data, item.event.agent_id, item.event.post_id)

    def send_raw(self, data: bytes, agent_id: str, post_id: str | None) -> None:
        key = post_id if self.key_by == "post" and post_id else agent_id
        self._futures.append(self._producer.send(self.topic, key=key.encode(), value=data))

    def flush(self) -> None:
        self._producer.flush()
        futures, self._futures = self._futures, []
        for f in futures:
            try:
                f.get(timeout=0)
            except Exception as exc:  # noqa: BLE001 - any produce failure fails the batch
                raise SinkError(f"produce to {self.topic} failed: {exc}") from exc

    def _reader(self) -> Any:
        if self._consumer is None:
            from kafka import KafkaConsumer

            # No group: consumer groups are not needed to read a range, and manual
            # assignment works on every broker.
            self._consumer = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                           group_id=None, consumer_timeout_ms=1000)
        return self._consumer

    def _partitions(self) -> list[Any]:
        from kafka import TopicPartition

        consumer = self._reader()
        parts = consumer.partitions_for_topic(self.topic) or set()
        return [TopicPartition(self.topic, p) for p in sorted(parts)]

    def position(self) -> dict[str, Any]:
        parts = self._partitions()
        ends = self._reader().end_offsets(parts) if parts else {}
        return {"offsets": {str(tp.partition): off for tp, off in ends.items()}}

    def landed(self, position: dict[str, Any], keys: Iterable[str]) -> set[str]:
        wanted = set(keys)
        consumer = self._reader()
        parts = self._partitions()
        if not parts or not wanted:
            return set()
        start = {int(p): o for p, o in position.get("offsets", {}).items()}
        ends = consumer.end_offsets(parts)
        consumer.assign(parts)
        remaining = {}
        for tp in parts:
            begin = start.get(tp.partition, 0)
            if ends[tp] > begin:
                consumer.seek(tp, begin)
                remaining[tp] = ends[tp]
        found: set[str] = set()
        idle = 0
        while remaining and idle < 10:
            batch = consumer.poll(timeout_ms=500)
            if not batch:
                idle += 1
                continue
            idle = 0
            for tp, records in batch.items():
                for rec in records:
                    try:
                        eid = json.loads(rec.value).get("event_id")
                    except (ValueError, AttributeError):
                        continue
                    if eid in wanted:
                        found.add(eid)
                    if rec.offset + 1 >= remaining.get(tp, 0):
                        remaining.pop(tp, None)
        if remaining:
            raise SinkError(f"could not read {self.topic} back to its end while recovering")
        consumer.unsubscribe()
        return found

    def close(self) -> None:
        self._producer.flush()
        self._producer.close()
        if self._consumer is not None:
            self._consumer.close()


class KafkaDeadLetters:
    def __init__(self, bootstrap: str, topic: str):
        self.topic = topic
        self._producer = _producer(bootstrap)
        ensure_topic(bootstrap, topic, 1)

    def send_record(self, record: dict[str, Any]) -> None:
        self._producer.send(self.topic, value=json.dumps(record, ensure_ascii=False).encode())

    def flush(self) -> None:
        self._producer.flush()

    def close(self) -> None:
        self._producer.flush()
        self._producer.close()


def ensure_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Create the topic if it is missing (brokers may not auto-create)."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        if topic not in set(admin.list_topics()):
            try:
                admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()
