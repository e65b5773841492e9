"""Load YAML rule packs into compiled rules, collecting every problem with its
file, line and rule id instead of stopping at the first."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2
import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version
from pydantic import ValidationError

from flockwatch import ENGINE_VERSION
from flockwatch.alerts.summary import CONTEXT_NAMES, SummaryTemplate
from flockwatch.detect.compiled import CompiledPack, CompiledRule
from flockwatch.detect.detector import DetectorConfigError
from flockwatch.detect.registry import rule_type, rule_types
from flockwatch.rules.conditions import AllOf, AnyOf, ConditionCompiler, ConditionError, Node
from flockwatch.rules.errors import PackError, RuleIssue
from flockwatch.rules.overrides import OVERRIDDEN_BY, ParsedPack, apply_overrides
from flockwatch.rules.fields import getter, valid_field
from flockwatch.rules.redos import backtracking_problem
from flockwatch.rules.spec import ExceptionSpec, PackFile, RuleSpec
from flockwatch.rules.yaml_lines import LINE_KEY, line_of, load_with_lines, strip_lines

DEFAULT_REGEX_TIMEOUT = 0.05  # seconds per match; a pattern past it is a counted error


def pack_files(paths: Iterable[str | Path]) -> list[Path]:
    """Expand directories to their *.yaml / *.yml files, sorted for a stable order.

    Hidden files and directories are skipped: a Kubernetes ConfigMap volume holds every
    pack twice more under `..data/` and `..<timestamp>/`, which would load as duplicates."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(
                q for q in p.rglob("*")
                if q.suffix in (".yaml", ".yml") and not any(part.startswith(".") for part in q.relative_to(p).parts)
            ))
        else:
            out.append(p)
    return out


def _loc_line(raw: Any, loc: tuple[Any, ...]) -> int:
    """Best line for a pydantic error location inside the raw YAML data."""
    node, line = raw, line_of(raw)
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        line = line_of(node, line)
    return line


def _pydantic_issues(exc: ValidationError, raw: Any, file: str, rule_id: str | None, base: int) -> list[RuleIssue]:
    out = []
    for e in exc.errors(include_url=False):
        loc = tuple(p for p in e["loc"] if p != LINE_KEY)
        where = ".".join(str(p) for p in loc) or "<root>"
        out.append(RuleIssue(file, _loc_line(raw, loc) or base, rule_id, f"{where}: {e['msg']}"))
    return out


