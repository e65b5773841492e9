"""Put a society and its incidents together into one time-ordered event stream."""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flockwatch.simulate.incidents import KINDS, Builder
from flockwatch.simulate.society import Society

# One of each kind per this many events (at least one of each in any stream).
DEFAULT_MIX: dict[str, int] = {
    "campaign": 4, "link_wave": 1, "self_repetition": 1, "ping_pong": 1, "reply_cycle": 1, "echo_chain": 1,
    "propagation": 1, "rot13_injection": 1, "operator_dm_scam": 1, "credential_leak": 1,
    "news_discussion": 1, "prolific_agent": 1, "lively_debate": 1, "popular_link": 1,
}


@dataclass
class SimConfig:
    seed: int = 1
    agents: int = 2000
    events: int = 20000  # benign background events; incidents come on top
    rate: float = 30.0  # background events per second of event time
    incidents_per_50k: int = 1  # how many rounds of DEFAULT_MIX per 50,000 events (at least 1)
    mix: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_MIX))


@dataclass
class Simulation:
    config: SimConfig
    labels: list[dict[str, Any]] = field(default_factory=list)

    def stream(self) -> Iterator[dict[str, Any]]:
        """Events in time order; `labels` is filled before the first event is yielded."""
        cfg = self.config
        rng = random.Random(cfg.seed)
        society = Society(rng, cfg.agents)
        duration = cfg.events / cfg.rate
        rounds = max(1, round(cfg.events / 50_000 * cfg.incidents_per_50k))
        # Warm the society up (threads to reply to) before the first incident.
        warm = min(500, cfg.events // 10)
        ids = (f"ev{n}" for n in itertools.count())
        background = society.events(cfg.events, cfg.rate, ids)
        head = [next(background) for _ in range(warm)]
        plan = [(kind, rng.uniform(duration * 0.05, duration * 0.95))
                for kind, per in cfg.mix.items() for _ in range(per * rounds)]
        plan.sort(key=lambda p: p[1])
        injected: list[dict[str, Any]] = []
        for n, (kind, t0) in enumerate(plan):
            events, label = KINDS[kind](Builder(rng, society, f"i{n:04d}"), t0)
            injected.extend(events)
            self.labels.append(label)
        injected.sort(key=lambda e: e["ts"])
        yield from heapq.merge(head, background, injected, key=lambda e: e["ts"])
