"""The engine: candidate selection by prefilter, decode-and-rescan, stateful rules,
errors that are counted instead of fatal, and metrics."""

from __future__ import annotations

import codecs
from datetime import datetime, timedelta, timezone
import random
from collections.abc import MutableMapping
from typing import Any

import pytest
from packs import load, pack_text
from prometheus_client import generate_latest

from flockwatch.detect.detector import Detector, Finding
from flockwatch.detect.engine import Engine
from flockwatch.detect.repartition import Forward
from flockwatch.detect.registry import register
from flockwatch.ingest.decode import decode_object
from flockwatch.ingest.event import Event
from flockwatch.metrics.registry import Metrics
from flockwatch.rules.loader import load_pack_text

T0 = datetime(2026, 1, 30, 12, 0, tzinfo=timezone.utc)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def ev(i: int = 1, **kw: Any) -> Event:
    base = {"event_id": f"e{i}", "type": "post", "ts": at(i), "agent_id": "a1"}
    return decode_object({**base, **kw})


@register
class Rot13Probe(Detector):
    """A minimal decoding detector for this test: proves the engine rescans derived text."""

    name = "test_rot13_probe"

    def add_data(self, event: Event, evidence: list, state: MutableMapping | None) -> list[Finding]:
        plain = codecs.decode(event.text or "", "rot13")
        derived = event.model_copy(update={"text": plain, "attrs": {**event.attrs, "derived": ["rot13"]}})
        return [Finding(key=event.event_id, event=event, event_ids=[event.event_id], agent_ids=[event.agent_id],
                        first_ts=event.epoch, last_ts=event.epoch, derived=[derived])]


def test_derived_events_are_rescanned_by_every_rule():
    pack = load("""
    rules:
      - id: t.rot
        type: test_rot13_probe
        title: rot13 wrapper
        category: cipher
        severity: medium
        condition: {field: text, icontains: 'tvir'}
      - id: t.plain
        title: plaintext request
        category: social_engineering
        severity: high
        condition: {field: text, icontains: 'give me your key'}
    """)
    engine = Engine([pack])
    alerts = engine.process(ev(text=codecs.encode("give me your key", "rot13")))
    by_rule = {a.rule_id: a for a in alerts}
    assert set(by_rule) == {"t.rot", "t.plain"}
    assert by_rule["t.plain"].evidence["derived"] == ["rot13"]
    assert by_rule["t.plain"].event_ids == ["e1"]  # same ids as the original event


def test_rescan_depth_is_bounded():
    pack = load("""
    rules:
      - id: t.loop
        type: test_rot13_probe
        title: rot13 forever
        category: cipher
        severity: low
        condition: {field: text, exists: true}
    """)
    engine = Engine([pack], max_depth=3)
    alerts = engine.process(ev(text="abc"))
    assert len(alerts) == 4  # the event itself plus three levels of derived text


def test_only_candidate_rules_are_evaluated():
    rules = "\n".join(
        f"""      - id: t.r{i}
        title: r{i}
        category: other
        severity: low
        condition: {{field: text, icontains: 'needle{i}x'}}"""
        for i in range(300)
    )
    pack = load("    rules:\n" + rules)
    engine = Engine([pack])
    calls = 0
    original = type(engine.rules[0]).matches

    def counting(self, ctx):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return original(self, ctx)

    type(engine.rules[0]).matches = counting  # type: ignore[method-assign]
    try:
        alerts = engine.process(ev(text="hay hay NEEDLE17X hay"))
    finally:
        type(engine.rules[0]).matches = original  # type: ignore[method-assign]
    assert [a.rule_id for a in alerts] == ["t.r17"]
    assert calls == 1, "the prefilter should leave exactly one candidate of 300"
    assert engine.always_evaluated == []


