"""Benign traffic: agents with their own cadence, topics and words; threads with
replies; votes, follows and DMs. Deterministic for a seed."""

from __future__ import annotations

import math
import random
from bisect import bisect
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from itertools import accumulate
from typing import Any

from flockwatch.simulate import vocab

EVENT_MIX = (("post", 0.12), ("comment", 0.33), ("vote", 0.35), ("follow", 0.12), ("dm", 0.08))
START = datetime(2026, 2, 1, 0, 0, tzinfo=timezone.utc)


@dataclass
class Agent:
    id: str
    name: str
    topics: list[str]
    words: list[str]
    weight: float  # relative activity: agents post at very different rates


@dataclass
class Thread:
    post_id: str
    author: str
    topic: str
    comments: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=8))  # (event_id, author)


def iso(ts: float) -> str:
    return (START + timedelta(seconds=ts)).isoformat(timespec="microseconds")


class Society:
    def __init__(self, rng: random.Random, n_agents: int):
        self.rng = rng
        self.agents = [self._agent(i) for i in range(n_agents)]
        self._cum = list(accumulate(a.weight for a in self.agents))
        self.threads: deque[Thread] = deque(maxlen=3000)
        self.sites = [f"https://{w}.example/{t}" for w in vocab.NAME_PARTS_A for t in vocab.TOPICS]

    def _agent(self, i: int) -> Agent:
        rng = self.rng
        a, b, c = vocab.NAME_PARTS_A, vocab.NAME_PARTS_B, vocab.NAME_PARTS_C
        combo = i % (len(a) * len(b) * len(c))
        name = a[combo % len(a)] + b[(combo // len(a)) % len(b)] + c[(combo // (len(a) * len(b))) % len(c)]
        # A few agents carry a number, each with a stem of its own (one numbered account
        # per stem is normal; a fleet sharing one stem is the incident).
        if i < len(a) * len(b) * len(c) and rng.random() < 0.06:
            name += str(rng.randint(1, 999))
        elif i >= len(a) * len(b) * len(c):
            name += f"-{i}"  # uniqueness for very large societies, no shared stem
        topics = rng.sample(list(vocab.TOPICS), 2)
        pool = [w for t in vocab.TOPICS.values() for w in t]
        words = rng.sample(pool, 10) + rng.sample(vocab.JARGON, 20)
        weight = min(8.0, math.exp(rng.gauss(0, 0.8)))  # busy and quiet agents, none far past the rate limit
        return Agent(id=f"ag{i:06d}", name=name, topics=topics, words=words, weight=weight)

    def pick(self) -> Agent:
        return self.agents[bisect(self._cum, self.rng.random() * self._cum[-1])]

    def sentence(self, agent: Agent, topic: str | None = None) -> str:
        rng = self.rng
        topic = topic or rng.choice(agent.topics)
        tw = vocab.TOPICS[topic]
        w1, w2, w3 = rng.choice(tw), rng.choice(agent.words), rng.choice(agent.words)
        parts = [rng.choice(vocab.OPENERS), rng.choice(vocab.VERBS), "the", rng.choice(vocab.ADJECTIVES), w1,
                 rng.choice(vocab.CONNECTORS), rng.choice(vocab.VERBS), w2, "and", w3]
        if rng.random() < 0.5:
            parts += ["with", rng.choice(vocab.ADJECTIVES), rng.choice(tw), "for", rng.choice(vocab.JARGON)]
        return " ".join(parts) + rng.choice([".", "!", "?", "..."])

    def post_text(self, agent: Agent, topic: str) -> tuple[str, str]:
        n = self.rng.randint(1, 3)
        text = " ".join(self.sentence(agent, topic) for _ in range(n))
        title = f"{self.rng.choice(vocab.ADJECTIVES).title()} thoughts on {self.rng.choice(vocab.TOPICS[topic])}"
        return title, text

    def reply_text(self, agent: Agent, topic: str) -> str:
        rng = self.rng
        tw = vocab.TOPICS[topic]
        line = rng.choice(vocab.REPLIES).format(w=rng.choice(tw), w2=rng.choice(agent.words))
        return line + " " + self.sentence(agent, topic) if rng.random() < 0.85 else line

    def events(self, n: int, rate: float, ids: Iterator[str], t0: float = 0.0) -> Iterator[dict[str, Any]]:
        """`n` benign events, a Poisson stream of `rate` events per second from t0."""
        rng = self.rng
        kinds = [k for k, _ in EVENT_MIX]
        cum = list(accumulate(w for _, w in EVENT_MIX))
        ts = t0
        for _ in range(n):
            ts += rng.expovariate(rate)
            kind = kinds[bisect(cum, rng.random() * cum[-1])]
            agent = self.pick()
            if kind in ("comment", "vote") and not self.threads:
                kind = "post"
            yield self.event(kind, agent, ts, next(ids))

    def event(self, kind: str, agent: Agent, ts: float, event_id: str) -> dict[str, Any]:
        rng = self.rng
        ev: dict[str, Any] = {"event_id": event_id, "type": kind, "ts": iso(ts), "agent_id": agent.id,
                              "agent_name": agent.name}
        if kind == "post":
            topic = rng.choice(agent.topics)
            title, text = self.post_text(agent, topic)
            if rng.random() < 0.05:
                text += f" {rng.choice(self.sites)}/{rng.randint(1, 10**6)}"
            ev.update(post_id=event_id, community=topic, title=title, text=text)
            self.threads.append(Thread(event_id, agent.id, topic))
        elif kind in ("comment", "vote"):
            # Recent threads get most of the attention.
            th = self.threads[-1 - min(int(rng.expovariate(1 / 200)), len(self.threads) - 1)]
            parent_id, parent_author = (th.post_id, th.author)
            if th.comments and rng.random() < 0.5:
                parent_id, parent_author = rng.choice(list(th.comments))
            ev.update(post_id=th.post_id, community=th.topic, target_agent_id=parent_author)
            if parent_id != th.post_id:
                ev["parent_id"] = parent_id
            if kind == "comment":
                ev["text"] = self.reply_text(agent, th.topic)
                th.comments.append((event_id, agent.id))
            else:
                ev["value"] = 1 if rng.random() < 0.85 else -1
        elif kind == "follow":
            ev["target_agent_id"] = self.pick().id
        elif kind == "dm":
            other = self.pick()
            ev.update(target_agent_id=other.id, text=self.reply_text(agent, rng.choice(agent.topics)))
        if ev.get("target_agent_id") == agent.id:
            ev.pop("target_agent_id")
        return ev
