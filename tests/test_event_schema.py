"""Canonical event schema v1: strict decoding, reasons for every failure, and the
shipped JSON Schema file kept in sync with the model."""

from __future__ import annotations

import json

import pytest

from flockwatch.ingest.decode import REASONS, DecodeFailure, decode_event, decode_object
from flockwatch.ingest.event import Event, json_schema

MIN = {"event_id": "e1", "type": "post", "ts": "2026-01-30T12:00:00Z", "agent_id": "a1"}


def enc(obj) -> bytes:
    return json.dumps(obj).encode()


def test_minimal_event_and_defaults():
    ev = decode_event(enc(MIN))
    assert isinstance(ev, Event)
    assert ev.to_operator is False and ev.attrs == {} and ev.text is None
    assert ev.epoch == 1769774400.0


def test_full_event_round_trip():
    full = dict(MIN, agent_name="Nimbus", community="general", post_id="p1", parent_id="c0",
                target_agent_id="a2", title="t", text="body", url="https://x.test/a", to_operator=True,
                value=-1, attrs={"karma": 3, "nested": {"k": [1, 2]}}, type="vote")
    ev = decode_event(enc(full))
    assert isinstance(ev, Event)
    assert json.loads(ev.model_dump_json())["attrs"] == full["attrs"]
    assert ev.value == -1


def test_offsets_are_kept_as_instants():
    ev = decode_event(enc(dict(MIN, ts="2026-01-30T13:00:00+01:00")))
    assert ev.epoch == 1769774400.0


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (enc({"type": "post", "ts": MIN["ts"], "agent_id": "a"}), "missing_field"),
        (enc(dict(MIN, type="tweet")), "bad_value"),
        (enc(dict(MIN, ts="2026-01-30T12:00:00")), "bad_timestamp"),
        (enc(dict(MIN, ts="yesterday")), "bad_timestamp"),
        (enc(dict(MIN, agent_id=42)), "bad_type"),
        (enc(dict(MIN, to_operator="yes")), "bad_type"),
        (enc(dict(MIN, value=2)), "bad_value"),
        (enc(dict(MIN, surprise=1)), "unknown_field"),
        (enc(dict(MIN, event_id="")), "bad_value"),
        (enc(dict(MIN, attrs=[1])), "bad_type"),
    ],
)
def test_rejections_carry_a_reason(raw, reason):
    res = decode_event(raw)
    assert isinstance(res, DecodeFailure)
    assert res.reason == reason, res.message
    assert res.reason in REASONS
    assert res.raw == raw and res.message


def test_strict_no_silent_coercion():
    # "1" must not become True, 1 must not become "1"
    assert isinstance(decode_event(enc(dict(MIN, to_operator=1))), DecodeFailure)
    assert isinstance(decode_event(enc(dict(MIN, post_id=7))), DecodeFailure)


def test_decode_object_uses_wire_semantics():
    assert isinstance(decode_object(MIN), Event)
    assert isinstance(decode_object(dict(MIN, ts="2026-01-30T12:00:00")), DecodeFailure)
    bad = decode_object({"x": object()})
    assert isinstance(bad, DecodeFailure) and bad.reason == "bad_type"


def test_shipped_schema_file_matches_model(repo_root):
    shipped = json.loads((repo_root / "schemas" / "event-v1.schema.json").read_text())
    assert shipped == json.loads(json.dumps(json_schema())), "regenerate with: flockwatch schema > schemas/event-v1.schema.json"
    assert set(shipped["required"]) == {"event_id", "type", "ts", "agent_id"}
    assert shipped["additionalProperties"] is False
    assert shipped["properties"]["ts"]["format"] == "date-time"