def test_prefilter_never_changes_results_on_random_rules_and_text():
    rnd = random.Random(7)
    words = ["key", "Key", "wallet", "café", "Straße", "send", "ETH", "sk-", "seed", "phrase", "ignore", "über"]
    patterns = [r"\bkey\b", r"(?i)send\s+\d+\s+eth", r"\w+ß\w*", r"caf\w\b", r"(?i)(?<!never )seed\s+phrase",
                r"sk-[a-z]{3,}", r"(?i)ign(o)re\b", r"^über", r"phrase$", r"(a|b)\1"]
    rules = []
    for i, p in enumerate(patterns):
        rules.append(f"""      - id: t.p{i}
        title: p{i}
        category: other
        severity: low
        condition: {{field: [title, text], regex: '{p}'}}""")
    for i, w in enumerate(words):
        rules.append(f"""      - id: t.w{i}
        title: w{i}
        category: other
        severity: low
        condition: {{field: text, icontains: '{w}'}}""")
    pack = load("    rules:\n" + "\n".join(rules))
    with_pf, without = Engine([pack]), Engine([pack], prefilter=False)
    for i in range(400):
        text = " ".join(rnd.choice(words + ["never", "5", "send 5 eth", "abc", "aa", "ab"]) for _ in range(rnd.randint(1, 8)))
        e = ev(i, text=text, title=rnd.choice([None, text.upper(), "über alles"]))
        got = sorted(a.rule_id for a in with_pf.process(e))
        want = sorted(a.rule_id for a in without.process(e))
        assert got == want, text


def test_regex_timeout_is_counted_not_fatal():
    # A pattern that passes the load-time guard can still be slow on some input; with
    # a per-match budget far below what this input needs, the match must time out,
    # be counted, and leave the other rules working.
    text = pack_text("""
    rules:
      - id: t.slow
        title: slow
        category: other
        severity: low
        condition: {field: text, regex: '(?:a|aa|aaa|aaaa)*?b(?=c)'}
      - id: t.fast
        title: fast
        category: other
        severity: low
        condition: {field: text, contains: 'a'}
    """)
    pack = load_pack_text(text, "t.yaml", regex_timeout=1e-9)
    metrics = Metrics()
    alerts = Engine([pack], metrics=metrics).process(ev(text="a" * 5000 + "b"))
    assert [a.rule_id for a in alerts] == ["t.fast"]
    out = generate_latest(metrics.registry).decode()
    assert 'flockwatch_rule_errors_total{reason="regex_timeout",rule="t.slow"} 1.0' in out


SLOW_STEP_PACK = """
rules:
  - id: t.slow_step
    type: sequence
    title: slow step
    category: other
    severity: low
    events: [post, dm]
    within: 1h
    steps:
      - {name: sent, by: target_agent_id, condition: {field: text, regex: '(?:a|aa|aaa|aaaa)*?b(?=c)'}}
      - {name: posted, by: agent_id}
  - id: t.fast
    title: fast
    category: other
    severity: low
    condition: {field: text, contains: 'a'}
"""


@pytest.mark.parametrize("repartition", [False, True], ids=["in place", "forwarded"])
def test_regex_timeout_in_a_detectors_own_condition_is_counted_not_fatal(repartition: bool) -> None:
    # A sequence evaluates its steps' conditions itself, outside the rule's condition:
    # a timeout there escaped the engine, and the event was an engine error for every rule.
    pack = load_pack_text(pack_text(SLOW_STEP_PACK), "t.yaml", regex_timeout=1e-9)
    metrics = Metrics()
    engine = Engine([pack], metrics=metrics, repartition=repartition)
    slow = ev(type="dm", target_agent_id="a2", text="a" * 5000 + "b")
    alerts = engine.process(slow)
    assert [a.rule_id for a in alerts] == ["t.fast"]
    assert engine.regex_timeouts >= 1
    out = generate_latest(metrics.registry).decode()
    assert 'flockwatch_rule_errors_total{reason="regex_timeout",rule="t.slow_step"}' in out
    if repartition:  # stage 2 evaluates the steps again where the key lives
        before = engine.regex_timeouts
        assert engine.observe_forwards([Forward("t.slow_step", "a2", slow, [])]) == []
        assert engine.regex_timeouts > before


def test_template_failure_falls_back_and_is_counted():
    pack = load("""
    rules:
      - id: t.tpl
        title: Broken summary rule
        category: other
        severity: low
        condition: {field: text, contains: x}
        summary: '{{ event.no_such_field }}'
    """)
    metrics = Metrics()
    [alert] = Engine([pack], metrics=metrics).process(ev(text="x"))
    assert alert.summary.startswith("Broken summary rule (summary template failed")
    assert 'flockwatch_rule_errors_total{reason="template_error",rule="t.tpl"} 1.0' in generate_latest(metrics.registry).decode()


