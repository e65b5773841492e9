"""The demo's live stream: the agent society (`flockwatch.simulate`) with the five
incidents the demo shows, moved to wall-clock time and paced at the requested rate.

Event time is rebased so the stream starts now: latency metrics and the dashboards'
"last 15 minutes" then mean what they say. Each event comes with `due`, the second
after the start at which the producer sends it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from flockwatch.simulate.stream import SimConfig, Simulation

# Agents per background event/s: the simulator's own default (2,000 agents at 30 events/s),
# about one event per agent per minute. The demo plays a minute of traffic at hundreds of
# events/s; with a fixed 300 agents each posted a dozen times a minute, and
# baseline.post_flood (10 posts in 10 minutes) rightly reported some 38 of those benign
# agents: the demo's first screen listed them as false alarms.
AGENTS_PER_RATE = SimConfig.agents / SimConfig.rate
MIN_AGENTS = 300

# incident kind -> what the demo calls it
DEMO_INCIDENTS: dict[str, str] = {
    "rot13_injection": "ROT13-wrapped injection",
    "operator_dm_scam": "operator-targeted DM scam",
    "campaign": "spam cascade",
    "ping_pong": "reply ping-pong loop",
    "credential_leak": "credential leak",
}


@dataclass(frozen=True)
class DemoPlan:
    duration: float  # seconds of traffic
    rate: float  # background events per second (incidents come on top)
    seed: int = 7
    agents: int | None = None  # None: as many as keep each agent's pace realistic at `rate`

    @property
    def background_events(self) -> int:
        return max(100, int(self.duration * self.rate))

    @property
    def society_agents(self) -> int:
        return self.agents if self.agents is not None else max(MIN_AGENTS, round(self.rate * AGENTS_PER_RATE))


class DemoStream:
    """Materialised (a demo is a few tens of thousands of events). The simulator paces
    incidents in realistic minutes (a campaign over up to ten); the demo moves and
    squeezes each one to play out within the run, then sorts everything by time."""

    MAX_INCIDENT_SHARE = 0.25  # an incident spans at most this share of the run
    END_MARGIN = 0.95  # and ends before this share of it

    def __init__(self, plan: DemoPlan, start: datetime | None = None):
        self.plan = plan
        config = SimConfig(seed=plan.seed, agents=plan.society_agents, events=plan.background_events, rate=plan.rate,
                           incidents_per_50k=1, mix=dict.fromkeys(DEMO_INCIDENTS, 1))
        self.simulation = Simulation(config)
        self.start = start or datetime.now(timezone.utc)
        self.labels: list[dict[str, Any]] = []
        self._events: list[tuple[float, dict[str, Any]]] | None = None

    def events(self) -> list[tuple[float, dict[str, Any]]]:
        """(due seconds after start, event), in time order, timestamps rebased to now."""
        if self._events is None:
            self._events = self._build()
        return self._events

    def _build(self) -> list[tuple[float, dict[str, Any]]]:
        raw = list(self.simulation.stream())
        origin = datetime.fromisoformat(raw[0]["ts"])
        offset = {e["event_id"]: (datetime.fromisoformat(e["ts"]) - origin).total_seconds() for e in raw}
        length = self.plan.duration
        for label in self.simulation.labels:
            ids = label["event_ids"]
            first = min(offset[i] for i in ids)
            span = max(offset[i] for i in ids) - first
            new_span = min(span, length * self.MAX_INCIDENT_SHARE)
            anchor = max(0.0, min(first, length * self.END_MARGIN - new_span))
            squeeze = new_span / span if span > 0 else 1.0
            for i in ids:
                offset[i] = anchor + (offset[i] - first) * squeeze
            self.labels.append(label | {
                "name": DEMO_INCIDENTS.get(label["kind"], label["kind"]),
                "start": self._at(min(offset[i] for i in ids)), "end": self._at(max(offset[i] for i in ids)),
            })
        out = []
        for e in raw:
            due = offset[e["event_id"]]
            out.append((due, e | {"ts": self._at(due)}))
        out.sort(key=lambda pair: pair[0])
        return out

    def _at(self, seconds: float) -> str:
        return (self.start + timedelta(seconds=seconds)).isoformat(timespec="microseconds")


def paced(events: Iterable[tuple[float, dict[str, Any]]], clock: float | None = None,
          stop: Any = None) -> Iterator[dict[str, Any]]:
    """Yield each event when its `due` second has come (wall clock from `clock`)."""
    t0 = time.monotonic() if clock is None else clock
    for due, ev in events:
        wait = t0 + due - time.monotonic()
        if wait > 0:
            if stop is not None and stop.wait(wait):
                return
            elif stop is None:
                time.sleep(wait)
        if stop is not None and stop.is_set():
            return
        yield ev
