"""The outbox sends records as whole record batches, in order per partition."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch

from flockwatch.worker.outbox import send_records


class FakeProducer:
    """aiokafka's batch API over real record batch builders of `batch_size` bytes."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self.sent: list[tuple[str, int, list[tuple[bytes | None, bytes | None]]]] = []

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(self.batch_size, 0)

    async def send_batch(self, builder: BatchBuilder, topic: str, *, partition: int) -> asyncio.Future[Any]:
        batch = DefaultRecordBatch(builder._build())
        self.sent.append((topic, partition, [(r.key, r.value) for r in batch]))
        future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


def test_records_go_out_per_partition_in_order_split_when_a_batch_is_full() -> None:
    producer = FakeProducer(batch_size=1024)
    records = [(i % 2, f"k{i}".encode(), b"v" * 300 if i % 2 else None) for i in range(10)]

    futures = asyncio.run(send_records(producer, "changelog", records))

    assert len(futures) == len(producer.sent)
    by_partition: dict[int, list[tuple[bytes | None, bytes | None]]] = {}
    for topic, partition, items in producer.sent:
        assert topic == "changelog"
        by_partition.setdefault(partition, []).extend(items)
    assert by_partition == {p: [(k, v) for q, k, v in records if q == p] for p in (0, 1)}
    # Five ~300-byte values do not fit one 1 KiB batch; five tombstones do.
    assert [len(items) for _, p, items in producer.sent if p == 1] == [3, 2]
    assert [len(items) for _, p, items in producer.sent if p == 0] == [5]


def test_a_record_larger_than_a_batch_goes_alone() -> None:
    producer = FakeProducer(batch_size=100)
    asyncio.run(send_records(producer, "t", [(0, b"a", b"x" * 500), (0, b"b", b"y")]))
    assert [[k for k, _ in items] for _, _, items in producer.sent] == [[b"a"], [b"b"]]
