"""The backtracking guard's dynamic probe must judge the pattern, not the machine. Its
first probe uses the `regex` module's wall-clock timeout; a rule reload runs on a thread
beside a busy event loop, often on a loaded host, and once refused a linear cascades
pattern that way (a 10 µs search "took over 50 ms"). A timed-out probe is now confirmed
by the CPU time the search really takes."""

from __future__ import annotations

import regex

from flockwatch.rules.redos import _confirm_slow, _probes, dynamic_problem, static_problem

LINEAR = r'"tick"\s*:\s*"([^"]{1,16})"'  # the pattern refused under load
EXPONENTIAL = r"(\w|\d)*!"  # overlapping alternatives under a repeat


def test_confirmation_clears_a_linear_pattern() -> None:
    compiled = regex.compile(LINEAR)
    assert not any(_confirm_slow(compiled, probe, budget=0.05) for probe in _probes(LINEAR))


def test_confirmation_keeps_a_pattern_that_really_backtracks() -> None:
    compiled = regex.compile(EXPONENTIAL)
    assert any(_confirm_slow(compiled, probe, budget=0.05) for probe in _probes(EXPONENTIAL))


def test_the_dynamic_probe_still_refuses_what_the_static_check_misses() -> None:
    assert static_problem(EXPONENTIAL) is None
    assert dynamic_problem(EXPONENTIAL) is not None
    assert dynamic_problem(LINEAR) is None
