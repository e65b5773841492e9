"""A rule after loading: everything the engine needs, compiled once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flockwatch.alerts.summary import SummaryTemplate
from flockwatch.detect.detector import Detector
from flockwatch.ingest.event import Event
from flockwatch.rules.conditions import EvalContext, Node


@dataclass
class CompiledRule:
    id: str
    type: str
    title: str
    description: str
    category: str
    severity: str
    tags: list[str]
    enabled: bool
    events: frozenset[str]
    condition: Node
    exception: Node | None  # true => the rule must not fire for this event
    exception_names: list[str]
    summary: SummaryTemplate
    pack: str
    pack_version: str
    file: str
    line: int
    tests: dict[str, list[dict[str, Any]]]
    fingerprint_getters: list[Callable[[Event], Any]] = field(default_factory=list)
    detector: Detector = None  # type: ignore[assignment]  # set right after construction
    need: frozenset[int] | None = None  # prefilter slots; None = evaluate on every event
    # Compiles a raw YAML condition with this rule's pack lists and macros (set by the loader).
    compile_condition: Callable[[Any], Node] | None = None
    # Where another pack tuned this rule ("file:line (keys)"; see rules/overrides.py).
    overridden_by: list[str] = field(default_factory=list)

    def matches(self, ctx: EvalContext) -> bool:
        ctx.evidence = []
        if not self.condition.eval(ctx):
            return False
        if self.exception is not None:
            kept = ctx.evidence
            excepted = self.exception.eval(ctx)
            ctx.evidence = kept
            if excepted:
                return False
        return True

    def evidence_key(self, event: Event) -> str:
        if not self.fingerprint_getters:
            return event.event_id
        return "\x1f".join(str(g(event)) for g in self.fingerprint_getters)

    def meta(self) -> dict[str, Any]:
        return {
            "id": self.id, "title": self.title, "category": self.category, "severity": self.severity,
            "tags": list(self.tags), "pack": self.pack, "description": self.description,
        }


@dataclass
class CompiledPack:
    name: str
    version: str
    requires_engine: str
    description: str
    file: str
    sha256: str
    rules: list[CompiledRule]
    notes: list[str] = field(default_factory=list)  # warnings for `rules validate`