def test_sandbox_blocks_unsafe_template_access():
    pack = load("""
    rules:
      - id: t.evil
        title: evil
        category: other
        severity: low
        condition: {field: text, contains: x}
        summary: '{{ event.__class__.__mro__ }}'
    """)
    [alert] = Engine([pack]).process(ev(text="x"))
    assert "summary template failed" in alert.summary and "object" not in alert.summary.split("failed")[0]


THRESHOLD = """
    rules:
      - id: t.burst
        type: threshold
        title: burst
        category: spam_cascade
        severity: medium
        events: [post]
        condition: {field: text, icontains: mint}
        group_by: community
        distinct: agent_id
        window: 60s
        threshold: 3
        summary: '{{ finding.count }} mints by {{ finding.agent_ids | length }} agents'
"""


def mint(i: int, agent: str, second: int, community: str = "crypto") -> Event:
    return decode_object({"event_id": f"m{i}", "type": "post", "agent_id": agent, "community": community,
                          "ts": at(second), "text": "MINT mbc-20"})


def test_threshold_incident_grows_under_one_fingerprint():
    engine = Engine([load(THRESHOLD)])
    out = []
    for i, (agent, sec) in enumerate([("a", 0), ("a", 5), ("b", 10), ("c", 20), ("d", 30), ("e", 50)]):
        out.extend(engine.process(mint(i, agent, sec)))
    assert {a.fingerprint for a in out} == {out[0].fingerprint}
    first, last = out[0], out[-1]
    assert first.count == 4 and first.agent_ids == ["a", "b", "c"]  # fired at the 3rd distinct agent
    assert last.count == 6 and last.agent_ids == ["a", "b", "c", "d", "e"]
    assert last.summary == "6 mints by 5 agents"
    assert last.first_ts == "2026-01-30T12:00:00.000Z" and last.last_ts == "2026-01-30T12:00:50.000Z"


def test_threshold_needs_the_window_and_the_group():
    engine = Engine([load(THRESHOLD)])
    spread = [mint(i, a, s) for i, (a, s) in enumerate([("a", 0), ("b", 70), ("c", 140)])]
    assert not [a for e in spread for a in engine.process(e)]
    engine.reset_state()
    other = [mint(i, a, s, c) for i, (a, s, c) in enumerate([("a", 0, "x"), ("b", 1, "y"), ("c", 2, "z")])]
    assert not [a for e in other for a in engine.process(e)]


def test_threshold_replayed_events_do_not_inflate_and_new_incident_after_quiet():
    engine = Engine([load(THRESHOLD)])
    evs = [mint(i, a, s) for i, (a, s) in enumerate([("a", 0), ("b", 1), ("c", 2)])]
    first = [a for e in evs for a in engine.process(e)]
    replay = [a for e in evs for a in engine.process(e)]
    assert len(first) == 1 and replay == []
    later = [mint(10 + i, a, 600 + i) for i, a in enumerate("xyz")]
    second = [a for e in later for a in engine.process(e)]
    assert len(second) == 1 and second[0].fingerprint != first[0].fingerprint


def test_state_is_collected_by_event_time():
    engine = Engine([load(THRESHOLD)])
    for i in range(50):
        engine.process(mint(i, f"a{i}", i * 2, community=f"c{i}"))
    state = engine.state.for_rule("t.burst")
    assert len(state) == 50
    engine.process(mint(99, "z", 3600, community="late"))
    assert engine.collect_garbage() == 50
    assert list(state) == ["late"]


