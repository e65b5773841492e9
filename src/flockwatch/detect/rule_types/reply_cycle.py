"""`reply_cycle`: agents answering each other round a short cycle (A -> B -> C -> A),
the same cycle completed at least `rounds` times within `window`. One round of a
three-way conversation is normal; the same circle going round and round is a loop.

A round is a closing reply and the path before it, none of them counted in an
earlier round: after A -> B -> C -> A the next A -> B closes B -> C -> A -> B too,
but through replies already counted, so the circle has gone round once, not twice.

Cycles of 3 to `max_length` agents (two agents are `ping_pong`). Partitioned by
thread (`post_id`), where such loops run; the reply edge is agent -> target_agent_id.
"""

from __future__ import annotations

from collections.abc import Collection, MutableMapping
from typing import Any

from flockwatch.detect.detector import Finding
from flockwatch.detect.incident import finding, grow, open_incident, sample_of, still_open
from flockwatch.detect.keyed import KeyedDetector
from flockwatch.detect.keys import parse_group_by
from flockwatch.detect.params import Params
from flockwatch.detect.registry import register
from flockwatch.ingest.event import Event

MAX_EDGES = 200


@register
class ReplyCycleDetector(KeyedDetector):
    name = "reply_cycle"

    def __init__(self, rule: Any, params: dict[str, Any]):
        super().__init__(rule, params)
        p = Params(self.name, params, {"window", "rounds", "max_length"})
        self.window = self.ttl = p.duration("window")
        self.rounds = p.integer("rounds", 2)
        self.max_length = p.integer("max_length", 4, minimum=3)
        self.group_by = parse_group_by(["post_id"])

    def observe(
        self, event: Event, evidence: list[dict[str, str]], state: MutableMapping[str, Any], key: str
    ) -> list[Finding]:
        src, dst, ts = event.agent_id, event.target_agent_id, event.epoch
        if not dst or dst == src:
            return []
        entry = state.get(key) or {"t": ts, "edges": [], "cycles": {}, "inc": None}
        edges: list[list[Any]] = entry["edges"]
        event_id = event.event_id
        for e in edges:  # a loop, not any(): no generator per event
            if e[3] == event_id:
                return []
        if ts > entry["t"]:
            entry["t"] = ts
        horizon = entry["t"] - self.window
        for e in edges:  # a new list only when an edge has left the window
            if e[0] < horizon:
                edges = [e for e in edges if e[0] >= horizon]
                break
        incident = entry["inc"] if still_open(entry["inc"], ts, self.window) else None
        # [round closing times within the window, event ids] per cycle; most threads have none.
        cycles: dict[str, list[Any]] = entry["cycles"]
        counted: Collection[str] = {i for _times, ids in cycles.values() for i in ids} if cycles else ()
        path = fresh = _path_back(edges, dst, src, ts, self.max_length - 1, counted)
        if fresh is None and counted and incident is not None:
            # A closing through counted replies is no new round, but it grows the incident.
            path = _path_back(edges, dst, src, ts, self.max_length - 1)
        edges.append((ts, src, dst, event_id))  # tuples: untracked by the GC
        if len(edges) > MAX_EDGES:
            del edges[:-MAX_EDGES]
        if cycles:
            cycles = {
                c: [times, ids] for c, (all_times, ids) in cycles.items()
                if (times := [t for t in all_times if t >= horizon])
            }
        fired = False
        if path is not None:
            agents = [dst] + [e[2] for e in path]  # dst -> ... -> src, then src -> dst closes it
            cycle = _canonical(agents)
            times, ids = cycles.get(cycle, [[], []])
            if fresh is not None:
                times, ids = (times + [ts])[-MAX_EDGES:], (ids + [e[3] for e in path] + [event.event_id])[-MAX_EDGES:]
                cycles[cycle] = [times, ids]
            if incident is None and fresh is not None and len(times) >= self.rounds:
                members = sorted({(e[0], e[3], e[1]) for e in edges if e[3] in set(ids)})
                incident = open_incident([(t, i, a, None) for t, i, a in members])
                incident["cycle"] = cycle
                fired = True
            elif incident is not None and incident.get("cycle") == cycle:
                fired = grow(incident, ts, event.event_id, src, sample_of(event))
        entry["edges"], entry["cycles"], entry["inc"] = edges, cycles, incident
        state[key] = entry
        if not fired or incident is None:
            return []
        rounds = len(cycles.get(incident["cycle"], [[]])[0])
        ev = {"thread": key, "cycle": incident["cycle"].split(" -> "), "rounds": rounds,
              "window_seconds": self.window, "matches": evidence}
        return [finding(key, incident, event, ev)]


def _path_back(edges: list[list[Any]], start: str, end: str, before: float, max_edges: int,
               skip: Collection[str] = ()) -> list[list[Any]] | None:
    """Edges start -> ... -> end, each later than the one before and all before `before`,
    through 2..max_edges edges over distinct agents (a path of one edge is ping-pong),
    none of them an edge whose event id is in `skip`."""
    for e in edges:  # most replies come from agents that have not replied here yet
        if e[1] == start:
            break
    else:
        return None
    out_of: dict[str, list[list[Any]]] = {}
    for e in edges:
        if e[0] <= before and e[3] not in skip:
            out_of.setdefault(e[1], []).append(e)
    if start not in out_of:
        return None
    return _walk(out_of, end, max_edges, start, float("-inf"), (start, end), [])


def _walk(out_of: dict[str, list[list[Any]]], end: str, max_edges: int, node: str, after: float,
          used: tuple[str, ...], path: list[list[Any]]) -> list[list[Any]] | None:
    """Depth-first search for `_path_back`. A function of its own, not a closure: a
    recursive closure is a reference cycle (function -> cell -> function), so every
    call left its edge index as garbage only the cyclic collector could free."""
    if len(path) >= max_edges:
        return None
    for e in out_of.get(node, ()):
        if e[0] < after:
            continue
        if e[2] == end and path:
            return path + [e]
        if e[2] not in used and e[2] != end:
            found = _walk(out_of, end, max_edges, e[2], e[0], used + (e[2],), path + [e])
            if found:
                return found
    return None


def _canonical(agents: list[str]) -> str:
    i = agents.index(min(agents))
    return " -> ".join(agents[i:] + agents[:i])
