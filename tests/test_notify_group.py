"""The pure stages: dedup, group flush plans (timing, back-off, ack, resolve,
silence, inhibit), retry back-off, silences and inhibition."""

from __future__ import annotations

import random

import pytest

from flockwatch.notify.backoff import next_attempt_at, retry_delay
from flockwatch.notify.config import Backoff, InhibitRule, RetryConfig, RouteConfig
from flockwatch.notify.dedup import change_of, state_of
from flockwatch.notify.group import GroupState, Member, change_flush_at, plan_flush
from flockwatch.notify.inhibit import Inhibitor
from flockwatch.notify.matchers import Matcher, labels_of
from flockwatch.notify.routing import build_route
from flockwatch.notify.silence import Silence, SilenceSet
from support.alerts import make_alert

ROUTE = build_route(RouteConfig(receiver="r", group_wait=10, group_interval=60, repeat_interval=3600))
BACKOFF_ROUTE = build_route(RouteConfig(receiver="r", group_wait=0, group_interval=60, repeat_interval=600,
                                        backoff=Backoff(factor=2, max=300)))


def member(key: str, version: int = 1, status: str = "firing", severity: str = "high", **kw) -> Member:
    return Member(make_alert(key, severity=severity), status, version, **kw)


def empty() -> GroupState:
    return GroupState({}, None, 0, 0)


def after(plan) -> GroupState:
    return plan.state


def test_dedup_changes():
    assert change_of(None, 1, "firing", "high") == "new"
    prev = state_of(1, "firing", "high")
    assert change_of(prev, 1, "firing", "high") is None  # a replay
    assert change_of(prev, 2, "firing", "high") == "updated"
    assert change_of(prev, 2, "firing", "critical") == "escalated"
    assert change_of(prev, 3, "acknowledged", "high") is None  # growth of an acknowledged alert is not news
    assert change_of(prev, 3, "acknowledged", "critical") == "escalated"
    assert change_of(prev, 3, "resolved", "high") == "resolved"
    assert change_of(None, 3, "resolved", "high") is None  # never told, so no resolution message


def test_first_flush_then_replay_is_deduplicated_then_growth_is_an_update():
    p1 = plan_flush(empty(), [member("a"), member("b")], ROUTE, now=100, send_resolved=True)
    assert p1.kind == "firing" and [c for _, c in p1.listed] == ["new", "new"]
    assert p1.state.sequence == 1 and p1.next_flush_at == 100 + 3600  # repeat timer
    p2 = plan_flush(after(p1), [member("a"), member("b")], ROUTE, now=150, send_resolved=True)
    assert p2.kind is None and p2.suppressed["dedup"] == 1 and p2.state.sequence == 1
    p3 = plan_flush(after(p2), [member("a", 2), member("b")], ROUTE, now=200, send_resolved=True)
    assert p3.kind == "update" and dict((m.alert.fingerprint, c) for m, c in p3.listed)[member("a").alert.fingerprint] == "updated"
    assert [c for _, c in p3.listed].count("unchanged") == 1  # the message shows the whole group
    assert p3.state.sequence == 2


def test_repeat_interval_and_exponential_backoff():
    state = empty()
    times = []
    now = 0.0
    version = 1
    for _ in range(6):  # a cascade that grows every minute
        plan = plan_flush(state, [member("a", version)], BACKOFF_ROUTE, now=now, send_resolved=True)
        assert plan.kind in ("firing", "update")
        times.append(now)
        state = plan.state
        version += 1
        now = change_flush_at(BACKOFF_ROUTE, created_now=False, created_at=0, last_notified_at=state.last_notified_at,
                              streak=state.streak, now=now + 1)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert gaps == [60, 120, 240, 300, 300]  # group_interval doubled each message, capped at backoff.max
    # nothing new: the repeat comes after repeat_interval (600 s, already above backoff.max: not shortened)
    quiet = plan_flush(state, [member("a", version - 1)], BACKOFF_ROUTE, now=state.last_notified_at + 1, send_resolved=True)
    assert quiet.kind is None and quiet.next_flush_at == state.last_notified_at + 600
    repeat = plan_flush(state, [member("a", version - 1)], BACKOFF_ROUTE, now=state.last_notified_at + 600, send_resolved=True)
    assert repeat.kind == "repeat" and [c for _, c in repeat.listed] == ["repeat"]