@pytest.mark.parametrize("value", ["true", "false", "1.0", "-1.0", "1e0", "1E0", "-1.0e0"])
def test_a_vote_value_is_the_integer_1_or_minus_1_not_a_bool_or_a_float(value):
    # JSON true is an int in Python and 1.0 == 1, so both decoded as an upvote.
    raw = enc(dict(MIN, type="vote"))[:-1] + b', "value": ' + value.encode() + b"}"
    res = decode_event(raw)
    assert isinstance(res, DecodeFailure), (value, res)
    assert res.reason == "bad_type", res.message
    assert res.message.startswith("value: ") and "integer 1 or -1" in res.message
    assert "boolean" in res.message if value in ("true", "false") else "number with a fraction" in res.message


def test_a_bool_or_float_vote_is_dead_lettered_and_counted():
    from flockwatch.metrics.registry import Metrics
    from flockwatch.pipeline.processor import Processor

    metrics = Metrics()
    processor = Processor(engine=None, metrics=metrics)  # type: ignore[arg-type] - never reached
    for value in (True, 1.0):
        out = processor.handle(enc(dict(MIN, type="vote", value=value)), {"file": "x", "line": 1})
        assert out.dead_letter is not None and out.dead_letter["reason"] == "bad_type", value
    assert metrics.registry.get_sample_value("flockwatch_invalid_events_total", {"reason": "bad_type"}) == 2
    assert metrics.registry.get_sample_value("flockwatch_dead_letters_total", {"reason": "bad_type"}) == 2
    for value in (1, -1):  # still votes; Python code building events is held to the same rule
        assert decode_event(enc(dict(MIN, type="vote", value=value))).value == value
        assert Event(**dict(MIN, type="vote", value=value)).value == value
    with pytest.raises(ValueError):
        Event(**dict(MIN, type="vote", value=True))


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("where", ["attrs", "nested attrs", "value"])
def test_nan_and_infinity_are_not_json_anywhere_in_an_event(constant, where):
    # pydantic-core's JSON parser (like Python's json) reads these non-standard constants;
    # in attrs they went into the engine, alerts and stores as float nan/inf, and came out
    # again as NaN / Infinity tokens no strict JSON reader (PostgreSQL jsonb, jq, browsers) takes.
    body = {"attrs": b'{"score": %s}', "nested attrs": b'{"a": {"b": [1, %s]}}', "value": b"%s"}[where]
    key = b"value" if where == "value" else b"attrs"
    raw = enc(dict(MIN, type="vote"))[:-1] + b', "' + key + b'": ' + body % constant.encode() + b"}"
    res = decode_event(raw)
    assert isinstance(res, DecodeFailure), (where, res)
    assert (res.reason, res.raw) == ("invalid_json", raw)
    assert res.message.startswith("NaN, Infinity and -Infinity are not JSON: ") and "line 1 column" in res.message
    assert isinstance(decode_event(raw.decode()), DecodeFailure)  # a str takes the same path
    assert decode_object(json.loads(raw)).reason == "invalid_json"  # Python json writes them too


def test_the_words_nan_and_infinity_in_strings_are_fine():
    for attrs in ({"NaN": "Infinity", "x": 1.5}, {"n": {"NaN": ["Infinity", -1.5e3]}}):  # flat, nested
        ev = decode_event(enc(dict(MIN, text="NaN Infinity -Infinity", attrs=attrs)))
        assert isinstance(ev, Event) and ev.attrs == attrs


def test_a_syntax_error_beside_the_word_nan_is_reported_as_what_it_is():
    res = decode_event(b'{"text": "NaN", "oops"}')
    assert res.reason == "invalid_json" and "NaN, Infinity" not in res.message, res.message


def test_many_attrs_values_take_the_byte_search_and_agree():
    from flockwatch.ingest.decode import _WALK_BUDGET

    many = {"ids": list(range(_WALK_BUDGET * 2))}
    assert isinstance(decode_event(enc(dict(MIN, attrs=many))), Event)
    raw = enc(dict(MIN, attrs=many))[:-3] + b', NaN]}}'
    assert decode_event(raw).reason == "invalid_json"
