"""Inline rule tests: every rule carries events that must fire it and events that
must not. They run through the production engine (prefilter included), with every
pack under test loaded, so decode-and-rescan and exceptions behave as they do live.

A case is either one event (a mapping of event fields) or
`{description: ..., events: [...], expect: {...}}` where each event may carry `at`
(seconds or a duration like `90s` after the case start). Missing required fields are
filled in: `event_id`, `ts`, `agent_id`, and `type` (the rule's first event type).
`expect` checks fields of the rule's last alert (e.g. `severity`, `count`).
A fire case also fails if the rule's summary template cannot render on its alert.

A regex match that runs past its time budget counts as no match, as it does live. The
budget is wall-clock time, so a worker reloading its rules on a busy host can see a
linear pattern time out on a test event and would refuse a good pack for it (seen in
CI: leak.platform_key's fire case under load). A case that fails while a regex timed
out is therefore run again, up to `TIMEOUT_ATTEMPTS` times in all; one that still fails
says the pattern timed out, so a pattern slow on its own test events is still refused,
and not as "did not fire".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from flockwatch.alerts.collector import AlertCollector
from flockwatch.detect.compiled import CompiledPack, CompiledRule
from flockwatch.detect.durations import parse_duration
from flockwatch.detect.engine import Engine
from flockwatch.ingest.decode import DecodeFailure, decode_object
from flockwatch.ingest.event import EVENT_TYPES

BASE_TS = datetime(2026, 1, 30, 12, 0, tzinfo=timezone.utc)
TIMEOUT_ATTEMPTS = 3  # runs of a case that failed while a regex timed out


@dataclass(frozen=True)
class TestResult:
    rule_id: str
    file: str
    line: int
    kind: str  # fire | quiet
    index: int
    passed: bool
    message: str = ""

    def __str__(self) -> str:
        status = "ok  " if self.passed else "FAIL"
        msg = f": {self.message}" if self.message else ""
        return f"{status} {self.file}:{self.line} [{self.rule_id}] {self.kind}[{self.index}]{msg}"


CASE_KEYS = frozenset({"description", "events", "expect"})  # of a case with `events:`


def _check_case(case: dict[str, Any], kind: str) -> None:
    """Refuse a case whose parts the runner would drop: a misspelt `expect`, or event
    fields beside `events:`, would otherwise leave a case that passes whatever the rule does."""
    if "events" in case:
        unknown = sorted(set(case) - CASE_KEYS)
        if unknown:
            raise ValueError(f"unknown keys {unknown} beside events (a case with events takes "
                             f"{', '.join(sorted(CASE_KEYS))}; event fields go in each event)")
        events = case["events"]
        if not isinstance(events, list) or not events or not all(isinstance(e, dict) for e in events):
            raise ValueError("events must be a non-empty list of events (mappings)")
    if "expect" in case:
        if kind != "fire":
            raise ValueError("expect checks the alert a fire case raises; a quiet case has none")
        if not isinstance(case["expect"], dict):
            raise ValueError("expect must be a mapping of alert fields to values")


def _case_events(rule: CompiledRule, case: dict[str, Any], case_no: int) -> list[dict[str, Any]]:
    meta_keys = ("description", "expect")
    raw_events = case["events"] if "events" in case else [{k: v for k, v in case.items() if k not in meta_keys}]
    default_type = next(t for t in EVENT_TYPES if t in rule.events) if rule.events else "post"
    out = []
    for i, raw in enumerate(raw_events):
        ev = {k: v for k, v in raw.items() if k != "at"}
        offset = parse_duration(raw.get("at", 0), allow_zero=True)
        ev.setdefault("event_id", f"test-{rule.id}-{case_no}-{i}")
        ev.setdefault("type", default_type)
        ev.setdefault("agent_id", "test-agent")
        ev.setdefault("ts", (BASE_TS + timedelta(seconds=offset + i * 0.001)).isoformat())
        out.append(ev)
    return out


def run_rule_tests(packs: list[CompiledPack]) -> list[TestResult]:
    engine = Engine(packs, include_disabled=True)
    results: list[TestResult] = []
    for rule in engine.rules:
        for kind in ("fire", "quiet"):
            for n, case in enumerate(rule.tests.get(kind, [])):
                results.append(_run_case(engine, rule, kind, n, case))
    return results


def _run_case(engine: Engine, rule: CompiledRule, kind: str, n: int, case: dict[str, Any]) -> TestResult:
    res = run_retrying_timeouts(lambda: _run_case_once(engine, rule, kind, n, case), engine)
    if not res.passed and rule.overridden_by:
        # The case is the pack author's, the rule is tuned by someone else: point at the
        # override, which is where the case is kept or replaced (`tests: replace`).
        res = replace(res, message=f"{res.message} (rule tuned by the override at {'; '.join(rule.overridden_by)}:"
                                   " if the tuning is meant, replace or append this rule's tests there)")
    return res


def run_retrying_timeouts(run_once: Callable[[], TestResult], engine: Engine,
                          attempts: int = TIMEOUT_ATTEMPTS) -> TestResult:
    """`run_once()` again while it fails and `engine` counted a regex timeout during it."""
    timed_out = 0
    for _ in range(attempts):
        before = engine.regex_timeouts
        res = run_once()
        if res.passed or engine.regex_timeouts == before:
            return res  # passed, or failed on a match that finished: a real failure
        timed_out += engine.regex_timeouts - before
    note = (f"{res.message}; a regex timed out {timed_out} times over {attempts} runs"
            " (its per-match budget is wall-clock time: too slow a pattern or too busy a machine)")
    return replace(res, message=note)


def _run_case_once(engine: Engine, rule: CompiledRule, kind: str, n: int, case: dict[str, Any]) -> TestResult:
    def result(passed: bool, message: str = "") -> TestResult:
        return TestResult(rule.id, rule.file, rule.line, kind, n, passed, message)

    engine.reset_state()
    collector = AlertCollector()
    try:
        _check_case(case, kind)
        raw_events = _case_events(rule, case, n)
    except (ValueError, TypeError) as exc:
        return result(False, f"bad test case: {exc}")
    for raw in raw_events:
        event = decode_object(raw)
        if isinstance(event, DecodeFailure):
            return result(False, f"test event is not a valid event: {event.message}")
        collector.add(engine.process(event))
    mine = [a for a in collector.alerts() if a.rule_id == rule.id]
    label = case.get("description", "")
    if kind == "quiet":
        if mine:
            return result(False, f"{label} fired but must not: {mine[0].summary}".strip())
        return result(True)
    if not mine:
        return result(False, f"{label} did not fire".strip())
    if rule.id in engine.template_errors:  # live, every alert would carry the fallback summary
        return result(False, f"{label} summary template failed: {engine.template_errors[rule.id]}".strip())
    expect = case.get("expect") or {}
    got = mine[-1].model_dump()
    for key, want in expect.items():
        if got.get(key) != want:
            return result(False, f"{label} expected {key}={want!r}, got {got.get(key)!r}".strip())
    return result(True)
