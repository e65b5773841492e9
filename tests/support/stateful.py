"""Helpers for stateful rule tests: a one-rule pack from a dict, events at offsets."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import yaml

from flockwatch.alerts.alert import Alert
from flockwatch.alerts.collector import AlertCollector
from flockwatch.detect.engine import Engine
from flockwatch.ingest.decode import decode_object
from flockwatch.ingest.event import Event
from flockwatch.rules.loader import load_pack_text

T0 = datetime(2026, 2, 1, 12, 0, tzinfo=timezone.utc)


def pack_text(rule: dict[str, Any], lists: dict[str, Any] | None = None) -> str:
    base = {"id": "t.rule", "title": "t", "category": "spam_cascade", "severity": "medium"}
    return yaml.safe_dump({"pack": {"name": "tp", "version": "1.0.0", "requires_engine": ">=1.0"},
                           "lists": lists or {}, "rules": [{**base, **rule}]})


def engine(rule: dict[str, Any], **kw: Any) -> Engine:
    return Engine([load_pack_text(pack_text(rule, **kw), "t.yaml")])


def event(n: int, at: float = 0.0, **fields: Any) -> Event:
    raw = {"event_id": f"e{n}", "type": "post", "agent_id": "a", "ts": (T0 + timedelta(seconds=at)).isoformat(), **fields}
    ev = decode_object(raw)
    assert isinstance(ev, Event), ev
    return ev


def run(eng: Engine, events: list[Event]) -> list[Alert]:
    c = AlertCollector()
    for ev in events:
        c.add(eng.process(ev))
    return c.alerts()


def process_all(eng: Engine, events: list[Event]) -> list[list[Alert]]:
    """The alerts each event produced, in order (not merged: growth is visible)."""
    return [eng.process(e) for e in events]


def summary_of(alerts: list[Alert]) -> list[tuple[str, int, list[str]]]:
    return [(a.fingerprint, a.count, a.event_ids) for a in alerts]


def advance(eng: Engine, at: float) -> None:
    """Move event time on with an event none of these rules take (a vote), then collect."""
    eng.process(event(999_999, at=at, type="vote", agent_id="clock", post_id="p", target_agent_id="x", value=1))
    eng.collect_garbage()


def state_of(eng: Engine) -> dict[str, Any]:
    return eng.state.for_rule("t.rule")  # type: ignore[return-value]


def assert_restored_state_expires_at_the_edge(rule: dict[str, Any], events: list[Event], last: float,
                                              ttl: float) -> None:
    """A worker that takes over a partition restores the state from its changelog but not
    the in-memory touch queue: garbage collection then scans the whole state by `t`, and
    must drop it exactly `ttl` after the `last` event, not before."""
    first = engine(rule)
    run(first, events)
    taken_over = Engine([load_pack_text(pack_text(rule), "t.yaml")], state=first.state)
    state = state_of(taken_over)
    assert state
    advance(taken_over, last + ttl)
    assert state, "state still needed was dropped"
    advance(taken_over, last + ttl + 1)
    assert dict(state) == {}