class _PackCompiler:
    def __init__(self, file: str, spec: PackFile, raw_macros: dict[str, Any], regex_timeout: float):
        self.file = file
        self.spec = spec
        self.raw_macros = raw_macros  # with line markers, for error messages
        self.issues: list[RuleIssue] = []
        self.notes: list[str] = []
        self.regex_timeout = regex_timeout

    def issue(self, line: int, rule_id: str | None, msg: str, level: str = "error") -> None:
        self.issues.append(RuleIssue(self.file, line, rule_id, msg, level))

    def conditions(self) -> ConditionCompiler:
        return ConditionCompiler(self.spec.lists, self.raw_macros, self.regex_timeout)

    def exception_node(self, specs: list[ExceptionSpec], raw_specs: Any, cc: ConditionCompiler, rule_id: str,
                       rule_line: int) -> Node | None:
        alternatives: list[Node] = []
        # Each exception's own line (pydantic dropped the markers): errors point at it.
        lines = [line_of(r, rule_line) for r in raw_specs] if isinstance(raw_specs, list) else []
        for n, ex in enumerate(specs):
            line = lines[n] if n < len(lines) else rule_line
            comps = ex.comps or ["equals"] * len(ex.fields)
            if len(comps) != len(ex.fields):
                self.issue(line, rule_id, f"exception {ex.name!r}: {len(ex.fields)} fields but {len(comps)} comps")
                continue
            for tup in ex.values:
                if len(tup) != len(ex.fields):
                    self.issue(line, rule_id, f"exception {ex.name!r}: value {tup!r} needs {len(ex.fields)} items")
                    continue
                try:
                    preds = [cc.compile({"field": f, c: v, LINE_KEY: line}) for f, c, v in zip(ex.fields, comps, tup)]
                except ConditionError as exc:
                    self.issue(exc.line or line, rule_id, f"exception {ex.name!r}: {exc}")
                    continue
                alternatives.append(AllOf(preds))
        return AnyOf(alternatives) if alternatives else None

    def rule(self, raw: dict[str, Any]) -> CompiledRule | None:
        line = line_of(raw)
        rid = raw.get("id") if isinstance(raw.get("id"), str) else None
        overridden_by: list[str] = raw.get(OVERRIDDEN_BY) or []
        if overridden_by:
            raw = {k: v for k, v in raw.items() if k != OVERRIDDEN_BY}
            # A problem in a tuned rule may come from the override, whose lines are in
            # another file: every issue about this rule says where it was tuned.
            first = len(self.issues)
            try:
                return self._rule(raw, line, rid, overridden_by)
            finally:
                suffix = f" (rule tuned by the override at {'; '.join(overridden_by)})"
                self.issues[first:] = [replace(i, message=i.message + suffix) for i in self.issues[first:]]
        return self._rule(raw, line, rid, overridden_by)

    def _rule(self, raw: dict[str, Any], line: int, rid: str | None, overridden_by: list[str]) -> CompiledRule | None:
        try:
            spec = RuleSpec.model_validate(strip_lines(raw))
        except ValidationError as exc:
            self.issues.extend(_pydantic_issues(exc, raw, self.file, rid, line))
            return None
        detector_cls = rule_type(spec.type)
        if detector_cls is None:
            self.issue(line, spec.id, f"unknown rule type {spec.type!r}; known: {', '.join(rule_types())}")
            return None
        cc = self.conditions()
        try:
            condition = cc.compile(raw.get("condition"))
        except ConditionError as exc:
            self.issue(exc.line or line, spec.id, f"condition: {exc}")
            return None
        types = cc.required_values(raw.get("condition"), "type")
        if types is not None and not types & set(spec.events):
            self.issue(line, spec.id, f"condition needs type {' or '.join(sorted(map(str, types)))}, but the rule "
                                      f"sees only events: [{', '.join(spec.events)}]: it can never fire")
            return None
        if raw.get("condition") is None and not detector_cls.stateful and spec.type == "match":
            self.issue(line, spec.id, "a match rule needs a condition")
            return None
        exception = self.exception_node(spec.exceptions, raw.get("exceptions"), cc, spec.id, line)
        try:
            summary = SummaryTemplate(spec.summary)
        except jinja2.TemplateSyntaxError as exc:
            self.issue(line, spec.id, f"summary template: {exc.message} (template line {exc.lineno})")
            return None
        unknown = summary.unknown_names()
        if unknown:
            self.issue(line, spec.id, f"summary template: unknown name(s) {', '.join(map(repr, unknown))}; "
                                      f"a summary sees {', '.join(sorted(CONTEXT_NAMES))}")
            return None
        fp_getters = []
        for f in spec.fingerprint_by or []:
            if not valid_field(f):
                self.issue(line, spec.id, f"fingerprint_by: unknown field {f!r}")
            else:
                fp_getters.append(getter(f))
        for ln, note in cc.notes:
            self.notes.append(f"{self.file}:{ln or line}: [{spec.id}] {note}")
        meta = self.spec.pack
        rule = CompiledRule(
            id=spec.id, type=spec.type, title=spec.title, description=spec.description,
            category=spec.category, severity=spec.severity, tags=spec.tags, enabled=spec.enabled,
            events=frozenset(spec.events), condition=condition, exception=exception,
            exception_names=[e.name for e in spec.exceptions], summary=summary,
            pack=meta.name, pack_version=meta.version, file=self.file, line=line,
            tests={"fire": strip_lines(spec.tests.fire), "quiet": strip_lines(spec.tests.quiet)},
            fingerprint_getters=fp_getters, overridden_by=list(overridden_by),
        )
        # Rule types with conditions of their own (a sequence's steps) compile them with
        # the pack's lists and macros, like the rule's condition.
        rule.compile_condition = cc.compile
        try:
            params = _resolve_param_lists(strip_lines(spec.params), self.spec.lists)
            rule.detector = detector_cls(rule, params)
        except (DetectorConfigError, ConditionError) as exc:
            self.issue(getattr(exc, "line", 0) or line, spec.id, f"type {spec.type}: {exc}")
            return None
        for pred, pred_line in zip(cc.predicates, cc.predicate_lines):
            for src in pred.op.regex_sources:
                problem = backtracking_problem(src)
                if problem:
                    self.issue(pred_line or line, spec.id, f"regex {src!r}: catastrophic backtracking risk: {problem}")
        return rule


def _resolve_param_lists(value: Any, lists: dict[str, list[Any]], _seen: tuple[str, ...] = ()) -> Any:
    """Type-specific settings may name pack lists with `{list: name}` exactly as
    conditions do (e.g. cue patterns shared by several `cue_score` rules); inside
    a list the named list is spliced in, and so are the lists it includes."""
    if isinstance(value, dict):
        if set(value) == {"list"}:
            name = value["list"]
            if not isinstance(name, str):  # a list of names would be unhashable below
                raise DetectorConfigError(f"list takes one name, got {name!r}")
            if name not in lists:
                raise DetectorConfigError(f"unknown list {name!r}")
            if name in _seen:
                raise DetectorConfigError(f"list cycle: {' -> '.join(_seen + (name,))}")
            # A list may include another (`[{list: other}, extra]`), as in conditions.
            return _resolve_param_lists(list(lists[name]), lists, _seen + (name,))
        return {k: _resolve_param_lists(v, lists, _seen) for k, v in value.items()}
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            resolved = _resolve_param_lists(item, lists, _seen)
            is_ref = isinstance(item, dict) and set(item) == {"list"}
            out.extend(resolved) if is_ref else out.append(resolved)
        return out
    return value


