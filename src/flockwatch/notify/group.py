"""Aggregation groups: decide what one group sends when it is flushed.

`plan_flush` is pure (no I/O): given what the group last sent, its current members
and the silences/inhibitions in force, it returns the message to send (if any),
the new group state, and the reasons anything was held back. The dispatcher does
the reading and writing around it.

Timing (per route): a new group waits `group_wait` to collect its first alerts;
later changes are sent at most every `group_interval`; a group still firing is
re-sent every `repeat_interval`. With `backoff`, consecutive messages of a group
that keeps firing space out exponentially, so a growing cascade updates one thread
a few times instead of flooding the channel; a severity rise starts the spacing over.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from flockwatch.alerts.alert import Alert
from flockwatch.notify.dedup import SentState, change_of, held_back_by_ack, state_of
from flockwatch.notify.routing import Route


@dataclass(frozen=True)
class Member:
    alert: Alert
    status: str  # firing | acknowledged | resolved
    version: int
    silenced_until: float | None = None  # set when an active silence matches
    inhibited: bool = False


@dataclass
class GroupState:
    sent_state: dict[str, SentState]
    last_notified_at: float | None
    sequence: int
    streak: int


@dataclass
class FlushPlan:
    kind: str | None  # firing | update | repeat | resolved; None = nothing to send
    listed: list[tuple[Member, str]]  # (member, change) in the message
    state: GroupState
    next_flush_at: float | None
    remove_members: list[str] = field(default_factory=list)
    suppressed: Counter[str] = field(default_factory=Counter)
    silenced: int = 0


def plan_flush(group: GroupState, members: list[Member], route: Route, *, now: float,
               send_resolved: bool) -> FlushPlan:
    # Alerts that left the group (their labels now route them elsewhere) are forgotten.
    present = {m.alert.fingerprint for m in members}
    sent = {fp: st for fp, st in group.sent_state.items() if fp in present}
    suppressed: Counter[str] = Counter()
    changes: dict[str, str] = {}
    remove: list[str] = []
    held: list[Member] = []
    active: list[Member] = []  # visible, not resolved

    for m in members:
        fp = m.alert.fingerprint
        if m.silenced_until is not None or m.inhibited:
            held.append(m)
            if change_of(sent.get(fp), m.version, m.status, m.alert.severity) is not None:
                suppressed["silenced" if m.silenced_until is not None else "inhibited"] += 1
            continue
        change = change_of(sent.get(fp), m.version, m.status, m.alert.severity)
        if m.status == "resolved":
            remove.append(fp)
            if change == "resolved" and send_resolved:
                changes[fp] = change
            elif change == "resolved":
                suppressed["resolved_not_sent"] += 1
                sent.pop(fp, None)
            continue
        active.append(m)
        if change is not None:
            changes[fp] = change
        elif held_back_by_ack(sent.get(fp), m.version, m.status):
            suppressed["acknowledged"] += 1

    firing = [m for m in active if m.status == "firing"]
    repeat_due = bool(
        firing and group.last_notified_at is not None
        and now >= group.last_notified_at + route.interval(route.repeat_interval, group.streak)
    )
    was_quiet = not any(s.get("s") != "resolved" for s in group.sent_state.values())

    kind: str | None = None
    if changes:
        if not active:
            kind = "resolved"
        elif was_quiet:
            kind = "firing"
        else:
            kind = "update"
    elif repeat_due:
        kind = "repeat"
    elif members and not held:
        suppressed["dedup"] += 1

    listed: list[tuple[Member, str]] = []
    state = GroupState(sent, group.last_notified_at, group.sequence, group.streak)
    if kind is not None:
        listed = [(m, changes.get(m.alert.fingerprint, "repeat" if kind == "repeat" else "unchanged")) for m in active]
        listed += [(m, "resolved") for m in members if changes.get(m.alert.fingerprint) == "resolved"]
        state.last_notified_at = now
        state.sequence += 1
        # An escalation is news for the on-call person: it starts a new streak, so the next
        # message waits the plain group_interval, not the back-off stretched for the old news.
        escalation = "escalated" in changes.values()
        state.streak = (1 if escalation else state.streak + 1) if active else 0
    # Remember what the receivers now know. With no message there was no change worth
    # one (an acknowledgement, growth of an acknowledged alert): that is known too.
    for m in active:
        sent[m.alert.fingerprint] = state_of(m.version, m.status, m.alert.severity)
    for fp in remove:
        sent.pop(fp, None)
    if not active and not held:
        state.streak = 0

    return FlushPlan(kind, listed, state, _next_flush(state, active, held, route, now), remove, suppressed, len(held))


def _next_flush(state: GroupState, active: list[Member], held: list[Member], route: Route, now: float) -> float | None:
    candidates: list[float] = []
    if any(m.status == "firing" for m in active) and state.last_notified_at is not None:
        candidates.append(state.last_notified_at + route.interval(route.repeat_interval, state.streak))
    for m in held:
        if m.silenced_until is not None:
            candidates.append(m.silenced_until)
        else:  # inhibited: look again once the source may have resolved
            candidates.append(now + route.group_interval)
    return min(candidates) if candidates else None


def change_flush_at(route: Route, *, created_now: bool, created_at: float, last_notified_at: float | None,
                    streak: int, now: float, escalated: bool = False) -> float:
    """When a group that just received a change should flush. An escalation waits only the
    plain group_interval since the last message: that, not the back-off, keeps a severity
    that flaps from flooding the channel."""
    if created_now or last_notified_at is None:
        return created_at + route.group_wait
    return max(now, last_notified_at + route.interval(route.group_interval, 0 if escalated else streak))
