"""`threshold`, `distinct_count` and `near_duplicate` through the engine: the threshold
and no lower, event-time windows, group_by separation, one growing alert per incident,
near-duplicate robustness, and state that expires with its window."""

from __future__ import annotations

import json

import pytest
from support.stateful import engine, event, process_all, run

from flockwatch.detect.engine import Engine

MIN = 60.0

THRESHOLD = {"type": "threshold", "window": "10m", "threshold": 3, "group_by": ["community"]}
DISTINCT = {"type": "distinct_count", "window": "10m", "threshold": 3, "group_by": ["community"]}
NEAR_DUP = {"type": "near_duplicate", "window": "10m", "threshold": 5, "count": "agents"}

BASE = "Claiming my spot on Moltbook with a shiny CLAW mint, join the token movement today and earn rewards"



# ---- threshold -------------------------------------------------------------------------

def test_threshold_fires_at_the_threshold_and_not_below():
    eng = engine(THRESHOLD)
    out = process_all(eng, [event(i, at=i * MIN, community="c") for i in range(3)])
    assert out[0] == [] and out[1] == []
    assert len(out[2]) == 1
    alert = out[2][0]
    assert alert.count == 3 and alert.event_ids == ["e0", "e1", "e2"]
    assert alert.evidence["group"] == {"community": "c"}
    assert alert.evidence["measure"] == 3


def test_threshold_window_is_event_time():
    # Three events processed back to back, but 6 minutes apart in event time: no 10 minute
    # window holds three of them.
    eng = engine(THRESHOLD)
    assert run(eng, [event(i, at=i * 6 * MIN, community="c") for i in range(3)]) == []
    # The same three events squeezed into 8 minutes do.
    eng = engine(THRESHOLD)
    assert len(run(eng, [event(i, at=i * 4 * MIN, community="c") for i in range(3)])) == 1


def test_a_late_event_within_the_window_still_counts():
    eng = engine(THRESHOLD)
    alerts = run(eng, [event(1, at=5 * MIN, community="c"), event(2, at=0, community="c"),
                       event(3, at=8 * MIN, community="c")])
    assert len(alerts) == 1 and sorted(alerts[0].event_ids) == ["e1", "e2", "e3"]


def test_threshold_groups_are_counted_apart():
    eng = engine(THRESHOLD)
    events = [event(1, at=0, community="c1"), event(2, at=10, community="c2"), event(3, at=20, community="c1"),
              event(4, at=30, community="c2"), event(5, at=40, community="c3")]
    assert run(eng, events) == []
    alerts = eng.process(event(6, at=50, community="c2"))
    assert len(alerts) == 1
    assert alerts[0].evidence["group"] == {"community": "c2"} and alerts[0].event_ids == ["e2", "e4", "e6"]


def test_events_without_the_group_field_form_no_group():
    eng = engine(THRESHOLD)
    assert run(eng, [event(i, at=i) for i in range(6)]) == []  # no community at all


def test_group_by_reaches_attrs_and_key_functions():
    eng = engine({**THRESHOLD, "group_by": ["attrs.campaign", "name_stem(agent_name)"]})
    events = [event(1, at=0, agent_name="bot01", attrs={"campaign": "x"}),
              event(2, at=1, agent_name="bot02", attrs={"campaign": "y"}),  # other campaign
              event(3, at=2, agent_name="zed", attrs={"campaign": "x"}),  # no numbered stem
              event(4, at=3, agent_name="bot07", attrs={"campaign": "x"})]
    assert run(eng, events) == []
    alerts = eng.process(event(5, at=4, agent_name="bot99", attrs={"campaign": "x"}))
    assert len(alerts) == 1
    assert alerts[0].evidence["group"] == {"attrs.campaign": "x", "name_stem(agent_name)": "bot#"}
    assert alerts[0].event_ids == ["e1", "e4", "e5"]


def test_a_replayed_event_is_not_counted_twice():
    eng = engine(THRESHOLD)
    e1, e2 = event(1, at=0, community="c"), event(2, at=1, community="c")
    assert run(eng, [e1, e2, e2, e1, e2]) == []


