"""Strict, fast decoding of raw event bytes, with a machine-readable reason on failure.

Every failure becomes a `DecodeFailure` carrying a short reason label (used as the
`reason` label of `flockwatch_invalid_events_total`, so it must stay low-cardinality)
and a human message. Callers dead-letter it; nothing here raises on bad input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError

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


def decode_event(raw: bytes | str) -> Event | DecodeFailure:
    """Decode one JSON document into an Event, or describe why it is not one."""
    try:
        return _validate_json(raw)
    except ValidationError as exc:
        return _failure(exc, raw)
    except (ValueError, UnicodeDecodeError) as exc:  # undecodable bytes
        return DecodeFailure("invalid_json", str(exc), raw)


def decode_object(obj: object) -> Event | DecodeFailure:
    """Decode an already-parsed JSON object with exactly the wire semantics
    (used by inline rule tests and importers, so tests exercise the production path)."""
    try:
        raw = json.dumps(obj, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        return DecodeFailure("bad_type", f"not JSON-serialisable: {exc}", repr(obj))
    return decode_event(raw)
