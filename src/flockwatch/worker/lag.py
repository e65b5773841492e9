"""Consumer lag per partition: messages between what this worker has finished and the
partition's high watermark (`flockwatch_consumer_lag{topic,partition}`).

The high watermark comes from the consumer's cached fetch responses (no broker round
trip; also the only correct source on Tansu, whose ListOffsets is off). "Finished" is
the next offset after the last batch this worker acknowledged, which is at least as
fresh as the committed offset; before the first batch of a partition, the committed
offset (Faust's bookkeeping), then the fetch position.
"""

from __future__ import annotations

import logging
from typing import Any

from flockwatch.metrics.registry import Metrics

log = logging.getLogger(__name__)


class LagTracker:
    def __init__(self, metrics: Metrics, topic: str):
        self.metrics = metrics
        self.topic = topic
        self.done: dict[int, int] = {}  # partition -> next offset after the last acked record
        self._shown: set[int] = set()

    def finished(self, partition: int, offset: int) -> None:
        if offset + 1 > self.done.get(partition, -1):
            self.done[partition] = offset + 1

    def forget(self, partitions: set[int]) -> None:
        """Partitions moved to another worker: drop their series (that worker reports them)."""
        for p in partitions:
            self.done.pop(p, None)
            if p in self._shown:
                self._shown.discard(p)
                self.metrics.consumer_lag.remove(self.topic, str(p))

    async def update(self, consumer: Any) -> dict[int, int]:
        out: dict[int, int] = {}
        for tp in consumer.assignment():
            if tp.topic != self.topic:
                continue
            hw = consumer.highwater(tp)
            if hw is None:
                continue  # no fetch response yet
            base = self.done.get(tp.partition)
            if base is None:
                base = getattr(consumer, "_committed_offset", {}).get(tp)
            if base is None:
                base = await consumer.position(tp)
            if base is None:
                continue
            out[tp.partition] = lag = max(0, hw - base)
            self.metrics.consumer_lag.labels(self.topic, str(tp.partition)).set(lag)
            self._shown.add(tp.partition)
        return out
