"""The repartition step without Kafka: stable key routing, the watermark reorder
buffer, the record format, and stage 2 reproducing scan's alerts from records that
arrive interleaved by partition."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from flockwatch.alerts.collector import AlertCollector
from flockwatch.detect.engine import Engine
from flockwatch.detect.repartition import Forward, ReorderBuffer, key_partition
from flockwatch.ingest.decode import decode_event
from flockwatch.pipeline.file_scan import scan_stream
from flockwatch.pipeline.processor import Processor
from flockwatch.rules.loader import load_packs
from flockwatch.worker.repartition import (
    ForwardRecord, KeyedStage, Watermark, decode, forward_records, watermark_records,
)
from support.cli import ROOT


def test_key_partition_is_stable_across_processes() -> None:
    keys = [("cascades.link_wave", f"https://example.org/{i}") for i in range(50)]
    here = [key_partition(r, k, 4) for r, k in keys]
    code = ("import json,sys; from flockwatch.detect.repartition import key_partition; "
            "print(json.dumps([key_partition(r, k, 4) for r, k in json.load(sys.stdin)]))")
    # A fresh interpreter has another string-hash seed: the routing must not depend on it.
    there = json.loads(subprocess.run([sys.executable, "-c", code], input=json.dumps(keys).encode(),
                                      capture_output=True, check=True, env={"PYTHONHASHSEED": "7"}).stdout)
    assert here == there
    assert set(here) == {0, 1, 2, 3}  # and it spreads keys


def test_buffer_holds_until_every_source_has_passed() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(2)
    buf.add(10.0, "b", "b@10")
    buf.add(5.0, "a", "a@5")
    buf.advance(0, 20.0)
    assert buf.release() == []  # source 1 never reported: it may still send anything
    buf.advance(1, 10.0)
    assert buf.release() == ["a@5"]  # 10 waits: source 1 may send another event at 10
    buf.add(10.0, "a", "a@10")
    buf.advance(1, 10.5)
    assert buf.release() == ["a@10", "b@10"]  # ties by event id, not arrival
    assert buf.released_to == 10.0


def test_watermarks_never_go_back_and_idle_sources_do_not_hold_back() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(2)
    buf.advance(0, 30.0)
    buf.advance(0, 12.0)  # a new owner replaying from the last commit
    buf.advance(1, 5.0)
    assert buf.watermark() == 5.0
    buf.advance(1, 5.0, idle=True)
    assert buf.watermark() == 30.0
    buf.advance(0, 30.0, idle=True)
    assert buf.watermark() == math.inf


def test_buffer_drops_replayed_copies_while_held() -> None:
    buf: ReorderBuffer[str] = ReorderBuffer(1)
    assert buf.add(1.0, "x", "first", dedupe="x")
    assert not buf.add(1.0, "x", "replay", dedupe="x")
    assert buf.drain() == ["first"]
    assert buf.add(1.0, "x", "again", dedupe="x")  # released: a later copy is the detector's to dedupe


def simulated(tmp: Path) -> Path:
    out = tmp / "sim.jsonl"
    subprocess.run([sys.executable, "-m", "flockwatch", "simulate", "--seed", "3", "--agents", "120",
                    "--events", "1500", "--incidents", "8", "--out", str(out)], cwd=ROOT, check=True,
                   capture_output=True)
    return out


@pytest.mark.parametrize("per_record", [False, True], ids=["forward by forward", "a record's forwards at once"])
def test_stage_two_on_interleaved_partitions_finds_what_scan_finds(tmp_path: Path, per_record: bool) -> None:
    """Records of 4 firehose partitions, forwarded to 4 repartition partitions and read
    back in an interleaving no single order would give, observed through `KeyedStage`,
    give the forwarded rules exactly the alerts `scan` gives them: observed one forward
    at a time, or (as the worker does) a record's forwards in one call, where a rule's
    keys of one event go to its detector together."""
    path = simulated(tmp_path)
    packs = load_packs([str(ROOT / "rules")])
    scan_engine = Engine(packs, repartition=True)
    with path.open("rb") as f:
        expected = {a.fingerprint: a for a in scan_stream(f, Processor(scan_engine), str(path)).alerts
                    if a.rule_id in scan_engine.forwarded_ids}
    assert {a.rule_id for a in expected.values()} >= {"cascades.near_duplicate_spam", "cascades.reply_ping_pong"}

    stage1 = Engine(load_packs([str(ROOT / "rules")]), repartition=True)
    by_partition: dict[int, list[bytes]] = {q: [] for q in range(4)}
    latest = [-math.inf] * 4
    lines = path.read_bytes().splitlines()
    for n, line in enumerate(lines):
        event = decode_event(line)
        source = hash(event.agent_id) % 4  # any agent -> partition map will do
        stage1.process(event)
        for rec in forward_records([(source, f) for f in stage1.take_forwards()], 4):
            by_partition[rec.partition].append(rec.value)
        latest[source] = event.epoch
        if n % 97 == 0 or n == len(lines) - 1:  # watermarks now and then, as after a batch
            idle = n == len(lines) - 1
            for s in range(4):
                for wm in watermark_records(s, latest[s], idle, 4):
                    by_partition[wm.partition].append(wm.value)

    stage2 = Engine(load_packs([str(ROOT / "rules")]), repartition=True)
    keyed: KeyedStage[int] = KeyedStage(4)
    collector = AlertCollector()
    # Partition 3 read first in large gulps, the others record by record.
    order = [(3, v) for v in by_partition[3]] + [
        (q, v) for row in itertools.zip_longest(*(by_partition[q] for q in range(3))) for q, v in enumerate(row)
        if v is not None]
    for q, value in order:
        keyed.accept(q, value, 0)
        released = keyed.release()
        stage2.set_low_watermark(keyed.low_watermark(), forwarded=True)
        for held in released:
            if per_record:
                collector.add(stage2.observe_forwards(held.record.forwards))
            else:
                for fwd in held.record.forwards:
                    collector.add(stage2.observe_forward(fwd))
    assert len(keyed) == 0 and keyed.late == 0
    got = {a.fingerprint: a for a in collector.alerts()}
    assert {fp: (a.count, sorted(a.agent_ids)) for fp, a in got.items()} == {
        fp: (a.count, sorted(a.agent_ids)) for fp, a in expected.items()}


def test_records_round_trip() -> None:
    packs = load_packs([str(ROOT / "rules")])
    engine = Engine(packs, repartition=True)
    line = json.dumps({"event_id": "e1", "type": "post", "agent_id": "a1", "ts": "2026-01-01T00:00:00+00:00",
                       "text": "check https://example.org/x and https://example.org/y for the airdrop now"})
    engine.process(decode_event(line.encode()))
    forwards = engine.take_forwards()
    assert forwards
    records = forward_records([(2, f) for f in forwards], 4)
    assert len({r.partition for r in records}) == len(records)  # one record per target partition
    decoded = [decode(r.value) for r in records]
    assert all(isinstance(d, list) and all(isinstance(fr, ForwardRecord) and fr.source == 2 for fr in d)
               for d in decoded)
    assert sorted((f.rule_id, f.key) for d in decoded for fr in d for f in fr.forwards) == sorted(  # type: ignore[union-attr]
        (f.rule_id, f.key) for f in forwards)
    assert all(key_partition(f.rule_id, f.key, 4) == r.partition
               for r, d in zip(records, decoded) for fr in d for f in fr.forwards)  # type: ignore[union-attr]
    wm = decode(watermark_records(1, -math.inf, True, 4)[0].value)
    assert wm == Watermark(1, -math.inf, True)


def _forwards_of(n: int) -> list[tuple[int, Forward]]:
    """`n` events, each forwarded for one rule under a key owned by partition 0 of 1."""
    out = []
    for i in range(n):
        ev = decode_event(json.dumps({"event_id": f"e{i:03d}", "type": "post", "agent_id": f"a{i}",
                                      "ts": f"2026-01-01T00:00:{i % 60:02d}+00:00", "text": f"text {i}"}).encode())
        out.append((i % 3, Forward("cascades.link_wave", f"k{i}", ev, [{"field": "text"}])))
    return out


def test_a_batch_goes_out_as_one_record_per_partition_and_splits_when_large() -> None:
    fwd = _forwards_of(50)
    one = forward_records(fwd, 1)
    assert len(one) == 1
    events = decode(one[0].value)
    assert [fr.event.event_id for fr in events] == [f"e{i:03d}" for i in range(50)]  # emission order kept
    assert [fr.source for fr in events] == [i % 3 for i in range(50)]
    small = forward_records(fwd, 1, max_bytes=2000)
    assert len(small) > 1 and all(len(r.value) <= 2000 + 400 for r in small)
    assert [fr.event.event_id for r in small for fr in decode(r.value)] == [f"e{i:03d}" for i in range(50)]


def test_a_record_is_acknowledged_once_its_last_event_is_released() -> None:
    keyed: KeyedStage[str] = KeyedStage(1)
    fwd = _forwards_of(6)  # ts 0..5 s
    (rec,) = forward_records(fwd, 1)
    assert keyed.accept(0, rec.value, "R") is None
    assert keyed.accept(0, rec.value, "R-replayed") == "R-replayed"  # a copy of a held record: ack at once
    wm = datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp() + 3  # releases e000..e002
    keyed.buffer(0).advance(0, wm)
    first = keyed.release()
    assert [h.record.event.event_id for h in first] == ["e000", "e001", "e002"]
    assert KeyedStage.finished(first) == []  # three events of it still held
    keyed.buffer(0).advance(0, wm + 10)
    rest = keyed.release()
    assert KeyedStage.finished(rest) == ["R"]


def test_a_rebalance_drops_a_partly_released_record_unacknowledged() -> None:
    keyed: KeyedStage[str] = KeyedStage(1)
    (rec,) = forward_records(_forwards_of(4), 1)
    keyed.accept(0, rec.value, "R")
    keyed.buffer(0).advance(0, datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp() + 2)
    assert KeyedStage.finished(keyed.release()) == []
    assert keyed.drop_held() == 2
    assert len(keyed) == 0  # the record is read again from its offset; it was never acknowledged
    assert keyed.accept(0, rec.value, "R-again") is None  # the replay is held afresh, not taken for a copy


def test_malformed_records_are_acknowledged_and_dropped() -> None:
    keyed: KeyedStage[str] = KeyedStage(1)
    assert keyed.accept(0, b"not json", "x") == "x"
    assert keyed.accept(0, b'{"src":0,"f":[]}\n{"event_id":"e"}\n{"odd":1}', "y") == "y"
    assert len(keyed) == 0
