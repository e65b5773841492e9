"""Load JSONL into a Kafka topic, one record per line, keyed by `agent_id`.

Keying by agent keeps each agent's events in order on one partition, which is what
per-agent stateful rules (rate limits, loops) rely on.

Two modes:
- validated (default): each line is decoded as a canonical event first; lines that
  are not events are reported with their line number and NOT sent. A user loading a
  file into a shared firehose expects flockwatch not to pollute it.
- raw: every non-blank line is sent as-is (the key is `agent_id` when the line is a
  JSON object that has one). For replaying foreign firehose dumps, and for tests
  that inject poison messages on purpose; the worker dead-letters them.

In both modes lines are read like `scan` and `import` read them (`ingest.jsonl.numbered_lines`):
a line over 4 MiB is counted and reported as `too_large`, never read whole and never
sent, and a UTF-8 byte order mark on line 1 is dropped.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import BinaryIO

from kafka import KafkaProducer
from kafka.errors import KafkaError

from flockwatch.ingest.decode import DecodeFailure, decode_event
from flockwatch.ingest.jsonl import MAX_LINE_BYTES, numbered_lines

MAX_REPORTED = 20  # bad lines echoed individually; the rest are counted

# Throughput settings: bigger batches and a short linger cut per-request overhead.
# kafka-python's defaults already give idempotent, acks=all delivery, so retries
# cannot reorder one agent's events.
PRODUCER_SETTINGS: dict[str, object] = {
    "linger_ms": 10,
    "batch_size": 512 * 1024,
    "max_request_size": MAX_LINE_BYTES,
}


@dataclass
class ProduceReport:
    lines: int = 0
    sent: int = 0
    invalid: int = 0
    failed: int = 0  # records the broker did not accept
    invalid_by_reason: Counter[str] = field(default_factory=Counter)
    bad_lines: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def make_producer(bootstrap: str, **overrides: object) -> KafkaProducer:
    return KafkaProducer(bootstrap_servers=bootstrap, client_id="flockwatch-produce",
                         **{**PRODUCER_SETTINGS, **overrides})


def raw_key(line: bytes) -> bytes | None:
    """`agent_id` of a JSON object line, if it has a string one; else None (any partition)."""
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    agent = obj.get("agent_id") if isinstance(obj, dict) else None
    return agent.encode() if isinstance(agent, str) and agent else None


def produce_lines(
    stream: BinaryIO,
    producer: KafkaProducer,
    topic: str,
    *,
    raw: bool = False,
    source_name: str = "-",
    flush_timeout: float = 60.0,
) -> ProduceReport:
    """Send every line; return once the broker acknowledged (or refused) all of them."""
    report = ProduceReport()

    def on_error(exc: BaseException) -> None:
        report.failed += 1
        if len(report.errors) < MAX_REPORTED:
            report.errors.append(f"{type(exc).__name__}: {exc}")

    def invalid(n: int, failure: DecodeFailure) -> None:
        report.invalid += 1
        report.invalid_by_reason[failure.reason] += 1
        if len(report.bad_lines) < MAX_REPORTED:
            report.bad_lines.append(f"{source_name}:{n}: {failure.reason}: {failure.message}")

    t0 = time.perf_counter()
    for n, line in numbered_lines(stream):
        report.lines += 1
        if type(line) is DecodeFailure:  # too_large: skipped unread, in --raw mode too
            invalid(n, line)
            continue
        if raw:
            key = raw_key(line)
        else:
            decoded = decode_event(line)
            if isinstance(decoded, DecodeFailure):
                invalid(n, decoded)
                continue
            key = decoded.agent_id.encode()
        try:
            producer.send(topic, key=key, value=line).add_errback(on_error)
        except KafkaError as exc:  # refused before sending (too large, no metadata)
            on_error(exc)
        report.sent += 1
    producer.flush(timeout=flush_timeout)
    report.sent -= report.failed
    report.seconds = time.perf_counter() - t0
    return report
