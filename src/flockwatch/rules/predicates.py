"""Field predicates, registered by operator name.

Each operator compiles its YAML value once into a test function. String operators
also describe themselves as an RE2 pattern (`prefilter`) that matches whenever the
predicate could be true, so the engine can find candidate rules for an event in one
multi-pattern pass and confirm only those with the real test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import regex

from flockwatch.rules.prefilter import escape_literal, to_re2

# A test returns None for "no match", or a short string describing what matched.
Test = Callable[[Any], "str | None"]


class PredicateValueError(ValueError):
    pass


@dataclass(frozen=True)
class CompiledOp:
    test: Test
    prefilter: str | None  # RE2 pattern; None means "cannot prefilter" (evaluate always)
    prefilter_note: str = ""  # why there is no prefilter, for `rules validate`
    is_string_op: bool = True
    regex_sources: tuple[str, ...] = ()  # for the backtracking guard


_OPS: dict[str, Callable[[Any, float], CompiledOp]] = {}


def register(name: str) -> Callable[[Callable[[Any, float], CompiledOp]], Callable[[Any, float], CompiledOp]]:
    def deco(fn: Callable[[Any, float], CompiledOp]) -> Callable[[Any, float], CompiledOp]:
        _OPS[name] = fn
        return fn

    return deco


def operators() -> tuple[str, ...]:
    return tuple(_OPS)


def compile_op(op: str, value: Any, regex_timeout: float) -> CompiledOp:
    try:
        factory = _OPS[op]
    except KeyError:
        raise PredicateValueError(f"unknown operator {op!r}; known: {', '.join(sorted(_OPS))}") from None
    return factory(value, regex_timeout)


def _strings(value: Any, op: str) -> list[str]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, str) and v for v in items):
        raise PredicateValueError(f"{op} takes a non-empty string or a list of them")
    return items


def _snip(s: str, limit: int = 160) -> str:
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _alt(patterns: list[str]) -> str:
    return patterns[0] if len(patterns) == 1 else "(?:" + "|".join(patterns) + ")"


@register("equals")
def _equals(value: Any, _t: float) -> CompiledOp:
    if isinstance(value, str):
        return CompiledOp(lambda v: _snip(v) if v == value else None, "^" + escape_literal(value) + "$")
    return CompiledOp(lambda v: repr(v) if v == value and v is not None else None, None, is_string_op=False)


@register("in")
def _in(value: Any, _t: float) -> CompiledOp:
    if not isinstance(value, list) or not value:
        raise PredicateValueError("in takes a non-empty list")
    members = frozenset(value)
    if all(isinstance(v, str) for v in value):
        pf = "^" + _alt([escape_literal(v) for v in value]) + "$"
        return CompiledOp(lambda v: _snip(v) if v in members else None, pf)
    return CompiledOp(
        lambda v: repr(v) if v is not None and not isinstance(v, (dict, list)) and v in members else None,
        None,
        is_string_op=False,
    )


@register("contains")
def _contains(value: Any, _t: float) -> CompiledOp:
    needles = _strings(value, "contains")

    def test(v: Any) -> str | None:
        if isinstance(v, str):
            for n in needles:
                if n in v:
                    return n
        return None

    return CompiledOp(test, _alt([escape_literal(n) for n in needles]))


@register("icontains")
def _icontains(value: Any, _t: float) -> CompiledOp:
    needles = [n.lower() for n in _strings(value, "icontains")]

    def test(v: Any) -> str | None:
        if isinstance(v, str):
            low = v.lower()
            for n in needles:
                if n in low:
                    return n
        return None

    return CompiledOp(test, "(?i)" + _alt([escape_literal(n) for n in needles]))


@register("startswith")
def _startswith(value: Any, _t: float) -> CompiledOp:
    prefixes = tuple(_strings(value, "startswith"))
    return CompiledOp(
        lambda v: _snip(v) if isinstance(v, str) and v.startswith(prefixes) else None,
        "^" + _alt([escape_literal(p) for p in prefixes]),
    )


@register("endswith")
def _endswith(value: Any, _t: float) -> CompiledOp:
    suffixes = tuple(_strings(value, "endswith"))
    return CompiledOp(
        lambda v: _snip(v) if isinstance(v, str) and v.endswith(suffixes) else None,
        _alt([escape_literal(p) for p in suffixes]) + "$",
    )


class RegexTimeout(Exception):
    """A rule pattern ran past its per-match time budget, twice (see `RETRY_FACTOR`)."""


# The `regex` module's timeout is wall-clock time, so a thread descheduled on a busy host
# misses it on a pattern that is linear (seen in CI: leak.platform_key on a key-shaped
# test event). A match that times out is tried once more with this many budgets; only if
# that times out too is it a timeout, counted and treated as no match. A pattern that
# really backtracks costs (1 + RETRY_FACTOR) budgets on the input that trips it.
RETRY_FACTOR = 10


@register("regex")
def _regex(value: Any, timeout: float) -> CompiledOp:
    sources = _strings(value, "regex")
    try:
        compiled = [regex.compile(s, regex.V0) for s in sources]
    except regex.error as exc:
        raise PredicateValueError(f"regex does not compile: {exc}") from None

    def test(v: Any) -> str | None:
        if not isinstance(v, str):
            return None
        for p in compiled:
            try:
                m = p.search(v, timeout=timeout)
            except TimeoutError:
                try:
                    m = p.search(v, timeout=timeout * RETRY_FACTOR)
                except TimeoutError:
                    raise RegexTimeout(p.pattern) from None
            if m is not None:
                return _snip(m.group(0))
        return None

    translated = [to_re2(s) for s in sources]
    if any(t.pattern is None for t in translated):
        notes = "; ".join(t.note for t in translated if t.pattern is None)
        return CompiledOp(test, None, prefilter_note=notes, regex_sources=tuple(sources))
    return CompiledOp(test, _alt([t.pattern for t in translated if t.pattern]), regex_sources=tuple(sources))


@register("exists")
def _exists(value: Any, _t: float) -> CompiledOp:
    if not isinstance(value, bool):
        raise PredicateValueError("exists takes true or false")

    def present(v: Any) -> bool:
        return v is not None and v != "" and v != {} and v != []

    if value:
        return CompiledOp(lambda v: "present" if present(v) else None, None, is_string_op=False)
    return CompiledOp(lambda v: "absent" if not present(v) else None, None, is_string_op=False)


@register("length")
def _length(value: Any, _t: float) -> CompiledOp:
    if not isinstance(value, dict) or not set(value) - {"__line__"} <= {"min", "max"}:
        raise PredicateValueError("length takes {min: N, max: N} (either or both)")
    lo = value.get("min", 0)
    hi = value.get("max")
    if not isinstance(lo, int) or (hi is not None and not isinstance(hi, int)):
        raise PredicateValueError("length bounds must be whole numbers")
    if lo < 0 or (hi is not None and hi < max(lo, 0)):  # no length lies within them
        raise PredicateValueError(f"length bounds min {lo} and max {hi} admit no length")

    def test(v: Any) -> str | None:
        if isinstance(v, (str, list)) and len(v) >= lo and (hi is None or len(v) <= hi):
            return f"length {len(v)}"
        return None

    return CompiledOp(test, None, is_string_op=False)
