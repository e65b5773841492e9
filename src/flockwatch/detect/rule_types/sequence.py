"""`sequence`: ordered steps within `within` of the first, joined on a key.

    type: sequence
    within: 1h
    steps:
      - {name: exposed, by: target_agent_id, condition: {field: text, icontains: "update your soul"}}
      - {name: adopted, by: agent_id,        condition: {field: text, icontains: "update your soul"}}

Each step has a condition (pack lists and macros work) and `by`, the key spec that
joins it to the other steps (default `agent_id`): above, the agent that *received*
the instruction is the agent that then *posted* it. The rule's own `condition` gates
every step. The sequence completes when every step has happened in order; it fires
once per completion and starts over.

Partitioned by the join key: an event that matches several steps is routed once per
distinct key.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from flockwatch.detect.detector import DetectorConfigError, Finding
from flockwatch.detect.incident import finding, open_incident, sample_of
from flockwatch.detect.keyed import KeyedDetector
from flockwatch.detect.keys import KeySpec, KeySpecError, parse_key_spec
from flockwatch.detect.params import Params
from flockwatch.detect.registry import register
from flockwatch.ingest.event import Event
from flockwatch.rules.conditions import ConditionCompiler, EvalContext, Node


@register
class SequenceDetector(KeyedDetector):
    name = "sequence"

    def __init__(self, rule: Any, params: dict[str, Any]):
        super().__init__(rule, params)
        p = Params(self.name, params, {"steps", "within"})
        self.within = self.ttl = p.duration("within")
        raw_steps = params.get("steps")
        if not isinstance(raw_steps, list) or len(raw_steps) < 2:
            raise DetectorConfigError("steps must be a list of at least two steps")
        compile_condition = getattr(rule, "compile_condition", None) or ConditionCompiler({}, {}, 0.05).compile
        self.steps: list[tuple[str, Node, KeySpec]] = []
        for i, step in enumerate(raw_steps):
            if not isinstance(step, dict) or set(step) - {"name", "condition", "by"}:
                raise DetectorConfigError(f"step {i + 1}: a mapping of name, condition, by")
            try:
                by = parse_key_spec(step.get("by", "agent_id"))
            except KeySpecError as exc:
                raise DetectorConfigError(f"step {i + 1} by: {exc}") from None
            self.steps.append((str(step.get("name", f"step{i + 1}")), compile_condition(step.get("condition")), by))
        self.group_by = []

    def _matching(self, event: Event) -> list[tuple[int, str]]:
        """(step index, join key) for every step this event satisfies."""
        out = []
        for i, (_name, cond, by) in enumerate(self.steps):
            key = by.fn(event)
            if isinstance(key, str) and key and cond.eval(EvalContext(event=event)):
                out.append((i, key))
        return out

    @property
    def agent_local(self) -> bool:
        return all(by.label == "agent_id" for _name, _cond, by in self.steps)

    def compute_partition_keys(self, event: Event) -> list[str]:
        return sorted({k for _i, k in self._matching(event)})

    def observe(
        self, event: Event, evidence: list[dict[str, str]], state: MutableMapping[str, Any], key: str
    ) -> list[Finding]:
        ts = event.epoch
        entry = state.get(key) or {"t": ts, "done": []}  # done: [[ts, event_id, agent, sample]] per step
        done: list[list[Any]] = entry["done"]
        if done and ts - done[0][0] > self.within:
            done = []  # the partial sequence ran out of time
        if any(d[1] == event.event_id for d in done):
            return []
        steps = [i for i, k in self._matching(event) if k == key]
        findings: list[Finding] = []
        nxt = len(done)
        if nxt in steps and (not done or ts >= done[-1][0]):
            done = done + [[ts, event.event_id, event.agent_id, sample_of(event)]]
        elif 0 in steps:
            done = [[ts, event.event_id, event.agent_id, sample_of(event)]]  # start over from here
        if len(done) == len(self.steps):
            incident = open_incident([tuple(d) for d in done])  # type: ignore[misc]
            ev = {"join": key, "steps": [s[0] for s in self.steps], "within_seconds": self.within,
                  "matches": evidence}
            findings.append(finding(key, incident, event, ev))
            done = []
        entry["t"], entry["done"] = max(entry["t"], ts), done
        state[key] = entry
        return findings
