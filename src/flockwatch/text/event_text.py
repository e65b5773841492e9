"""The normalised text of an event, computed once and shared by every rule.

Every cue-scoring rule reads the same folded text; normalising it once per event
(instead of once per rule) is most of what keeps a pack of them cheap. The engine
evaluates all rules on one event before it moves to the next, so remembering the
last event per field set is enough: no unbounded cache, no per-event cleanup.
The worker and `scan` are single-threaded per process; the memo is per thread anyway.
"""

from __future__ import annotations

import threading

from flockwatch.ingest.event import Event
from flockwatch.text.normalize import normalize

_memo = threading.local()


def field_text(event: Event, fields: tuple[str, ...]) -> str:
    """The named string fields of `event` that are set, joined by newlines."""
    return "\n".join([v for v in (getattr(event, f, None) for f in fields) if isinstance(v, str) and v])


def normalized_text(event: Event, fields: tuple[str, ...]) -> str:
    """`normalize` of the named string fields of `event`, joined by newlines."""
    last = getattr(_memo, "last", None)
    if last is not None and last[0] is event and last[1] == fields:
        return last[2]
    text = normalize(field_text(event, fields))
    _memo.last = (event, fields, text)
    return text