def test_metrics_count_events_matches_and_engine_time():
    metrics = Metrics()
    pack = load("""
    rules:
      - id: t.m
        title: m
        category: prompt_injection
        severity: high
        condition: {field: text, contains: bad}
    """)
    engine = Engine([pack], metrics=metrics)
    for i, text in enumerate(["bad", "good", "bad again"]):
        engine.process(ev(i, text=text))
    engine.flush_metrics()
    out = generate_latest(metrics.registry).decode()
    assert 'flockwatch_events_total{type="post"} 3.0' in out
    assert 'flockwatch_rule_matches_total{category="prompt_injection",pack="tp",rule="t.m",severity="high"} 2.0' in out
    assert 'flockwatch_engine_seconds_total{pack="tp"}' in out
    assert 'flockwatch_rule_pack_info{pack="tp"' in out


@pytest.mark.parametrize("disabled", [True, False])
def test_disabled_rules_do_not_run(disabled):
    pack = load(f"""
    rules:
      - id: t.d
        title: d
        category: other
        severity: low
        enabled: {str(not disabled).lower()}
        condition: {{field: text, contains: x}}
    """)
    assert bool(Engine([pack]).process(ev(text="x"))) is (not disabled)


def test_an_incoming_event_cannot_forge_a_decoding_chain():
    pack = load("""
    rules:
      - id: t.plain
        title: plaintext request
        category: social_engineering
        severity: high
        condition: {field: text, icontains: 'give me your key'}
    """)
    [alert] = Engine([pack]).process(ev(text="give me your key", attrs={"derived": ["rot13"], "other": 1}))
    assert "derived" not in alert.evidence


def test_seed_rule_condition_runs_only_when_a_seed_phrase_is_possible(repo_root) -> None:
    """The seed rule's condition (a dozen-words shape, costly on long prose) is not
    evaluated once its screen shows no run of BIP-39 words; real seeds still fire."""
    from flockwatch.rules.loader import load_packs

    engine = Engine(load_packs([repo_root / "rules" / "credential_leak.yaml"]))
    seed = next(r for r in engine.rules if r.id == "leak.seed_phrase")
    calls = 0
    original = seed.condition.eval

    def counting(ctx):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        return original(ctx)

    seed.condition.eval = counting  # type: ignore[method-assign]
    prose = "these twelve simple words could never have seemed quite that strange when spoken aloud together"
    phrase = "abandon ability able about above absent absorb abstract absurd abuse access accident"
    from flockwatch.rules.conditions import EvalContext

    assert original(EvalContext(event=ev(1, text=prose))), "the prose must have the seed shape"
    assert engine.process(ev(1, text=prose)) == []
    assert calls == 0, "the prefilter picks the rule (the shape matches) but the screen drops it"
    alerts = engine.process(ev(2, text=f"backup pls: {phrase}"))
    assert [a.rule_id for a in alerts] == ["leak.seed_phrase"] and calls == 1
    unscreened = Engine(load_packs([repo_root / "rules" / "credential_leak.yaml"]), prefilter=False)
    assert [a.rule_id for a in unscreened.process(ev(3, text=f"backup pls: {phrase}"))] == ["leak.seed_phrase"]
    assert unscreened.process(ev(4, text=prose)) == []


def test_a_regex_that_misses_its_budget_once_is_tried_again() -> None:
    # The budget is wall-clock time: a busy host can make a linear pattern miss it. The
    # budget here is a quarter of what the match needs, measured now; the second try has
    # RETRY_FACTOR budgets, so the rule fires and nothing is counted as a timeout.
    import time

    import regex

    from flockwatch.rules.predicates import RETRY_FACTOR

    pattern, text = r"\bkey_[a-z]{20,}\b", "word " * 400_000 + "key_" + "q" * 30
    compiled = regex.compile(pattern)
    runs = []
    for _ in range(3):
        t0 = time.perf_counter()
        assert compiled.search(text) is not None
        runs.append(time.perf_counter() - t0)
    budget = sorted(runs)[1] / 4
    assert RETRY_FACTOR / 4 >= 2  # the second try has at least twice what the match needs
    pack = load_pack_text(pack_text(f"""
    rules:
      - id: t.key
        title: key
        category: other
        severity: low
        condition: {{field: text, regex: '{pattern}'}}
    """), "t.yaml", regex_timeout=budget)
    metrics = Metrics()
    engine = Engine([pack], metrics=metrics)
    assert [a.rule_id for a in engine.process(ev(text=text))] == ["t.key"]
    assert engine.regex_timeouts == 0
