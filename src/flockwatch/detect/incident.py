"""One alert per incident: the record a stateful detector keeps while an incident is
open, and the Finding it reports every time the incident grows.

An incident's identity (and so its alert fingerprint) is the rule, the partition key
and the incident's first event; it never changes as the incident grows. The record
is a plain dict (JSON-serialisable for Faust tables) with bounded lists: `n` keeps
the true count when `ids` is capped.
"""

from __future__ import annotations

from typing import Any

from flockwatch.detect.detector import Finding
from flockwatch.ingest.event import Event

MAX_IDS = 200
MAX_AGENTS = 200
MAX_SAMPLES = 3
SAMPLE_CHARS = 160

Incident = dict[str, Any]


_last_sample: tuple[tuple[str, str | None, str | None] | None, str | None] = (None, None)


def sample_of(event: Event) -> str | None:
    """A short excerpt of what the event said, for the alert. Memoised for the last
    event (by id and text: decoded content keeps its event's id): every rule that stores
    a sample of one event shares the work."""
    global _last_sample
    memo = (event.event_id, event.text, event.title)
    if _last_sample[0] != memo:
        _last_sample = (memo, _excerpt(event))
    return _last_sample[1]


def _excerpt(event: Event) -> str | None:
    text = (event.text or "").strip() or (event.title or "").strip()
    if not text:
        return None
    text = " ".join(text.split())
    return text if len(text) <= SAMPLE_CHARS else text[: SAMPLE_CHARS - 1] + "…"


def open_incident(members: list[tuple[float, str, str, str | None]]) -> Incident:
    """Open from (ts, event_id, agent_id, sample) members in time order."""
    samples: list[str] = []
    for _ts, _eid, _agent, sample in members:
        if sample and sample not in samples and len(samples) < MAX_SAMPLES:
            samples.append(sample)
    return {
        "first": members[0][1],
        "t0": members[0][0],
        "t1": max(m[0] for m in members),
        "n": len(members),
        "ids": [m[1] for m in members][-MAX_IDS:],
        "agents": sorted({m[2] for m in members})[:MAX_AGENTS],
        "samples": samples,
    }


def grow(incident: Incident, ts: float, event_id: str, agent_id: str, sample: str | None) -> bool:
    """Add one event; False if it was already counted (a replay)."""
    if event_id in incident["ids"]:
        return False
    incident["n"] += 1
    incident["t1"] = max(incident["t1"], ts)
    incident["ids"] = (incident["ids"] + [event_id])[-MAX_IDS:]
    if agent_id not in incident["agents"] and len(incident["agents"]) < MAX_AGENTS:
        incident["agents"] = sorted(incident["agents"] + [agent_id])
    if sample and sample not in incident["samples"] and len(incident["samples"]) < MAX_SAMPLES:
        incident["samples"] = incident["samples"] + [sample]
    return True


def still_open(incident: Incident | None, ts: float, quiet: float) -> bool:
    """An incident closes once no event extended it for `quiet` seconds."""
    return incident is not None and ts - incident["t1"] <= quiet


def finding(key: str, incident: Incident, event: Event, evidence: dict[str, Any]) -> Finding:
    ev = dict(evidence)
    ev["samples"] = list(incident["samples"])
    ev["agents"] = len(incident["agents"])
    return Finding(
        key=f"{key}\x1f{incident['first']}",
        event=event,
        event_ids=list(incident["ids"]),
        agent_ids=list(incident["agents"]),
        first_ts=incident["t0"],
        last_ts=incident["t1"],
        count=incident["n"],
        evidence=ev,
    )
