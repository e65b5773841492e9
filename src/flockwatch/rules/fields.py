"""Field access on events: top-level fields by name, `attrs.a.b` by path."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flockwatch.ingest.event import Event

FIELDS: frozenset[str] = frozenset(Event.model_fields)
# Fields that hold agent-written strings; only these are indexed by the prefilter.
STRING_FIELDS: frozenset[str] = frozenset(
    {"event_id", "agent_id", "agent_name", "community", "post_id", "parent_id", "target_agent_id",
     "title", "text", "url"}
)

Getter = Callable[[Event], Any]


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
