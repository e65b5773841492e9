"""Field access on events: top-level fields by name, `attrs.a.b` by path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flockwatch.ingest.event import EVENT_TYPES, Event

FIELDS: frozenset[str] = frozenset(Event.model_fields)
# Fields that hold agent-written strings; only these are indexed by the prefilter.
STRING_FIELDS: frozenset[str] = frozenset(
    {"event_id", "agent_id", "agent_name", "community", "post_id", "parent_id", "target_agent_id",
     "title", "text", "url"}
)

Getter = Callable[[Event], Any]

# The values a top-level field that does not hold a string can take (the schema is
# strict, so any other value never compares equal). `type` is a string, but one of a
# few. Every other top-level field holds a string (`ts` as RFC 3339 text); `attrs.*`
# are free-form.
_NON_STRING: dict[str, Callable[[Any], bool]] = {
    "to_operator": lambda v: isinstance(v, bool),
    "value": lambda v: v in (1, -1) and not isinstance(v, bool),
    "attrs": lambda v: isinstance(v, dict),
}


def holds_strings(name: str) -> bool:
    """True if the field's value can be a string (string operators can match it)."""
    return name not in _NON_STRING


def can_equal(name: str, value: Any) -> bool:
    """False if no valid event's `name` can equal `value`."""
    if name.startswith("attrs."):
        return True
    if name == "type":
        return value in EVENT_TYPES
    check = _NON_STRING.get(name)
    return check(value) if check else isinstance(value, str)


def valid_field(name: str) -> bool:
    return name in FIELDS or name.startswith("attrs.") and len(name) > 6


def getter(name: str) -> Getter:
    if name.startswith("attrs."):
        path = name.split(".")[1:]

        def get_attr(event: Event) -> Any:
            value: Any = event.attrs
            for key in path:
                if not isinstance(value, dict):
                    return None
                value = value.get(key)
            return value

        return get_attr
    if name not in FIELDS:
        raise KeyError(name)
    if name == "ts":
        return lambda event: event.ts.isoformat()
    return lambda event: getattr(event, name)