def parse_pack_text(text: str, file: str) -> ParsedPack:
    """A pack file's YAML, with line markers, not yet compiled (overrides change it first)."""
    try:
        raw = load_with_lines(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else 0
        raise PackError([RuleIssue(file, line, None, f"YAML: {exc}".replace("\n", " "))]) from None
    if not isinstance(raw, dict):
        raise PackError([RuleIssue(file, 1, None, "a pack file must be a mapping with pack/rules")])
    return ParsedPack(file, text, raw)


def load_pack_text(text: str, file: str, regex_timeout: float = DEFAULT_REGEX_TIMEOUT) -> CompiledPack:
    """One pack on its own; its overrides may only name its own rules, lists and macros."""
    parsed = parse_pack_text(text, file)
    issues, notes = apply_overrides([parsed])
    if issues:
        raise PackError(issues)
    return compile_pack(parsed, regex_timeout, notes)


def compile_pack(parsed: ParsedPack, regex_timeout: float = DEFAULT_REGEX_TIMEOUT,
                 notes: list[str] | None = None) -> CompiledPack:
    text, file, raw = parsed.text, parsed.file, parsed.raw
    try:
        spec = PackFile.model_validate(strip_lines(raw))
    except ValidationError as exc:
        raise PackError(_pydantic_issues(exc, raw, file, None, 1)) from None
    pc = _PackCompiler(file, spec, raw.get("macros") or {}, regex_timeout)
    pc.notes.extend(notes or [])
    try:
        if Version(ENGINE_VERSION) not in SpecifierSet(spec.pack.requires_engine):
            pc.issue(line_of(raw.get("pack")), None,
                     f"pack needs engine {spec.pack.requires_engine}, this is engine {ENGINE_VERSION}")
        elif spec.overrides and Version("1.0.0") in SpecifierSet(spec.pack.requires_engine):
            # An engine 1.0 refuses the pack with a schema error instead of a version message.
            pc.notes.append(f"{file}:{line_of(raw.get('pack'))}: pack uses overrides (engine 1.1); say "
                            f"requires_engine: \">=1.1,<2\" so older engines refuse it by version")
    except InvalidSpecifier:
        pc.issue(line_of(raw.get("pack")), None, f"requires_engine {spec.pack.requires_engine!r} is not a version specifier")
    for name, macro in pc.raw_macros.items():
        if name == LINE_KEY:
            continue
        try:
            pc.conditions().compile(macro, ())
        except ConditionError as exc:
            pc.issue(exc.line or line_of(raw.get("macros")), None, f"macro {name!r}: {exc}")
    rules: list[CompiledRule] = []
    seen: dict[str, int] = {}
    for raw_rule in raw.get("rules") or []:
        if not isinstance(raw_rule, dict):
            pc.issue(line_of(raw), None, "each rule must be a mapping")
            continue
        rule = pc.rule(raw_rule)
        if rule is None:
            continue
        if rule.id in seen:
            pc.issue(rule.line, rule.id, f"duplicate rule id (first at line {seen[rule.id]})")
            continue
        seen[rule.id] = rule.line
        rules.append(rule)
    if any(i.level == "error" for i in pc.issues):
        raise PackError(pc.issues)
    return CompiledPack(
        name=spec.pack.name, version=spec.pack.version, requires_engine=spec.pack.requires_engine,
        description=spec.pack.description, file=file,
        sha256=hashlib.sha256(text.encode()).hexdigest(), rules=rules, notes=pc.notes,
    )


def read_pack(path: str | Path) -> ParsedPack:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PackError([RuleIssue(str(p), 0, None, f"cannot read: {exc}")]) from None
    return parse_pack_text(text, str(p))


def load_pack(path: str | Path, regex_timeout: float = DEFAULT_REGEX_TIMEOUT) -> CompiledPack:
    parsed = read_pack(path)
    return load_pack_text(parsed.text, parsed.file, regex_timeout)


def load_packs(paths: Iterable[str | Path], regex_timeout: float = DEFAULT_REGEX_TIMEOUT) -> list[CompiledPack]:
    """Load every pack, with every pack's overrides applied to the others first (see
    `overrides.py`); raise one PackError listing all issues across all files."""
    parsed: list[ParsedPack] = []
    issues: list[RuleIssue] = []
    for f in pack_files(paths):
        try:
            parsed.append(read_pack(f))
        except PackError as exc:
            issues.extend(exc.issues)
    override_issues, notes = apply_overrides(parsed)
    issues.extend(override_issues)
    packs: list[CompiledPack] = []
    for p in parsed:
        try:
            packs.append(compile_pack(p, regex_timeout, [n for n in notes if n.startswith(p.file + ":")]))
        except PackError as exc:
            issues.extend(exc.issues)
    owners: dict[str, CompiledRule] = {}
    names: dict[str, str] = {}
    for pack in packs:
        if pack.name in names:
            issues.append(RuleIssue(pack.file, 1, None, f"pack name {pack.name!r} also used by {names[pack.name]}"))
        names[pack.name] = pack.file
        for r in pack.rules:
            if r.id in owners:
                o = owners[r.id]
                issues.append(RuleIssue(r.file, r.line, r.id, f"duplicate rule id (also at {o.file}:{o.line})"))
            owners[r.id] = r
    if issues:
        raise PackError(issues)
    return packs
