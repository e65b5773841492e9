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


# The two latest events asked about and their samples (event, sample, event, sample).
# Events are frozen, so the same object has the same text; decoded content is another
# object. Two, not one: `scan` alternates between the event it reads and the forwards
# of the one before, released once the file has moved past its time.
_recent: list[Any] = [None, None, None, None]


def sample_of(event: Event) -> str | None:
    """A short excerpt of what the event said, for the alert. Memoised: every rule that
    stores a sample of one event shares the work."""
    recent = _recent
    if recent[0] is event:
        return recent[1]  # type: ignore[no-any-return]
    if recent[2] is event:
        return recent[3]  # type: ignore[no-any-return]
    sample = _excerpt(event)
    recent[2], recent[3] = recent[0], recent[1]
    recent[0], recent[1] = event, sample
    return sample


def _excerpt(event: Event) -> str | None:
    text = (event.text or "").strip() or (event.title or "").strip()
    if not text:
        return None
    # Folding the whitespace of the text's head gives the head of the folded text: when
    # that is already too long, the rest of a long text need not be split.
    head = " ".join(text[: 4 * SAMPLE_CHARS].split())
    if len(head) <= SAMPLE_CHARS:
        head = " ".join(text.split()) if len(text) > 4 * SAMPLE_CHARS else head
        if len(head) <= SAMPLE_CHARS:
            return head
    return head[: SAMPLE_CHARS - 1] + "…"


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
