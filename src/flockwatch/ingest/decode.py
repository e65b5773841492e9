"""Strict, fast decoding of raw event bytes, with a machine-readable reason on failure.

Every failure becomes a `DecodeFailure` carrying a short reason label (used as the
`reason` label of `flockwatch_invalid_events_total`, so it must stay low-cardinality)
and a human message. Callers dead-letter it; nothing here raises on bad input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import from_json

from flockwatch.ingest.event import Event

_validate_json = Event.__pydantic_validator__.validate_json


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    reason: str  # low-cardinality label: invalid_json, missing_field, bad_type, ...
    message: str
    raw: bytes | str


# pydantic error type -> our reason label. Anything unlisted is `bad_type`.
_REASONS = {
    "json_invalid": "invalid_json",
    "json_type": "not_an_object",
    "model_type": "not_an_object",
    "model_attributes_type": "not_an_object",
    "missing": "missing_field",
    "extra_forbidden": "unknown_field",
    "literal_error": "bad_value",
    "string_too_short": "bad_value",
    "string_too_long": "bad_value",
    "datetime_parsing": "bad_timestamp",
    "datetime_type": "bad_timestamp",
    "datetime_from_date_parsing": "bad_timestamp",
    "timezone_aware": "bad_timestamp",
}

# `too_large` comes from the line readers (`ingest.jsonl`), before any decoding.
REASONS: frozenset[str] = frozenset(_REASONS.values()) | {"bad_type", "too_large"}


def _failure(exc: ValidationError, raw: bytes | str) -> DecodeFailure:
    errors = exc.errors(include_url=False, include_input=False)
    reason = _REASONS.get(errors[0]["type"], "bad_type") if errors else "bad_type"
    details = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in errors[:5]
    )
    return DecodeFailure(reason=reason, message=details, raw=raw)


def _non_standard_constant(raw: bytes | str) -> DecodeFailure | None:
    """A failure if `raw` uses NaN, Infinity or -Infinity as a value, else None.

    pydantic-core's JSON parser, like Python's json, reads these constants, which are
    not JSON: in `attrs` (typed `Any`) they became float nan/inf, which compare false
    with everything (a threshold on them never fires) and which json.dumps writes back
    as the same tokens that strict readers (jq, browsers, PostgreSQL's jsonb) refuse. A
    document that does not even contain the words is cleared by two substring searches;
    one that does (in a string, say) is parsed again with them refused. A number past
    the float range (`1e999`) is standard JSON: it reads as inf and is kept."""
    if type(raw) is bytes:
        if b"NaN" not in raw and b"Infinity" not in raw:
            return None
    elif "NaN" not in raw and "Infinity" not in raw:
        return None
    try:
        from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        try:  # the constants, or another syntax error the usual path describes?
            from_json(raw)
        except ValueError:
            return None
        return DecodeFailure("invalid_json", f"NaN, Infinity and -Infinity are not JSON: {exc}", raw)
    return None


# Values of `attrs` looked at in Python before the (C) substring search is cheaper.
_WALK_BUDGET = 64


def _may_hold_a_constant(attrs: dict[str, Any]) -> bool:
    """False when `attrs` certainly holds no NaN or infinity: a few finite values, the
    usual shape, cleared in a few hundred nanoseconds without touching the bytes. A
    non-finite float (a constant, or a number past 1.8e308) or more values than the
    budget leave it to `_non_standard_constant`."""
    budget = _WALK_BUDGET - len(attrs)
    stack: list[Iterable[Any]] = [attrs.values()]
    while stack:
        for v in stack.pop():
            t = type(v)
            if t is float:
                if v - v != 0.0:  # nan or inf (inf - inf is nan)
                    return True
            elif t is dict or t is list:
                budget -= len(v)
                if budget < 0:
                    return True
                stack.append(v.values() if t is dict else v)
    return False


def decode_event(raw: bytes | str) -> Event | DecodeFailure:
    """Decode one JSON document into an Event, or describe why it is not one."""
    try:
        event = _validate_json(raw)
    except ValidationError as exc:
        # A constant in a typed field (`"value": NaN`) is said to be one, not a bad type.
        return _non_standard_constant(raw) or _failure(exc, raw)
    except (ValueError, UnicodeDecodeError) as exc:  # undecodable bytes
        return DecodeFailure("invalid_json", str(exc), raw)
    # Only `attrs` is untyped, so only there can a constant get through validation.
    if event.attrs and _may_hold_a_constant(event.attrs):
        return _non_standard_constant(raw) or event
    return event


def decode_object(obj: object) -> Event | DecodeFailure:
    """Decode an already-parsed JSON object with exactly the wire semantics
    (used by inline rule tests and importers, so tests exercise the production path)."""
    try:
        raw = json.dumps(obj, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        return DecodeFailure("bad_type", f"not JSON-serialisable: {exc}", repr(obj))
    return decode_event(raw)
