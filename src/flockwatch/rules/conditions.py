"""Boolean condition trees (all / any / not / macro) over field predicates.

A condition is compiled once into nodes. Each string predicate gets a slot in the
engine's prefilter (`PrefilterSlot`); at evaluation time a predicate whose slot did
not fire in the prefilter pass is known to be false without running it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flockwatch.ingest.event import Event
from flockwatch.rules.fields import STRING_FIELDS, can_equal, getter, holds_strings, valid_field
from flockwatch.rules.predicates import CompiledOp, PredicateValueError, compile_op, operators
from flockwatch.rules.yaml_lines import LINE_KEY, line_of, strip_lines


class ConditionError(ValueError):
    def __init__(self, message: str, line: int = 0):
        super().__init__(message)
        self.line = line


@dataclass
class EvalContext:
    """Per-event scratch space shared by every rule evaluated on that event."""

    event: Event
    # (field, slot id) pairs the prefilter saw match; None = no prefilter ran (tests, fallback)
    hits: set[tuple[str, int]] | None = None
    evidence: list[dict[str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PrefilterSlot:
    slot: int
    fields: tuple[str, ...]
    pattern: str


class Node:
    def eval(self, ctx: EvalContext) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def need(self) -> frozenset[int] | None:
        """Prefilter slots of which at least one must hit for this node to be true,
        or None if the node can be true without any hit (then: always evaluate)."""
        return None


@dataclass
class Predicate(Node):
    fields: tuple[str, ...]
    op_name: str
    op: CompiledOp
    getters: tuple[Callable[[Event], Any], ...]
    slot: int | None = None  # set by the engine when the prefilter indexes it
    label: str = ""

    def eval(self, ctx: EvalContext) -> bool:
        for name, get in zip(self.fields, self.getters):
            if self.slot is not None and ctx.hits is not None and (name, self.slot) not in ctx.hits:
                continue
            value = get(ctx.event)
            if value is None and self.op.is_string_op:
                continue
            matched = self.op.test(value)
            if matched is not None:
                ctx.evidence.append({"field": name, "op": self.op_name, "match": matched})
                return True
        return False

    def need(self) -> frozenset[int] | None:
        return frozenset({self.slot}) if self.slot is not None else None


@dataclass
class AllOf(Node):
    children: list[Node]

    def eval(self, ctx: EvalContext) -> bool:
        return all(c.eval(ctx) for c in self.children)

    def need(self) -> frozenset[int] | None:
        # Every child must hold, so any one constrained child's need is necessary;
        # the narrowest one prunes most.
        needs = [n for n in (c.need() for c in self.children) if n is not None]
        return min(needs, key=len) if needs else None


@dataclass
class AnyOf(Node):
    children: list[Node]

    def eval(self, ctx: EvalContext) -> bool:
        return any(c.eval(ctx) for c in self.children)

    def need(self) -> frozenset[int] | None:
        needs = [c.need() for c in self.children]
        if not needs or any(n is None for n in needs):
            return None
        return frozenset().union(*needs)  # type: ignore[arg-type]


@dataclass
class Not(Node):
    child: Node

    def eval(self, ctx: EvalContext) -> bool:
        # Evidence gathered under a negation would explain nothing; drop it.
        mark = len(ctx.evidence)
        result = not self.child.eval(ctx)
        del ctx.evidence[mark:]
        return result


class TrueNode(Node):
    def eval(self, ctx: EvalContext) -> bool:
        return True


class ConditionCompiler:
    """Compiles raw YAML conditions, inlining macros and resolving `{list: name}`."""

    def __init__(self, lists: dict[str, list[Any]], macros: dict[str, Any], regex_timeout: float):
        self.lists = lists
        self.macros = macros
        self.regex_timeout = regex_timeout
        self.predicates: list[Predicate] = []
        self.predicate_lines: list[int] = []  # the YAML line of each of `predicates`, for errors
        self.notes: list[tuple[int, str]] = []  # (line, note) for `rules validate`

    def compile(self, raw: Any, _stack: tuple[str, ...] = ()) -> Node:
        if raw is None:
            return TrueNode()
        line = line_of(raw)
        if isinstance(raw, list):  # a bare list reads as `all`
            return AllOf([self.compile(c, _stack) for c in raw])
        if not isinstance(raw, dict):
            raise ConditionError(f"a condition must be a mapping, got {type(raw).__name__}", line)
        keys = set(raw) - {LINE_KEY}
        if keys == {"all"} or keys == {"any"}:
            (k,) = keys
            children = raw[k]
            if not isinstance(children, list) or not children:
                raise ConditionError(f"{k} takes a non-empty list of conditions", line)
            nodes = [self.compile(c, _stack) for c in children]
            return AllOf(nodes) if k == "all" else AnyOf(nodes)
        if keys == {"not"}:
            if raw["not"] is None:  # `not:` of nothing would be `not true`: never true
                raise ConditionError("not takes a condition", line)
            return Not(self.compile(raw["not"], _stack))
        if keys == {"macro"}:
            name = raw["macro"]
            if not isinstance(name, str):  # a list of names would be unhashable below
                raise ConditionError(f"macro takes one name, got {strip_lines(name)!r}", line)
            if name not in self.macros:
                raise ConditionError(f"unknown macro {name!r}", line)
            if name in _stack:
                raise ConditionError(f"macro cycle: {' -> '.join(_stack + (name,))}", line)
            return self.compile(self.macros[name], _stack + (name,))
        if "field" in keys:
            return self._predicate(raw, keys - {"field"}, line)
        raise ConditionError(
            f"cannot read condition with keys {sorted(keys)}: use all/any/not/macro or field + one of "
            f"{', '.join(operators())}",
            line,
        )

    def _resolve(self, value: Any, line: int, _seen: tuple[str, ...] = ()) -> Any:
        """Replace `{list: name}` with the named list's items; lists may include other
        lists (Falco style), e.g. `more: [{list: coins}, sol]`."""
        if isinstance(value, dict) and set(value) - {LINE_KEY} == {"list"}:
            name = value["list"]
            if not isinstance(name, str):  # a list of names would be unhashable below
                raise ConditionError(f"list takes one name, got {strip_lines(name)!r}", line)
            if name not in self.lists:
                raise ConditionError(f"unknown list {name!r}", line)
            if name in _seen:
                raise ConditionError(f"list cycle: {' -> '.join(_seen + (name,))}", line)
            return self._resolve(list(self.lists[name]), line, _seen + (name,))
        if isinstance(value, list):  # splice nested named lists in place
            out: list[Any] = []
            for v in value:
                r = self._resolve(v, line, _seen)
                out.extend(r if isinstance(v, dict) else [r])
            return out
        return value

    def _predicate(self, raw: dict[str, Any], ops: set[str], line: int) -> Predicate:
        if len(ops) != 1:
            raise ConditionError(
                f"a predicate takes exactly one operator, got {sorted(ops) or 'none'}", line
            )
        (op_name,) = ops
        names = raw["field"] if isinstance(raw["field"], list) else [raw["field"]]
        if not names:
            raise ConditionError("field takes a field name or a non-empty list of them", line)
        for n in names:
            if not isinstance(n, str) or not valid_field(n):
                raise ConditionError(f"unknown field {strip_lines(n)!r}", line)
        value = self._resolve(raw[op_name], line)
        try:
            op = compile_op(op_name, value, self.regex_timeout)
        except PredicateValueError as exc:
            raise ConditionError(f"{op_name}: {exc}", line) from None
        problem = _never_true(names, op_name, value)
        if problem:
            raise ConditionError(problem, line)
        if op.prefilter_note:
            self.notes.append((line, op.prefilter_note))
        pred = Predicate(
            fields=tuple(names),
            op_name=op_name,
            op=op,
            getters=tuple(getter(n) for n in names),
            label=f"{'|'.join(names)} {op_name}",
        )
        self.predicates.append(pred)
        self.predicate_lines.append(line)
        return pred

    def required_values(self, raw: Any, field: str, _stack: tuple[str, ...] = ()) -> set[Any] | None:
        """The values `field` must have for `raw` to hold, when its shape says so (a
        conjunction with `equals`/`in` on the field, or alternatives that all say so);
        None when anything goes. Reads the raw condition, after `compile` accepted it."""
        if isinstance(raw, list):
            raw = {"all": raw}
        if not isinstance(raw, dict):
            return None
        keys = set(raw) - {LINE_KEY}
        if keys == {"macro"} and raw["macro"] in self.macros and raw["macro"] not in _stack:
            return self.required_values(self.macros[raw["macro"]], field, _stack + (raw["macro"],))
        if keys in ({"all"}, {"any"}):
            parts = [self.required_values(c, field, _stack) for c in raw[next(iter(keys))]]
            if "all" in keys:
                known = [p for p in parts if p is not None]
                return set.intersection(*known) if known else None
            return None if any(p is None for p in parts) else set().union(*parts)
        if keys in ({"field", "equals"}, {"field", "in"}) and raw["field"] == field:
            (op,) = keys - {"field"}
            value = self._resolve(raw[op], line_of(raw))
            return {value} if op == "equals" else set(value)
        return None


_STRING_OPS = frozenset({"contains", "icontains", "startswith", "endswith", "regex", "length"})


def _never_true(names: list[str], op_name: str, value: Any) -> str | None:
    """Why a predicate can be true on no valid event, or None. The event schema is
    strict, so a value of the wrong type (`value: '-1'`, `to_operator: 'true'`) or a
    string operator on a bool never matches: a rule written so would load and never fire."""
    for name in names:
        if op_name in _STRING_OPS and not holds_strings(name):
            return f"{op_name} never matches {name!r}: it does not hold text"
        if op_name in ("equals", "in"):
            for v in value if op_name == "in" else [value]:
                if v is None:
                    return f"{op_name} null never matches (an absent field is not null): use exists: false"
                if not can_equal(name, v):
                    return f"{op_name}: {name!r} never equals {strip_lines(v)!r}"
    return None


def prefilterable(pred: Predicate) -> bool:
    return pred.op.prefilter is not None and all(f in STRING_FIELDS for f in pred.fields)
