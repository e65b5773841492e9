"""Catastrophic-backtracking guard for rule patterns.

Two checks, because neither alone is enough:
1. static: an unbounded repeat nested inside another unbounded repeat (`(a+)+`,
   `(\\w+\\s?)*`) is the classic exponential shape; it is refused outright.
2. dynamic: the pattern is run against adversarial inputs built from its own
   characters with a short timeout; a pattern that times out is refused.
At run time every match also has a timeout, so a pattern that slips through both
costs one bounded match, never a stalled pipeline.
"""

from __future__ import annotations

import re._constants as sre_c  # type: ignore[import-not-found]
import re._parser as sre_parse  # type: ignore[import-not-found]
import time

import regex

_UNBOUNDED = sre_c.MAXREPEAT
_REPEATS = {sre_c.MAX_REPEAT, sre_c.MIN_REPEAT, getattr(sre_c, "POSSESSIVE_REPEAT", None)}
_BIG = 16  # a bounded repeat above this behaves like an unbounded one for backtracking


def _has_unbounded_repeat(items: list) -> bool:
    for op, av in items:
        if op in _REPEATS:
            lo, hi, sub = av
            if hi == _UNBOUNDED or hi > _BIG or _has_unbounded_repeat(list(sub)):
                return True
        elif op is sre_c.SUBPATTERN:
            if _has_unbounded_repeat(list(av[-1])):
                return True
        elif op is sre_c.BRANCH:
            if any(_has_unbounded_repeat(list(b)) for b in av[1]):
                return True
    return False


def _anchored_by_literal(items: list) -> bool:
    """True if every way through `items` passes a fixed literal character outside any
    repeat: `(?:all\\s+|any\\s+)*` is linear because each round must start with a
    literal, while `(\\w+\\s?)*` is not. (The dynamic probe still runs on both.)"""
    if len(items) == 1 and items[0][0] is sre_c.SUBPATTERN:
        return _anchored_by_literal(list(items[0][1][-1]))
    if len(items) == 1 and items[0][0] is sre_c.BRANCH:
        return all(_anchored_by_literal(list(b)) for b in items[0][1][1])
    return any(op is sre_c.LITERAL for op, _ in items)


def _nested(items: list, inside_repeat: bool = False) -> str | None:
    for op, av in items:
        if op in _REPEATS:
            lo, hi, sub = av
            unbounded = hi == _UNBOUNDED or hi > _BIG
            if inside_repeat and unbounded:
                return "nested unbounded repetition"
            if unbounded and _anchored_by_literal(list(sub)):
                continue
            if unbounded and _has_unbounded_repeat(list(sub)):
                return "nested unbounded repetition"
            found = _nested(list(sub), inside_repeat or unbounded)
            if found:
                return found
        elif op is sre_c.SUBPATTERN:
            found = _nested(list(av[-1]), inside_repeat)
            if found:
                return found
        elif op is sre_c.BRANCH:
            for b in av[1]:
                found = _nested(list(b), inside_repeat)
                if found:
                    return found
    return None


def static_problem(pattern: str) -> str | None:
    try:
        parsed = sre_parse.parse(pattern)
    except Exception:  # noqa: BLE001 - `regex` syntax that `re` cannot read; the probe still runs
        return None
    return _nested(list(parsed))


def _probes(pattern: str) -> list[str]:
    chars = sorted({c for c in pattern if c.isalnum() or c in " _-.@/"}) or ["a"]
    probes = []
    for c in chars[:6] + ["a", " ", "0"]:
        probes.append(c * 3000 + "\u0000!")
    probes.append(("ab " * 1000) + "\u0000")
    return probes


CONFIRM_FACTOR = 20  # a timed-out probe is re-run with this many budgets of wall time


def dynamic_problem(pattern: str, budget: float = 0.05) -> str | None:
    try:
        compiled = regex.compile(pattern)
    except regex.error as exc:
        return f"does not compile: {exc}"
    for probe in _probes(pattern):
        try:
            compiled.search(probe, timeout=budget)
        except TimeoutError:
            if _confirm_slow(compiled, probe, budget):
                return f"took over {budget * 1000:.0f} ms on a {len(probe)}-char adversarial input"
    return None


def _confirm_slow(compiled: regex.Pattern, probe: str, budget: float) -> bool:
    """The `regex` timeout is wall-clock time: on a loaded machine, or in a worker whose
    event loop holds the GIL while a rule reload runs on another thread, a linear pattern
    can miss it. Re-run with a longer deadline and judge by this thread's CPU time, which
    other processes and threads do not inflate."""
    cpu = time.thread_time()
    try:
        compiled.search(probe, timeout=budget * CONFIRM_FACTOR)
    except TimeoutError:
        return True
    return time.thread_time() - cpu > budget


def backtracking_problem(pattern: str) -> str | None:
    return static_problem(pattern) or dynamic_problem(pattern)