# ---- one alert per incident ----------------------------------------------------------

def test_the_incident_grows_under_one_fingerprint():
    eng = engine(DISTINCT)
    out = process_all(eng, [event(i, at=i * MIN, community="c", agent_id=f"a{i}") for i in range(6)])
    grown = [alerts[0] for alerts in out[2:]]
    assert all(len(a) == 1 for a in out[2:]) and out[:2] == [[], []]
    assert len({a.fingerprint for a in grown}) == 1
    assert [a.count for a in grown] == [3, 4, 5, 6]
    assert [len(a.agent_ids) for a in grown] == [3, 4, 5, 6]
    assert [a.last_ts for a in grown] == sorted({a.last_ts for a in grown})  # strictly later each time
    assert len({a.first_ts for a in grown}) == 1
    assert len({a.alert_id for a in grown}) == 1


def test_a_new_incident_after_the_window_gets_a_new_fingerprint():
    eng = engine(DISTINCT)
    first = [event(i, at=i * MIN, community="c", agent_id=f"a{i}") for i in range(4)]
    # 30 minutes of silence closes the incident; the next wave is a new one.
    second = [event(10 + i, at=40 * MIN + i * MIN, community="c", agent_id=f"b{i}") for i in range(3)]
    alerts = run(eng, first + second)
    assert len(alerts) == 2
    assert alerts[0].fingerprint != alerts[1].fingerprint
    assert alerts[0].count == 4 and alerts[1].count == 3
    assert set(alerts[1].agent_ids) == {"b0", "b1", "b2"}


def test_an_incident_stays_open_while_events_keep_coming_within_the_window():
    eng = engine(DISTINCT)
    # Nine minutes between events: each is within the window of the last one.
    events = [event(i, at=i * MIN, community="c", agent_id=f"a{i}") for i in range(3)]
    events += [event(10 + i, at=2 * MIN + (i + 1) * 9 * MIN, community="c", agent_id=f"b{i}") for i in range(4)]
    alerts = run(eng, events)
    assert len(alerts) == 1 and alerts[0].count == 7


# ---- distinct_count ------------------------------------------------------------------

def test_distinct_count_counts_agents_not_events():
    eng = engine(DISTINCT)
    same_agent = [event(i, at=i * 10, community="c", agent_id="b0") for i in range(5)]
    two_agents = [event(10 + i, at=60 + i * 10, community="c", agent_id=f"b{i % 2}") for i in range(4)]
    assert run(eng, same_agent + two_agents) == []
    alerts = eng.process(event(20, at=200, community="c", agent_id="c"))
    assert len(alerts) == 1 and alerts[0].evidence["measure"] == 3
    assert alerts[0].evidence["distinct"] == "agent_id"


def test_distinct_count_can_count_another_field():
    eng = engine({**DISTINCT, "group_by": ["agent_id"], "distinct": "community"})
    events = [event(1, at=0, community="x"), event(2, at=1, community="x"), event(3, at=2, community="y")]
    assert run(eng, events) == []
    assert len(eng.process(event(4, at=3, community="z"))) == 1


def test_link_wave_groups_by_normalised_url():
    eng = engine({**DISTINCT, "group_by": ["urls(text)"], "window": "2m"})
    texts = ["see https://claim.example/drop?utm_source=a", "wow http://www.claim.example/drop/",
             "https://CLAIM.example/drop", "unrelated https://other.example/drop"]
    alerts = run(eng, [event(i, at=i * 5, agent_id=f"a{i}", text=t) for i, t in enumerate(texts)])
    assert len(alerts) == 1
    assert alerts[0].evidence["group"] == {"urls(text)": "claim.example/drop"}
    assert alerts[0].event_ids == ["e0", "e1", "e2"]


# ---- near_duplicate ------------------------------------------------------------------

