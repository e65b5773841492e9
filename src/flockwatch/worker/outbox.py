"""Many records to explicit partitions, sent as whole Kafka record batches.

A batch of text events changes about ten state keys per event (near-duplicate LSH puts
each text in ten buckets), so the changelog gets thousands of records per batch.
Through `producer.send` each record costs a coroutine, metadata and size checks and
an asyncio future resolved by its own callback: that was about a tenth of the
worker's CPU. Here the records of one partition are appended to aiokafka record batch
builders (C code) and each full builder is submitted with `send_batch`: one future per
record batch, awaited like the per-record ones before the Kafka batch is acknowledged.

Order: aiokafka keeps one queue of record batches per partition and one request in
flight per broker, so records reach a partition in the order they were added here,
and after everything sent to it before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

OutRecord = tuple[int, bytes | None, bytes | None]  # partition, key, value (None: tombstone)


def kafka_producer(faust_producer: Any) -> Any:
    """The aiokafka producer under Faust's producer, with the batch API checked."""
    producer = faust_producer._ensure_producer()
    if not (hasattr(producer, "create_batch") and hasattr(producer, "send_batch")):
        raise RuntimeError(f"{type(producer).__name__} has no create_batch/send_batch (aiokafka changed?)")
    return producer


async def send_records(producer: Any, topic: str, records: Iterable[OutRecord]) -> list[asyncio.Future[Any]]:
    """Queue `records` on `producer` (aiokafka) as record batches, one partition at a
    time in the order given; returns the futures of their delivery."""
    builders: dict[int, Any] = {}
    futures: list[asyncio.Future[Any]] = []
    for partition, key, value in records:
        builder = builders.get(partition)
        if builder is None:
            builder = builders[partition] = producer.create_batch()
        if builder.append(timestamp=None, key=key, value=value) is None:  # full (never the first record)
            futures.append(await _submit(producer, builder, topic, partition))
            builder = builders[partition] = producer.create_batch()
            builder.append(timestamp=None, key=key, value=value)
    for partition, builder in builders.items():
        futures.append(await _submit(producer, builder, topic, partition))
    return futures


async def _submit(producer: Any, builder: Any, topic: str, partition: int) -> asyncio.Future[Any]:
    # Closed: complete, so the sender takes it at once instead of letting it linger
    # (and the next batch for the partition, which waits for this one, waits less).
    builder.close()
    return await producer.send_batch(builder, topic, partition=partition)
