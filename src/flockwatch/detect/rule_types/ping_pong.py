"""`ping_pong`: two agents replying to each other back and forth, at least `turns`
alternating replies within `window`, saying much the same thing each time (the
mean MinHash similarity of each reply to its author's previous one reaches
`min_similarity`). That last condition keeps a lively debate, where every message
is new, from looking like a loop; set it to 0 to flag any fast exchange.

Partitioned by the unordered pair of agents, so both directions share one state.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from flockwatch.detect.detector import Finding
from flockwatch.detect.incident import finding, grow, open_incident, sample_of, still_open
from flockwatch.detect.keyed import KeyedDetector
from flockwatch.detect.keys import parse_group_by
from flockwatch.detect.params import Params
from flockwatch.detect.registry import register
from flockwatch.detect.text_sig import MEMO, similarity
from flockwatch.ingest.event import Event

SIG_PERM = 16
MAX_TURNS = 100


@register
class PingPongDetector(KeyedDetector):
    name = "ping_pong"

    def __init__(self, rule: Any, params: dict[str, Any]):
        super().__init__(rule, params)
        p = Params(self.name, params, {"window", "turns", "min_similarity"})
        self.window = self.ttl = p.duration("window")
        self.turns = p.integer("turns", minimum=3)
        self.min_similarity = p.number("min_similarity", 0.5, 0.0, 1.0)
        self.group_by = parse_group_by(["pair(agent_id)"])

    def observe(
        self, event: Event, evidence: list[dict[str, str]], state: MutableMapping[str, Any], key: str
    ) -> list[Finding]:
        ts = event.epoch
        entry = state.get(key) or {"t": ts, "turns": [], "inc": None}
        turns: list[list[Any]] = entry["turns"]
        event_id = event.event_id
        for t in turns:  # a loop, not any(): no generator per event
            if t[1] == event_id:
                return []
        sig = tuple(MEMO.signature(event.text or "", SIG_PERM))
        # A tuple of atoms: the garbage collector stops tracking it (see window_count.py).
        turns.append((ts, event_id, event.agent_id, sig, sample_of(event)))
        if len(turns) > 1 and turns[-2][0] > ts:
            turns.sort(key=lambda t: t[0])
        if ts > entry["t"]:
            entry["t"] = ts
        horizon = entry["t"] - self.window
        if turns[0][0] < horizon:
            turns = [t for t in turns if t[0] >= horizon]
        if len(turns) > MAX_TURNS:
            del turns[:-MAX_TURNS]
        entry["turns"] = turns
        run = _alternating_tail(turns)
        incident = entry["inc"] if still_open(entry["inc"], ts, self.window) else None
        if incident is None:
            # Too short a run cannot open an incident: its similarity is not needed.
            if len(run) >= self.turns and _repetition(run) >= self.min_similarity:
                incident = open_incident([(t[0], t[1], t[2], t[4]) for t in run])
        else:
            grow(incident, ts, event_id, event.agent_id, sample_of(event))
        entry["inc"] = incident
        state[key] = entry
        if incident is None:
            return []
        sim = _repetition(run)
        ev = {"pair": key.split("|"), "alternating_turns": len(run), "similarity": round(sim, 2),
              "window_seconds": self.window, "matches": evidence}
        return [finding(key, incident, event, ev)]


def _alternating_tail(turns: list[list[Any]]) -> list[list[Any]]:
    """The longest run of strictly alternating authors that ends with the newest turn."""
    start = len(turns) - 1
    while start > 0 and turns[start - 1][2] != turns[start][2]:
        start -= 1
    return turns[start:]


def _repetition(run: list[list[Any]]) -> float:
    """Mean similarity of each turn to the same author's previous turn."""
    sims = [similarity(run[i][3], run[i - 2][3]) for i in range(2, len(run))]
    return sum(sims) / len(sims) if sims else 0.0