def test_backoff_never_brings_a_repeat_forward():
    # deploy/notify.example.yaml: updates back off 5 m, 10 m, ... up to 2 h, and "a reminder
    # every 4 h". The back-off cap limits how far intervals stretch; it must not shorten
    # the 4 h repeat to 2 h.
    route = build_route(RouteConfig(receiver="r", group_wait=30, group_interval=300, repeat_interval=4 * 3600,
                                    backoff=Backoff(factor=2, max=2 * 3600)))
    assert [route.interval(300, n) for n in (1, 2, 3, 6)] == [300, 600, 1200, 7200]
    assert route.interval(4 * 3600, 3) == 4 * 3600
    state = empty()
    for version in (1, 2, 3):  # a first message and two growth updates
        state = plan_flush(state, [member("a", version)], route, now=(version - 1) * 1000.0, send_resolved=True).state
    quiet = plan_flush(state, [member("a", 3)], route, now=state.last_notified_at + 1, send_resolved=True)
    assert quiet.kind is None and quiet.next_flush_at == state.last_notified_at + 4 * 3600


def test_escalation_resets_the_backoff_but_not_group_interval():
    state = empty()
    now = 0.0
    for version in (1, 2, 3, 4):  # a growing cascade: messages at 0, 60, 180, 420
        state = plan_flush(state, [member("a", version)], BACKOFF_ROUTE, now=now, send_resolved=True).state
        now = change_flush_at(BACKOFF_ROUTE, created_now=False, created_at=0, last_notified_at=state.last_notified_at,
                              streak=state.streak, now=now + 1)
    assert now - state.last_notified_at == 300  # growth alone now waits the stretched gap (capped)
    # The alert becomes critical right after the last message: sent after group_interval only.
    due = change_flush_at(BACKOFF_ROUTE, created_now=False, created_at=0, last_notified_at=state.last_notified_at,
                          streak=state.streak, now=state.last_notified_at + 1, escalated=True)
    assert due == state.last_notified_at + 60
    plan = plan_flush(state, [member("a", 5, severity="critical")], BACKOFF_ROUTE, now=due, send_resolved=True)
    assert plan.kind == "update" and [c for _, c in plan.listed] == ["escalated"]
    assert plan.state.streak == 1  # a new streak: the next message waits the plain group_interval
    state = plan.state
    # A severity that flaps right after every message: one message per group_interval, no faster.
    times = [state.last_notified_at]
    for version in range(6, 12):
        severity = "high" if version % 2 == 0 else "critical"
        rose = severity == "critical"
        due = change_flush_at(BACKOFF_ROUTE, created_now=False, created_at=0, last_notified_at=state.last_notified_at,
                              streak=state.streak, now=state.last_notified_at + 1, escalated=rose)
        plan = plan_flush(state, [member("a", version, severity=severity)], BACKOFF_ROUTE, now=due, send_resolved=True)
        assert [c for _, c in plan.listed] == ["escalated" if rose else "updated"]
        state = plan.state
        times.append(due)
    assert [b - a for a, b in zip(times, times[1:])] == [60] * 6


def test_without_backoff_intervals_stay_flat():
    assert ROUTE.interval(60, 1) == ROUTE.interval(60, 9) == 60
    assert change_flush_at(ROUTE, created_now=True, created_at=5, last_notified_at=None, streak=0, now=7) == 15


def test_acknowledged_alerts_stop_repeats_but_escalation_is_sent():
    p1 = plan_flush(empty(), [member("a")], ROUTE, now=0, send_resolved=True)
    acked = plan_flush(after(p1), [member("a", 1, "acknowledged")], ROUTE, now=10, send_resolved=True)
    assert acked.kind is None and acked.next_flush_at is None  # no repeat timer for an acknowledged alert
    grown = plan_flush(after(acked), [member("a", 5, "acknowledged")], ROUTE, now=20, send_resolved=True)
    assert grown.kind is None and grown.suppressed["acknowledged"] == 1
    late = plan_flush(after(grown), [member("a", 5, "acknowledged")], ROUTE, now=99999, send_resolved=True)
    assert late.kind is None
    worse = plan_flush(after(late), [member("a", 6, "acknowledged", severity="critical")], ROUTE, now=100000, send_resolved=True)
    assert worse.kind == "update" and [c for _, c in worse.listed] == ["escalated"]


def test_resolution_is_sent_once_and_clears_the_group():
    p1 = plan_flush(empty(), [member("a"), member("b")], ROUTE, now=0, send_resolved=True)
    p2 = plan_flush(after(p1), [member("a", 1, "resolved"), member("b")], ROUTE, now=100, send_resolved=True)
    assert p2.kind == "update" and ("resolved" in [c for _, c in p2.listed]) and p2.remove_members == [member("a").alert.fingerprint]
    p3 = plan_flush(after(p2), [member("b", 1, "resolved")], ROUTE, now=200, send_resolved=True)
    assert p3.kind == "resolved" and p3.state.sent_state == {} and p3.state.streak == 0 and p3.next_flush_at is None
    quiet = plan_flush(after(p1), [member("a", 1, "resolved"), member("b", 1, "resolved")], ROUTE, now=100, send_resolved=False)
    assert quiet.kind is None and quiet.suppressed["resolved_not_sent"] == 2 and quiet.state.sent_state == {}


