"""Offsets and read-back without joining a consumer group.

kafka-python consumer *groups* hang on Tansu, so everything here uses manual
`assign()`; committed offsets are read with OffsetFetch, which needs no membership.

Tansu 0.6 answers ListOffsets(LATEST) with the base offset of the last record batch
plus one, not the high watermark. Fetch responses carry the true high watermark, so
`end_offsets` fetches one record near the end of each partition and reads it there.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord


def _consumer(bootstrap: str, **kw: object) -> KafkaConsumer:
    return KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **kw)


def _partitions(c: KafkaConsumer, topic: str, timeout: float = 10.0) -> list[int]:
    """Partitions of `topic`. A fresh client may not have the topic's metadata yet and
    then answers None: ask again (an empty answer must never read as "no partitions",
    or an unread topic would look drained)."""
    deadline = time.monotonic() + timeout
    while True:
        parts = c.partitions_for_topic(topic)
        if parts:
            return sorted(parts)
        if time.monotonic() > deadline:
            raise LookupError(f"topic {topic!r} has no partitions (does it exist?)")
        c.topics()  # forces a metadata refresh
        time.sleep(0.05)


def partitions(bootstrap: str, topic: str) -> list[int]:
    c = _consumer(bootstrap)
    try:
        return _partitions(c, topic)
    finally:
        c.close()


def end_offsets(bootstrap: str, topic: str, timeout: float = 5.0) -> dict[int, int]:
    """True high watermark of every partition of `topic`."""
    c = _consumer(bootstrap)
    try:
        parts = _partitions(c, topic)
    finally:
        c.close()
    found = partition_end_offsets(bootstrap, [(topic, p) for p in parts], timeout)
    return {p: found[(topic, p)] for p in parts}


def partition_end_offsets(bootstrap: str, partitions: Sequence[tuple[str, int]],
                          timeout: float = 5.0) -> dict[tuple[str, int], int]:
    """True high watermark of each (topic, partition), read from fetch responses."""
    c = _consumer(bootstrap, max_partition_fetch_bytes=64 * 1024)
    try:
        tps = [TopicPartition(t, p) for t, p in partitions]
        listed = c.end_offsets(tps) if tps else {}
        out: dict[tuple[str, int], int] = {}
        for tp in tps:
            if not listed.get(tp):
                out[(tp.topic, tp.partition)] = 0  # empty partition
                continue
            c.assign([tp])
            c.seek(tp, listed[tp] - 1)  # inside the last batch: the fetch returns data and the watermark
            deadline = time.monotonic() + timeout
            while c.highwater(tp) is None and time.monotonic() < deadline:
                c.poll(timeout_ms=200, max_records=1)
            hw = c.highwater(tp)
            if hw is None:
                raise TimeoutError(f"no fetch response for {tp.topic}/{tp.partition} within {timeout} s")
            out[(tp.topic, tp.partition)] = hw
        return out
    finally:
        c.close()


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset (next offset to read) per partition; 0 if none."""
    c = _consumer(bootstrap, group_id=group)
    try:
        return {p: c.committed(TopicPartition(topic, p)) or 0 for p in _partitions(c, topic)}
    finally:
        c.close()


def group_lag(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    ends = end_offsets(bootstrap, topic)
    done = committed_offsets(bootstrap, group, topic)
    return {p: max(0, ends[p] - done.get(p, 0)) for p in ends}


def wait_drained(bootstrap: str, group: str, topic: str, timeout: float, poll: float = 0.3,
                 keep_waiting: Callable[[], bool] | None = None) -> bool:
    """Wait until `group` has committed everything currently in `topic`.

    The end offsets are read once: a caller that stops producing first gets a stable
    target. `keep_waiting` (e.g. "the worker process is alive") can end the wait early."""
    ends = end_offsets(bootstrap, topic)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if keep_waiting is not None and not keep_waiting():
            return False
        done = committed_offsets(bootstrap, group, topic)
        if all(done.get(p, 0) >= end for p, end in ends.items()):
            return True
        time.sleep(poll)
    return False


def read_topic(bootstrap: str, topic: str, timeout: float = 5.0) -> list[ConsumerRecord]:
    """Every record currently in `topic`, partition by partition (in offset order within one)."""
    ends = end_offsets(bootstrap, topic)
    c = _consumer(bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in ends if ends[p] > 0]
        if not tps:
            return []
        c.assign(tps)
        c.seek_to_beginning(*tps)
        records: list[ConsumerRecord] = []
        remaining = {tp: ends[tp.partition] for tp in tps}
        deadline = time.monotonic() + timeout
        while remaining and time.monotonic() < deadline:
            for tp, batch in c.poll(timeout_ms=200).items():
                records.extend(batch)
                if c.position(tp) >= remaining.get(tp, 0):
                    remaining.pop(tp, None)
        if remaining:
            raise TimeoutError(f"read_topic({topic}) did not reach the end of {sorted(t.partition for t in remaining)}")
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        c.close()
