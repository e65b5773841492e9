"""Stage 2 without Kafka: it takes back the records its own process forwarded instead
of parsing them (and gets what parsing gives), and acknowledges in read order."""

from __future__ import annotations

import json

from flockwatch.detect.repartition import Forward
from flockwatch.ingest.decode import decode_event
from flockwatch.worker.repartition import AckOrder, ForwardRecord, KeyedStage, WrittenRecords, decode, forward_records


def _forwards(n: int) -> list[tuple[int, Forward]]:
    out = []
    for i in range(n):
        ev = decode_event(json.dumps({"event_id": f"e{i:03d}", "type": "post", "agent_id": f"a{i}",
                                      "ts": f"2026-01-01T00:00:{i % 60:02d}+00:00", "text": f"text {i}",
                                      "attrs": {"lang": "en"}}).encode())
        for rule in ("cascades.link_wave", "cascades.near_duplicate_spam"):
            out.append((i % 3, Forward(rule, f"{rule[-4:]}{i % 7}", ev, [{"field": "text", "match": str(i)}])))
    return out


def _shape(records: list[ForwardRecord]) -> list[object]:
    return [(r.source, r.event.model_dump(), [(f.rule_id, f.key, f.event.event_id, f.evidence) for f in r.forwards])
            for r in records]


def test_a_written_record_is_taken_back_as_what_its_bytes_say() -> None:
    fwd = _forwards(40)
    written = WrittenRecords()
    records = forward_records(fwd, 4, max_bytes=1500, written=written)
    assert len(records) > 4 and len(written) == len(records)  # split records are remembered one by one
    for rec in records:
        parsed = decode(rec.value)
        taken = decode(rec.value, written)
        assert isinstance(parsed, list) and isinstance(taken, list)
        assert _shape(taken) == _shape(parsed)
        assert all(f in [f for _, f in fwd] for r in taken for f in r.forwards)  # the very objects forwarded
        assert decode(rec.value, written) is not taken  # taken once; a replayed copy is parsed
    assert len(written) == 0


def test_stage_two_takes_back_only_its_partitions_and_forgets_the_oldest() -> None:
    written = WrittenRecords()
    written.partitions = {1}
    stage: KeyedStage[str] = KeyedStage(3)
    stage.written = written
    records = forward_records(_forwards(30), 4, written=written)
    assert len(written) == 1
    mine = next(r for r in records if r.partition == 1)
    assert stage.accept(1, mine.value, "h") is None  # held, not acknowledged
    assert len(written) == 0

    small = WrittenRecords(max_bytes=2 * max(len(r.value) for r in records))
    for r in records:
        small.remember(r.partition, r.value, [])
    assert 0 < len(small) <= 2
    assert small.take(records[-1].value) == [] and small.take(records[0].value) is None


def test_acknowledgements_never_pass_a_record_still_held() -> None:
    """Faust commits past a one-record gap, so a watermark read after a held record
    must not be acknowledged before it."""
    order: AckOrder[str] = AckOrder()
    for handle in ("held", "wm1", "wm2"):
        order.read(0, handle)
    order.read(1, "other")
    assert order.done(0, "wm1") == [] and order.done(0, "wm2") == []
    assert order.done(1, "other") == ["other"]  # partitions are independent
    assert order.done(0, "held") == ["held", "wm1", "wm2"]
    assert len(order) == 0

    order.read(0, "a")
    order.read(0, "b")
    order.forget()  # a rebalance: everything is read again
    assert order.done(0, "b") == [] and order.done(0, "a") == [] and len(order) == 0


def test_acknowledgements_come_back_in_read_order_however_they_finish() -> None:
    order: AckOrder[object] = AckOrder()
    handles = [object() for _ in range(5000)]
    for h in handles:
        order.read(3, h)
    released: list[object] = []
    for h in reversed(handles[1:]):
        released += order.done(3, h)
    assert released == [] and len(order) == len(handles)
    assert order.done(3, handles[0]) == handles
    assert order.done(3, handles[0]) == [] and len(order) == 0  # done twice: nothing more
