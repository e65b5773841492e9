"""`cue_score`: weigh combinations of cues instead of firing on single keywords.

A social-engineering message is recognisable by what it combines, not by any one
word: a request verb near a secret noun, plus a pretext ("security audit"), an
urgency or an authority cue, sent to a human operator. Each rule declares:

    fields: [title, text]          # text read (normalised once per event)
    cues:                          # named groups, each with a weight
      request:
        weight: 2
        patterns: {en: [...], de: [...], fr: [...]}   # or a plain list
      warning_frame: {weight: -4, patterns: [...]}   # negative: quoting to warn
    near:                          # two groups within N words: a stronger cue
      request_secret: {cues: [request, secret], within: 5, weight: 3}
    context:                       # event facts that add weight
      to_operator: {field: to_operator, equals: true, weight: 2}
    require: [[request_secret]]    # at least one of these sets must all match
    bands: {low: 5, medium: 7, high: 9, critical: 11}   # score -> severity

The score is the sum of the weights of everything that matched (each once); the
finding's severity is the highest band the score reaches (below the lowest band:
no finding), and the evidence lists every matched cue with its words and language.
Patterns are written against `flockwatch.text.normalize` output (lowercase,
accents folded) and are made leetspeak-tolerant at load time.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from flockwatch.detect.cues import BANK, CueError, CueGroup, CueMatch, NearCue, TextViews
from flockwatch.detect.detector import Detector, DetectorConfigError, Finding, check_settings
from flockwatch.detect.registry import register
from flockwatch.ingest.event import TEXT_FIELDS, Event
from flockwatch.rules.conditions import ConditionCompiler, ConditionError, EvalContext, Node
from flockwatch.rules.fields import STRING_FIELDS
from flockwatch.rules.spec import SEVERITIES
from flockwatch.text.event_text import field_text
from flockwatch.text.normalize import fold

log = logging.getLogger(__name__)

_REGEX_TIMEOUT = 0.05  # seconds per cue search; same budget as rule predicates


class _LastEvent(threading.local):
    last: tuple[Event, frozenset[int], TextViews | None] | None = None


class CueScreen:
    """The cue-bank scan of one event's text (these fields), shared by every cue rule
    that reads them. The engine asks it once per event (`hits`) and calls only the
    rules whose slots were hit; those rules then read the same answer (`scan`): the
    engine runs every rule on one event before the next, so remembering the last
    event is enough."""

    def __init__(self, fields: tuple[str, ...]):
        self.fields = fields
        self._last = _LastEvent()

    def scan(self, event: Event) -> tuple[frozenset[int], TextViews | None]:
        last = self._last.last
        if last is not None and last[0] is event:
            return last[1], last[2]
        # normalize() but for its last step, which the bank's pass tests for itself
        folded = fold(field_text(event, self.fields))
        hits, views = BANK.scan_normalising(folded) if folded else (frozenset(), None)
        self._last.last = (event, hits, views)
        return hits, views

    def hits(self, event: Event) -> frozenset[int]:
        return self.scan(event)[0]


_SCREENS: dict[tuple[str, ...], CueScreen] = {}
_SCREENS_LOCK = threading.Lock()


def screen_for(fields: tuple[str, ...]) -> CueScreen:
    with _SCREENS_LOCK:
        if fields not in _SCREENS:
            _SCREENS[fields] = CueScreen(fields)
        return _SCREENS[fields]


@dataclass
class _Context:
    name: str
    weight: float
    node: Node


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DetectorConfigError(f"{where} must be a number, got {value!r}")
    return float(value)


def _patterns(raw: Any, where: str) -> dict[str, list[str]]:
    if isinstance(raw, list):
        raw = {"": raw}
    if not isinstance(raw, dict) or not raw:
        raise DetectorConfigError(f"{where}: patterns must be a list or a mapping language -> list")
    out: dict[str, list[str]] = {}
    for lang, items in raw.items():
        if not isinstance(items, list) or not items or not all(isinstance(p, str) and p for p in items):
            raise DetectorConfigError(f"{where}.{lang}: give a non-empty list of patterns")
        out[str(lang)] = items
    return out


@register
class CueScoreDetector(Detector):
    name = "cue_score"

    def __init__(self, rule: Any, params: dict[str, Any]):
        super().__init__(rule, params)
        check_settings("cue_score", params, {"fields", "cues", "near", "context", "require", "bands"})
        fields = params.get("fields", list(TEXT_FIELDS))
        if not isinstance(fields, list) or not fields or not all(f in STRING_FIELDS for f in fields):
            raise DetectorConfigError(f"fields must be a list of text fields ({', '.join(sorted(STRING_FIELDS))})")
        self.fields = tuple(fields)
        self._screen = screen_for(self.fields)
        self.groups = self._groups(params.get("cues"))
        self.near = self._near(params.get("near") or {})
        self.context = self._context(params.get("context") or {})
        self.require = self._require(params.get("require") or [])
        self.bands = self._bands(params.get("bands"))
        self.min_score = self.bands[0][1]
        # Per requirement, the bank slots that must all be hit for it to be possible:
        # one subset test per requirement rejects most events before any other work.
        self._req_slots = [frozenset(s for n in req for s in self._slots_of(n)) for req in self.require]
        # Events that hit none of these can be dropped with one C-level set test.
        self._trigger_slots = (frozenset().union(*self._req_slots) if self.require and all(self._req_slots)
                               else frozenset(g.slot for g in self.groups.values() if g.weight > 0))
        # Evaluation plans, so that scoring an event is subset tests on the hits: each
        # cue with the slots that make it a candidate (groups, then near pairs, in
        # declaration order; the positive ones also heaviest first, a stable sort), and
        # each requirement with its slots and the context names it needs.
        cues = [*self.groups.values(), *self.near.values()]
        self._cue_by_name: dict[str, CueGroup | NearCue] = {c.name: c for c in cues}
        self._cue_plan = [(c, frozenset(self._slots_of(c.name))) for c in cues]
        self._positive_plan = sorted(((c, slots) for c, slots in self._cue_plan if c.weight > 0),
                                     key=lambda plan: -plan[0].weight)
        context_names = {c.name for c in self.context}
        # Evidence lists matched cues heaviest first, ties in declaration order: cues are
        # confirmed in an order that depends on set iteration (PYTHONHASHSEED), and the
        # summary and evidence must be the same on every run and every worker.
        self._declared = {name: i for i, name in enumerate([*(c.name for c in cues), *(c.name for c in self.context)])}
        self._req_plan = [(req, slots, tuple(n for n in req if n in context_names))
                          for req, slots in zip(self.require, self._req_slots)]

    def _slots_of(self, name: str) -> tuple[int, ...]:
        if name in self.groups:
            return (self.groups[name].slot,)
        if name in self.near:
            return (self.near[name].first.slot, self.near[name].second.slot)
        return ()  # context: decided by the event, not the text

    # ---- configuration -------------------------------------------------------
    def _groups(self, raw: Any) -> dict[str, CueGroup]:
        if not isinstance(raw, dict) or not raw:
            raise DetectorConfigError("cues: declare at least one named cue group")
        groups: dict[str, CueGroup] = {}
        for name, spec in raw.items():
            if not isinstance(spec, dict) or set(spec) - {"weight", "patterns"} or "patterns" not in spec:
                raise DetectorConfigError(f"cues.{name}: give weight and patterns")
            weight = _number(spec.get("weight", 1), f"cues.{name}.weight")
            try:
                groups[name] = CueGroup.build(name, weight, _patterns(spec["patterns"], f"cues.{name}"), BANK)
            except CueError as exc:
                raise DetectorConfigError(f"cues.{name}: {exc}") from None
        return groups

    def _near(self, raw: Any) -> dict[str, NearCue]:
        if not isinstance(raw, dict):
            raise DetectorConfigError("near: a mapping name -> {cues: [a, b], within: N, weight: W}")
        out: dict[str, NearCue] = {}
        for name, spec in raw.items():
            if name in self.groups:
                raise DetectorConfigError(f"near.{name}: name already used by a cue group")
            if not isinstance(spec, dict) or set(spec) - {"cues", "within", "weight", "ordered"}:
                raise DetectorConfigError(f"near.{name}: keys are cues, within, weight, ordered")
            pair = spec.get("cues")
            if not isinstance(pair, list) or len(pair) != 2 or not all(p in self.groups for p in pair):
                raise DetectorConfigError(f"near.{name}.cues: name two cue groups of this rule")
            within = spec.get("within", 5)
            if not isinstance(within, int) or not 0 <= within <= 12:
                raise DetectorConfigError(f"near.{name}.within: a whole number of words from 0 to 12")
            weight = _number(spec.get("weight", 1), f"near.{name}.weight")
            a, b = (self.groups[p] for p in pair)
            try:
                out[name] = NearCue.build(name, weight, a, b, within, bool(spec.get("ordered", False)))
            except CueError as exc:
                raise DetectorConfigError(f"near.{name}: {exc}") from None
        return out

    def _context(self, raw: Any) -> list[_Context]:
        if not isinstance(raw, dict):
            raise DetectorConfigError("context: a mapping name -> {field: ..., <operator>: ..., weight: W}")
        compiler = ConditionCompiler({}, {}, _REGEX_TIMEOUT)
        out = []
        for name, spec in raw.items():
            if name in self.groups or name in self.near:
                raise DetectorConfigError(f"context.{name}: name already used")
            if not isinstance(spec, dict) or "weight" not in spec:
                raise DetectorConfigError(f"context.{name}: give field, an operator and weight")
            weight = _number(spec["weight"], f"context.{name}.weight")
            try:
                node = compiler.compile({k: v for k, v in spec.items() if k != "weight"})
            except ConditionError as exc:
                raise DetectorConfigError(f"context.{name}: {exc}") from None
            out.append(_Context(name, weight, node))
        return out

    def _require(self, raw: Any) -> list[frozenset[str]]:
        known = set(self.groups) | set(self.near) | {c.name for c in self.context}
        if not isinstance(raw, list):
            raise DetectorConfigError("require: a list of cue-name lists (any one list must fully match)")
        out = []
        for alt in raw:
            names = [alt] if isinstance(alt, str) else alt
            if not isinstance(names, list) or not names or not all(n in known for n in names):
                raise DetectorConfigError(f"require: {alt!r} must name cues, near pairs or context of this rule")
            for n in names:
                if n in self.groups and self.groups[n].weight < 0:
                    raise DetectorConfigError(f"require: {n!r} has a negative weight and cannot be required")
            out.append(frozenset(names))
        return out

    def _bands(self, raw: Any) -> list[tuple[str, float]]:
        if not isinstance(raw, dict) or not raw:
            raise DetectorConfigError(f"bands: a mapping severity -> minimum score ({', '.join(SEVERITIES)})")
        bands = []
        for sev, score in raw.items():
            if sev not in SEVERITIES:
                raise DetectorConfigError(f"bands: unknown severity {sev!r}")
            bands.append((sev, _number(score, f"bands.{sev}")))
        bands.sort(key=lambda b: SEVERITIES.index(b[0]))
        if any(b[1] >= c[1] for b, c in zip(bands, bands[1:])):
            raise DetectorConfigError("bands: a higher severity needs a higher minimum score")
        return bands

    # ---- evaluation ----------------------------------------------------------
    def screen(self) -> tuple[CueScreen, frozenset[int]]:
        return self._screen, self._trigger_slots

    def possible(self, hits: frozenset[int]) -> bool:
        """The bank hits allow a finding: a trigger slot, and every slot of some requirement."""
        if hits.isdisjoint(self._trigger_slots):
            return False
        if not self._req_slots:
            return True
        for req in self._req_slots:  # (a loop: a generator in any() costs more than the tests)
            if req <= hits:
                return True
        return False

    def score(self, event: Event) -> tuple[float, list[CueMatch]] | None:
        """Score an event; None when it cannot reach the lowest band or a requirement.

        Confirming a cue costs a regex search, so the order is chosen to stop early:
        the RE2 hits and context first (free), then the cues of a requirement, then
        the other positive cues heaviest first while the lowest band is still
        reachable, and the negative cues only when the score would fire."""
        hits, views = self._screen.scan(event)  # usually already scanned for the engine
        if not self.possible(hits):
            return None
        context: dict[str, bool] = {}
        if self.context:
            ctx = EvalContext(event=event)
            context = {c.name: c.node.eval(ctx) for c in self.context}
        feasible = [req for req, slots, needs in self._req_plan
                    if slots <= hits and all(context[n] for n in needs)]
        if self.require and not feasible:
            return None
        ctx_score = sum(c.weight for c in self.context if context[c.name])
        positive = [c for c, slots in self._positive_plan if slots <= hits]
        if ctx_score + sum(c.weight for c in positive) < self.min_score:
            return None  # even if every candidate confirmed, too low
        cands = [c for c, slots in self._cue_plan if slots <= hits]
        found: dict[str, CueMatch | None] = {}

        def confirm(cand: CueGroup | NearCue) -> CueMatch | None:
            if cand.name not in found:
                try:
                    found[cand.name] = cand.search(views, _REGEX_TIMEOUT)
                except TimeoutError:
                    log.warning("rule %s: cue %s timed out on event %s", self.rule.id, cand.name, event.event_id)
                    found[cand.name] = None
            return found[cand.name]

        by_name = self._cue_by_name  # (a feasible requirement names candidates only)
        if self.require and not any(
            all(context[n] if n in context else confirm(by_name[n]) is not None for n in req) for req in feasible
        ):
            return None
        score = ctx_score + sum(m.weight for m in found.values() if m is not None)
        rest = [c for c in positive if c.name not in found]
        for i, cand in enumerate(rest):
            if score + sum(c.weight for c in rest[i:]) < self.min_score:
                return None
            m = confirm(cand)
            score += m.weight if m is not None else 0
        if score < self.min_score:
            return None
        for cand in cands:
            if cand.weight <= 0:
                confirm(cand)
        matched = [m for m in found.values() if m is not None]
        matched += [CueMatch(c.name, c.weight, "context") for c in self.context if context[c.name]]
        total = sum(m.weight for m in matched)
        return (int(total) if total == int(total) else total), matched

    def severity_for(self, score: float) -> str | None:
        found = None
        for sev, minimum in self.bands:
            if score >= minimum:
                found = sev
        return found

    def add_data(
        self, event: Event, evidence: list[dict[str, str]], state: MutableMapping[str, Any] | None
    ) -> list[Finding]:
        result = self.score(event)
        if result is None:
            return []
        score, matched = result
        severity = self.severity_for(score)
        if severity is None:
            return []
        declared = self._declared
        matched.sort(key=lambda m: (-m.weight, declared.get(m.cue, len(declared))))
        evidence_out = {
            "score": score,
            "cue_names": [m.cue for m in matched],
            "cues": [m.as_evidence() for m in matched],
            "matches": evidence,
        }
        return [Finding.of_event(self.rule.evidence_key(event), event, evidence_out, severity)]