def _variants(kind: str) -> list[str]:
    words = BASE.split()
    if kind == "exact":
        return [BASE] * 5
    if kind == "case":
        return [BASE, BASE.upper(), BASE.lower(), BASE.title(), BASE.swapcase()]
    if kind == "numbers":
        return [BASE, f"{BASE} #42", f"1. {BASE}", BASE.replace("CLAW", "CLAW 2026"), f"{BASE} 100x 7 days"]
    if kind == "emoji":
        return [BASE, f"{BASE} 🚀", f"🦞 {BASE} 🦞", BASE.replace("mint", "mint 💎"), f"{BASE} 🔥🔥🔥"]
    if kind == "word_order":
        return [BASE, " ".join(reversed(words)), " ".join(words[8:] + words[:8]),
                " ".join(words[4:] + words[:4]), " ".join(sorted(words))]
    if kind == "small_edits":
        return [BASE, BASE.replace("shiny", "fresh"), BASE.replace("today", "now"),
                BASE.replace("earn rewards", "earn big rewards"), BASE.replace("join", "come join")]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["exact", "case", "numbers", "emoji", "word_order", "small_edits"])
def test_near_duplicate_is_robust_to(kind):
    eng = engine(NEAR_DUP)
    texts = _variants(kind)
    out = process_all(eng, [event(i, at=i * 30, agent_id=f"bot{i}", text=t) for i, t in enumerate(texts)])
    assert out[:4] == [[], [], [], []]  # four agents are not yet five
    assert len(out[4]) == 1 and out[4][0].count == 5 and len(out[4][0].agent_ids) == 5


def test_near_duplicate_hard_negative_same_topic_different_words():
    texts = [
        "OpenAI released a new model today and the benchmarks look impressive for coding tasks",
        "Has anyone tried the new release? I wonder how it handles long context and tool use",
        "The new model launch is interesting but I am skeptical about those benchmark numbers",
        "Big news: a fresh frontier model dropped. My operator is already testing it on refactoring",
        "Release day again. Curious whether reasoning improved or just the leaderboard scores",
        "New model, new benchmarks, same question: does it actually help with real coding tasks?",
        "My operator asked me to compare the new model release against last month's benchmarks",
    ]
    eng = engine(NEAR_DUP)
    assert run(eng, [event(i, at=i * 20, agent_id=f"n{i}", text=t) for i, t in enumerate(texts)]) == []


def test_near_duplicate_counts_agents_not_posts():
    eng = engine(NEAR_DUP)
    events = [event(i, at=i * 10, agent_id=f"a{i % 4}", text=_variants("case")[i % 5]) for i in range(12)]
    assert run(eng, events) == []


def test_near_duplicate_outside_the_window_is_quiet():
    eng = engine(NEAR_DUP)
    events = [event(i, at=i * 3 * MIN, agent_id=f"a{i}", text=BASE) for i in range(8)]  # 3 per 10 minutes
    assert run(eng, events) == []


def test_near_duplicate_ignores_short_texts():
    eng = engine(NEAR_DUP)
    assert run(eng, [event(i, at=i, agent_id=f"a{i}", text="gm moltys!") for i in range(8)]) == []


def test_near_duplicate_cascade_over_many_bands_is_one_growing_alert():
    eng = engine(NEAR_DUP)
    texts = _variants("emoji") + _variants("numbers") + _variants("case")
    out = process_all(eng, [event(i, at=i * 20, agent_id=f"a{i}", text=t) for i, t in enumerate(texts)])
    reported = [a for alerts in out for a in alerts]
    assert len({a.fingerprint for a in reported}) == 1
    assert max(a.count for a in reported) == len(texts)
    assert run(engine(NEAR_DUP), [event(i, at=i * 20, agent_id=f"a{i}", text=t) for i, t in enumerate(texts)])[0] \
        .count == len(texts)


def test_near_duplicate_keeps_two_campaigns_apart():
    other = "Free airdrop for every molty who reposts this message, limited supply so claim your share now"
    eng = engine(NEAR_DUP)
    events = [event(i, at=i * 10, agent_id=f"a{i}", text=BASE if i % 2 else other) for i in range(10)]
    alerts = run(eng, events)
    assert len(alerts) == 2
    assert {frozenset(a.event_ids) for a in alerts} == {frozenset(f"e{i}" for i in range(1, 10, 2)),
                                                          frozenset(f"e{i}" for i in range(0, 10, 2))}


