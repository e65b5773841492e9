"""`propagation`: a self-propagating instruction ("copy this command, update your Soul,
share this message") spreading from agent to agent.

The rule's condition picks instruction-shaped texts; this type groups their carriers
by content (MinHash LSH, as `near_duplicate`) and counts a *hop* whenever a new
carrier took it up where an earlier carrier had put it: replying to that carrier, or
in a thread that carrier posted in. It reports once at least `threshold` distinct
agents carry it within `window` and at least `min_hops` of them were hops, so many
agents independently quoting a well-known prompt is not mistaken for a spread.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, ClassVar

from flockwatch.detect.detector import Finding
from flockwatch.detect.params import Params
from flockwatch.detect.registry import register
from flockwatch.detect.rule_types.near_duplicate import NearDuplicateDetector
from flockwatch.ingest.event import Event

MAX_CARRIERS = 200


@register
class PropagationDetector(NearDuplicateDetector):
    name = "propagation"
    settings: ClassVar[set[str]] = NearDuplicateDetector.settings | {"min_hops"}

    def __init__(self, rule: Any, params: dict[str, Any]):
        p = Params(self.name, params, self.settings)
        self.min_hops = p.integer("min_hops", 1, minimum=0)
        super().__init__(rule, {k: v for k, v in params.items() if k != "min_hops"})

    def observe(
        self, event: Event, evidence: list[dict[str, str]], state: MutableMapping[str, Any], key: str
    ) -> list[Finding]:
        entry = state.get(key)
        # carriers: [[ts, agent, thread]] of earlier carriers in this bucket
        carriers: list[list[Any]] = list(entry.get("car", [])) if entry else []
        hops: list[list[str]] = list(entry.get("hops", [])) if entry else []
        horizon = event.epoch - self.window
        carriers = [c for c in carriers if c[0] >= horizon]
        hops = [h for h in hops if float(h[2]) >= horizon]
        me, thread, target = event.agent_id, event.post_id, event.target_agent_id
        source = next(
            (c[1] for c in carriers if c[1] != me and (c[1] == target or (thread and c[2] == thread))), None
        )
        seen = any(c[1] == me for c in carriers)
        if source is not None and not seen and all(h[1] != me for h in hops):
            hops.append([source, me, str(event.epoch)])
        if not seen:
            carriers = (carriers + [[event.epoch, me, thread]])[-MAX_CARRIERS:]
        findings = super().observe(event, evidence, state, key)
        entry = state[key]
        entry["car"], entry["hops"] = carriers, hops[-MAX_CARRIERS:]
        state[key] = entry
        if len(hops) < self.min_hops:
            return []
        for f in findings:
            f.evidence["hops"] = [f"{a} -> {b}" for a, b, _ in hops[:20]]
            f.evidence["hop_count"] = len(hops)
        return findings
