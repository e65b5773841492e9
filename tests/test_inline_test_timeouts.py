"""A regex that runs past its wall-clock budget during an inline test: the case runs
again, and one that keeps timing out says so. Without this, a busy worker refused a
good pack on reload because leak.platform_key timed out on its own test event."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from flockwatch.detect.engine import Engine
from flockwatch.rules.loader import load_packs
from flockwatch.rules.reload import RuleSet
from flockwatch.rules.testing import TIMEOUT_ATTEMPTS, run_retrying_timeouts, run_rule_tests
from flockwatch.rules.testing import TestResult as CaseResult  # not "Test*": pytest would collect it

PACK = """\
pack:
  name: keys
  version: 1.0.0
  requires_engine: ">=1.0,<2"
rules:
  - id: keys.platform
    title: Platform key
    description: a key shaped string
    category: credential_leak
    severity: high
    events: [post]
    condition:
      field: text
      regex: '\\bmoltbook_(?:sk_)?[A-Za-z0-9_-]{{20,}}'
    tests:
      fire: [{{text: "here {fire}"}}]
      quiet: [{{text: "nothing to see"}}]
"""
KEY = "moltbook_sk_" + "a" * 30
# With a budget of a nanosecond every search of this pattern times out: the `regex`
# module checks its clock before the first character.
NO_TIME = 1e-9


def write_pack(tmp_path: Path, fire: str = KEY) -> Path:
    d = tmp_path / "rules"
    d.mkdir(exist_ok=True)
    (d / "keys.yaml").write_text(PACK.format(fire=fire))
    return d


def results(tmp_path: Path, regex_timeout: float, fire: str = KEY) -> dict[str, CaseResult]:
    packs = load_packs([write_pack(tmp_path, fire)], regex_timeout)
    return {r.kind: r for r in run_rule_tests(packs)}


def test_a_timing_out_pattern_fails_and_says_it_timed_out(tmp_path: Path) -> None:
    got = results(tmp_path, NO_TIME)
    assert not got["fire"].passed
    assert "did not fire" in got["fire"].message
    assert f"timed out {TIMEOUT_ATTEMPTS} times over {TIMEOUT_ATTEMPTS} runs" in got["fire"].message
    # The quiet case passes: a timeout counts as no match, as it does live.
    assert got["quiet"].passed


def test_a_plain_failure_runs_once_and_says_nothing_of_time(tmp_path: Path) -> None:
    got = results(tmp_path, 0.05, fire="no key in this one")
    assert not got["fire"].passed
    assert got["fire"].message == "did not fire"


def test_the_same_pack_passes_with_its_normal_budget(tmp_path: Path) -> None:
    got = results(tmp_path, 0.05)
    assert got["fire"].passed and got["quiet"].passed


def scripted(engine: Engine, outcomes: list[tuple[bool, int]]) -> tuple[Iterator[CaseResult], list[int]]:
    """A case that fails or passes in turn, counting `timeouts` regex timeouts per run the
    way the engine does, so the retry policy is seen on every sequence, not only on
    what a loaded machine happens to do."""
    runs: list[int] = []

    def gen() -> Iterator[CaseResult]:
        for passed, timeouts in outcomes:
            runs.append(1)
            engine.regex_timeouts += timeouts
            yield CaseResult("r", "f.yaml", 1, "fire", 0, passed, "" if passed else "did not fire")
    return gen(), runs


def engine(tmp_path: Path) -> Engine:
    return Engine(load_packs([write_pack(tmp_path)]))


def test_a_case_that_timed_out_once_then_fires_passes(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    it, runs = scripted(eng, [(False, 1), (True, 0)])
    assert run_retrying_timeouts(lambda: next(it), eng).passed
    assert len(runs) == 2


def test_a_failure_without_a_timeout_is_not_retried(tmp_path: Path) -> None:
    eng = engine(tmp_path)
    it, runs = scripted(eng, [(False, 0), (True, 0)])
    assert run_retrying_timeouts(lambda: next(it), eng).message == "did not fire"
    assert len(runs) == 1


def test_a_timeout_then_a_finished_miss_is_a_plain_failure(tmp_path: Path) -> None:
    # The second run's match finished and did not fire: the rule is wrong, not the clock.
    eng = engine(tmp_path)
    it, runs = scripted(eng, [(False, 2), (False, 0), (True, 0)])
    assert run_retrying_timeouts(lambda: next(it), eng).message == "did not fire"
    assert len(runs) == 2


def test_reload_refusal_names_the_timeout(tmp_path: Path) -> None:
    d = write_pack(tmp_path)
    rs = RuleSet([d], test_on_start=True)
    (d / "keys.yaml").write_text(PACK.format(fire=KEY) + "# changed\n")
    rs.regex_timeout = NO_TIME  # the budget the reload loads the new packs with
    res = rs.reload("manual")
    assert res.outcome == "tests_failed"
    assert "timed out" in res.reason and "keys.platform" in res.reason
