"""`flockwatch produce`: JSONL into Kafka, keyed by agent, validated unless --raw."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from flockwatch.ingest.jsonl import MAX_LINE_BYTES
from flockwatch.kafka.offsets import read_topic
from flockwatch.kafka.producer import make_producer, produce_lines, raw_key
from support.cli import run_cli

pytestmark = pytest.mark.kafka


def ev(i: int, agent: str) -> str:
    return json.dumps({"event_id": f"p{i}", "type": "post", "ts": f"2026-02-01T10:00:{i:02d}Z",
                       "agent_id": agent, "text": f"post {i}"})


LINES = [ev(0, "agent-a"), "", ev(1, "agent-b"), "{not json", ev(2, "agent-a"),
         '{"event_id": "x", "type": "telepathy", "ts": "2026-02-01T10:00:00Z", "agent_id": "agent-c"}',
         ev(3, "agent-a"), "   "]


def test_validated_mode_sends_only_events_keyed_by_agent_in_order(broker: str) -> None:
    producer = make_producer(broker)
    try:
        report = produce_lines(io.BytesIO("".join(line + "\n" for line in LINES).encode()), producer,
                               "produce-validated", source_name="in.jsonl")
    finally:
        producer.close()
    assert (report.lines, report.sent, report.invalid, report.failed) == (6, 4, 2, 0)
    assert report.invalid_by_reason == {"invalid_json": 1, "bad_value": 1}
    assert report.bad_lines[0].startswith("in.jsonl:4: invalid_json")
    assert report.bad_lines[1].startswith("in.jsonl:6: bad_value")
    records = read_topic(broker, "produce-validated")
    assert sorted(r.value.decode() for r in records) == sorted([ev(0, "agent-a"), ev(1, "agent-b"),
                                                               ev(2, "agent-a"), ev(3, "agent-a")])
    by_agent = [r for r in records if r.key == b"agent-a"]
    assert len({r.partition for r in by_agent}) == 1  # one agent, one partition ...
    assert [json.loads(r.value)["event_id"] for r in by_agent] == ["p0", "p2", "p3"]  # ... in order


def test_raw_mode_sends_every_line(broker: str) -> None:
    producer = make_producer(broker)
    try:
        report = produce_lines(io.BytesIO("\n".join(LINES).encode()), producer, "produce-raw", raw=True)
    finally:
        producer.close()
    assert (report.sent, report.invalid) == (6, 0)
    records = read_topic(broker, "produce-raw")
    keys = {r.value.decode(): r.key for r in records}
    assert keys["{not json"] is None
    assert keys[LINES[5]] == b"agent-c"  # a JSON object with an agent_id keeps its key even if invalid


def test_raw_key() -> None:
    assert raw_key(b'{"agent_id": "a1"}') == b"a1"
    assert raw_key(b'{"agent_id": 7}') is None
    assert raw_key(b"[1, 2]") is None
    assert raw_key(b"\xff\xfe") is None


def test_cli_reports_and_exit_codes(broker: str, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(LINES) + "\n")
    r = run_cli("produce", str(path), "--broker", broker, "--topic", "produce-cli")
    err = r.stderr.decode()
    assert r.returncode == 0, err
    assert "produced 4 records to produce-cli" in err and "2 invalid line(s) skipped" in err
    assert f"invalid: {path}:4: invalid_json" in err
    r = run_cli("produce", str(path), "--broker", broker, "--topic", "produce-cli", "--fail-on-invalid")
    assert r.returncode == 3
    r = run_cli("produce", "-", "--broker", broker, "--topic", "produce-cli", input=(ev(9, "z") + "\n").encode())
    assert r.returncode == 0 and "produced 1 records" in r.stderr.decode()
    r = run_cli("produce", str(tmp_path / "missing.jsonl"), "--broker", broker)
    assert r.returncode != 0 and "missing.jsonl" in r.stderr.decode()


def test_a_record_the_broker_cannot_take_is_reported_and_fails_the_command(broker: str, tmp_path: Path) -> None:
    # A line within the reader's bound (4 MiB with its line break) whose record, with its key
    # and framing, is still over the producer's 4 MiB request limit.
    path = tmp_path / "big.jsonl"
    head = json.dumps({"event_id": "big", "type": "post", "ts": "2026-02-01T10:00:00Z", "agent_id": "a", "text": ""})
    huge = head[:-2] + "x" * (MAX_LINE_BYTES - 1 - len(head)) + '"}'
    assert len(huge) + 1 == MAX_LINE_BYTES
    path.write_text(ev(1, "a") + "\n" + huge + "\n")
    r = run_cli("produce", str(path), "--broker", broker, "--topic", "produce-big")
    err = r.stderr.decode()
    assert r.returncode == 1, err
    assert "1 refused by the broker" in err and "error: MessageSizeTooLarge" in err


def test_a_line_over_the_bound_is_reported_not_sent(broker: str, tmp_path: Path) -> None:
    # Like `scan` and `import`: counted and reported as too_large, never read whole, never sent.
    path = tmp_path / "huge.jsonl"
    huge = json.dumps({"event_id": "huge", "type": "post", "ts": "2026-02-01T10:00:00Z", "agent_id": "a",
                       "text": "x" * MAX_LINE_BYTES})
    path.write_text(ev(1, "a") + "\n" + huge + "\n" + ev(2, "a") + "\n")
    for extra in ((), ("--raw",)):
        r = run_cli("produce", str(path), "--broker", broker, "--topic", "produce-huge", *extra)
        err = r.stderr.decode()
        assert r.returncode == 0, (extra, err)
        assert f"invalid: {path}:2: too_large: line longer than {MAX_LINE_BYTES} bytes" in err, (extra, err)
        assert "produced 2 records" in err and "1 invalid line(s) skipped, 0 refused" in err, (extra, err)
        assert "invalid by reason: too_large=1" in err, (extra, err)
    r = run_cli("produce", str(path), "--broker", broker, "--topic", "produce-huge", "--fail-on-invalid")
    assert r.returncode == 3, r.stderr.decode()
    assert sorted(json.loads(r.value)["event_id"] for r in read_topic(broker, "produce-huge")) == ["p1"] * 3 + ["p2"] * 3  # 3 runs, never "huge"