def test_near_duplicate_state_restored_from_json_decides_the_same():
    # A worker restores the state from its changelog as JSON: records and `ev` come back
    # as lists (kept as tuples in memory). The cascade must go on as if never interrupted.
    texts = _variants("emoji") + _variants("case")
    events = [event(i, at=i * 20, agent_id=f"a{i}", text=t) for i, t in enumerate(texts)]
    events.insert(6, event(90, at=5 * 20 - 5, agent_id="late", text=texts[0]))  # late, within the window

    def alerts(restore_after: int | None) -> list[tuple[str, int, list[str]]]:
        eng = engine(NEAR_DUP)
        out = []
        for n, ev in enumerate(events):
            if n == restore_after:
                state = eng.state.for_rule(eng.rules[0].id)
                for key, entry in list(state.items()):
                    state[key] = json.loads(json.dumps(entry))
            out += [(a.fingerprint, a.count, a.event_ids) for a in eng.process(ev)]
        return out

    expected = alerts(None)
    assert expected and expected[-1][1] == len(events)
    for n in (3, 5, 7):
        assert alerts(n) == expected, n


def test_self_repetition_with_group_by_agent_and_no_lsh():
    rule = {"type": "near_duplicate", "window": "30m", "threshold": 4, "count": "events", "bands": 0,
            "group_by": ["agent_id"], "min_tokens": 3}
    loop = "Continuing to reflect on something I have been focused on: with {n} contributions I should lead"
    eng = engine(rule)
    mine = [event(i, at=i * 2, agent_id="looper", text=loop.format(n=148 + i // 2)) for i in range(3)]
    others = [event(10 + i, at=1 + i * 2, agent_id=f"o{i}", text=loop.format(n=1)) for i in range(3)]
    assert run(eng, mine + others) == []  # three of mine; other agents' copies are not mine
    alerts = eng.process(event(20, at=30, agent_id="looper", text=loop.format(n=150)))
    assert len(alerts) == 1 and alerts[0].count == 4 and alerts[0].agent_ids == ["looper"]


# ---- state expires with its window ---------------------------------------------------

def _advance(eng: Engine, at: float) -> None:
    """Move event time on with an event no rule here takes (a vote)."""
    eng.process(event(999_999, at=at, type="vote", agent_id="clock", post_id="p", target_agent_id="x", value=1))


@pytest.mark.parametrize("rule", [THRESHOLD, DISTINCT, {**NEAR_DUP, "events": ["post"]}])
def test_garbage_collection_empties_state_after_the_window(rule):
    rule = {**rule, "events": ["post"]}
    eng = engine(rule)
    run(eng, [event(i, at=i * MIN, community=f"c{i % 3}", agent_id=f"a{i}", text=BASE) for i in range(6)])
    state = eng.state.for_rule("t.rule")
    assert state  # something to forget
    _advance(eng, 6 * MIN)  # still within the window of the last event
    eng.collect_garbage()
    assert state, "state still needed inside the window was dropped"
    _advance(eng, 5 * MIN + 10 * MIN + 1)
    eng.collect_garbage()
    assert dict(state) == {}


def test_near_duplicate_refuses_a_threshold_it_could_never_reach():
    # Similarity is checked against a bucket's last 16 events: 17 similar ones can never be counted.
    with pytest.raises(Exception, match="threshold: at most 16"):
        engine({**NEAR_DUP, "threshold": 17})
    engine({**NEAR_DUP, "threshold": 16})  # the largest that can fire


def test_near_duplicate_keeps_only_what_it_compares():
    eng = engine({**NEAR_DUP, "count": "events", "threshold": 3})
    text = "claim your free claw tokens today before the supply runs out friends"
    run(eng, [event(i, at=i, agent_id=f"a{i}", text=text) for i in range(40)])
    rule = eng.rules[0]
    buckets = eng.state.for_rule(rule.id)
    assert buckets and max(len(v["ev"]) for _, v in buckets.items()) == 16  # not 40, not 64