def test_silenced_and_inhibited_members_are_held_back_and_counted():
    silenced = member("a", silenced_until=500.0)
    p = plan_flush(empty(), [silenced, member("b")], ROUTE, now=0, send_resolved=True)
    assert [m.alert.fingerprint for m, _ in p.listed] == [member("b").alert.fingerprint]
    assert p.suppressed["silenced"] == 1 and p.silenced == 1
    assert p.next_flush_at == 500.0  # look again when the silence ends
    later = plan_flush(after(p), [member("a"), member("b")], ROUTE, now=500, send_resolved=True)
    assert later.kind == "update" and {c for _, c in later.listed} == {"new", "unchanged"}
    only_held = plan_flush(empty(), [member("c", inhibited=True)], ROUTE, now=0, send_resolved=True)
    assert only_held.kind is None and only_held.suppressed == {"inhibited": 1} and only_held.next_flush_at == 60


def test_retry_delays_grow_with_jitter_and_cap():
    cfg = RetryConfig(initial=1, max=30, factor=2, jitter=0.2)
    rng = random.Random(7)
    for attempt, base in [(1, 1), (2, 2), (3, 4), (5, 16), (6, 30), (20, 30)]:
        delays = [retry_delay(attempt, cfg, rng) for _ in range(200)]
        assert base * 0.8 <= min(delays) and max(delays) <= base * 1.2
        assert max(delays) - min(delays) > base * 0.2  # jitter actually spreads them
    # Retry-After is a floor (spread upwards only), capped by max_retry_after
    ra = [next_attempt_at(100, 1, 7.0, cfg, rng) - 100 for _ in range(100)]
    assert min(ra) >= 7.0 and max(ra) <= 7.0 * 1.2 + 0.01
    capped = RetryConfig(max_retry_after=10, jitter=0)
    assert next_attempt_at(0, 1, 86400, capped, rng) == pytest.approx(10, abs=0.01)


def test_silence_states_and_matching():
    s = Silence("id", Matcher.model_validate({"rule": "spam.*"}), starts_at=100, ends_at=200, created_by="x", comment="c")
    assert [s.state(t) for t in (50, 100, 199, 200)] == ["pending", "active", "active", "expired"]
    spam = labels_of(make_alert("k", rule="spam.copy"))
    assert SilenceSet([s], 150).silenced_by(spam) is s
    assert SilenceSet([s], 250).silenced_by(spam) is None
    assert SilenceSet([s], 150).silenced_by(labels_of(make_alert("k", rule="cipher.rot13"))) is None


def test_inhibition_needs_a_firing_source_with_equal_labels():
    rule = InhibitRule(source=Matcher(severity=["critical"]), target=Matcher(severity=["medium", "low"]), equal=["rule"])
    source = labels_of(make_alert("src", rule="spam.copy", severity="critical"))
    echo = labels_of(make_alert("echo", rule="spam.copy", severity="medium"))
    other_rule = labels_of(make_alert("o", rule="cipher.rot13", severity="medium"))
    inhibitor = Inhibitor([rule], [source, echo, other_rule])
    assert inhibitor.inhibited(echo)
    assert not inhibitor.inhibited(other_rule)  # equal: [rule] differs
    assert not inhibitor.inhibited(source)
    assert not Inhibitor([rule], [echo, other_rule]).inhibited(echo)  # no firing source
    both = InhibitRule(source=Matcher(), target=Matcher(), equal=["rule"])
    assert not Inhibitor([both], [source]).inhibited(source)  # an alert never inhibits itself


def test_an_alert_that_left_the_group_is_forgotten():
    p1 = plan_flush(empty(), [member("a"), member("b")], ROUTE, now=0, send_resolved=True)
    p2 = plan_flush(after(p1), [member("b")], ROUTE, now=10, send_resolved=True)
    assert list(p2.state.sent_state) == [member("b").alert.fingerprint] and p2.kind is None
    p3 = plan_flush(after(p2), [], ROUTE, now=20, send_resolved=True)
    assert p3.state.sent_state == {} and p3.next_flush_at is None  # the aggregator then deletes the empty group
