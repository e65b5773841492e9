"""`echo_chain`: replies that restate their parent. A reply whose words are at least
`min_similarity` like the message it answers (by another agent) extends that
message's echo chain; a chain `length` links long within `window` is reported, one
alert per thread incident, growing as the echo goes on.

Partitioned by thread (`post_id`): a post and its comments live together.
Messages are remembered by event id; a reply names its parent by the platform's id
(`parent_id`, or `post_id` for a top-level comment), which is the parent's event id in
simulated streams and its event id without the `comment:`/`post:` prefix in events
from the bridge and the importers (`bridge/mapping.py`).
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

SIG_PERM = 32
MAX_MESSAGES = 200  # messages remembered per thread


@register
class EchoChainDetector(KeyedDetector):
    name = "echo_chain"

    def __init__(self, rule: Any, params: dict[str, Any]):
        super().__init__(rule, params)
        p = Params(self.name, params, {"window", "length", "min_similarity", "min_tokens"})
        self.window = self.ttl = p.duration("window")
        self.length = p.integer("length", 3, minimum=2)
        self.min_similarity = p.number("min_similarity", 0.7, 0.0, 1.0)
        self.min_tokens = p.integer("min_tokens", 4)
        self.group_by = parse_group_by(["post_id"])

    def observe(
        self, event: Event, evidence: list[dict[str, str]], state: MutableMapping[str, Any], key: str
    ) -> list[Finding]:
        ts = event.epoch
        entry = state.get(key) or {"t": ts, "msgs": {}, "inc": None}
        msgs: dict[str, list[Any]] = entry["msgs"]
        if event.event_id in msgs:
            return []
        text = event.text or event.title or ""
        sig = tuple(MEMO.signature(text, SIG_PERM)) if len(MEMO.words(text)) >= self.min_tokens else ()
        parent_id = _parent_key(event, msgs)
        parent = msgs.get(parent_id) if parent_id else None
        chain: list[str] = []
        if parent and sig and parent[1] != event.agent_id and ts - parent[0] <= self.window \
                and similarity(sig, parent[2]) >= self.min_similarity:
            chain = ([*parent[3], parent_id])[-MAX_MESSAGES:]
        # Tuples of atoms: the garbage collector stops tracking them (see window_count.py).
        msgs[event.event_id] = (ts, event.agent_id, sig, tuple(chain))
        if len(msgs) == MAX_MESSAGES + 1:  # the usual case in a long thread: drop the oldest
            del msgs[min(msgs, key=lambda k: msgs[k][0])]
        elif len(msgs) > MAX_MESSAGES:
            for old in sorted(msgs, key=lambda k: msgs[k][0])[: len(msgs) - MAX_MESSAGES]:
                del msgs[old]
        if ts > entry["t"]:
            entry["t"] = ts
        incident = entry["inc"] if still_open(entry["inc"], ts, self.window) else None
        links = len(chain)
        if chain and incident is None and links >= self.length:
            members = [(msgs[c][0], c, msgs[c][1], None) for c in chain if c in msgs]
            incident = open_incident(members + [(ts, event.event_id, event.agent_id, sample_of(event))])
        elif chain and incident is not None:
            grow(incident, ts, event.event_id, event.agent_id, sample_of(event))
        else:
            chain = []
        entry["inc"] = incident
        state[key] = entry
        if incident is None or not chain:
            return []
        ev = {"thread": key, "chain_length": links, "window_seconds": self.window, "matches": evidence}
        return [finding(key, incident, event, ev)]


def _parent_key(event: Event, msgs: dict[str, Any]) -> str | None:
    """The event id under which the message this event replies to is remembered, if it is."""
    if event.parent_id:
        ref, prefixed = event.parent_id, "comment:" + event.parent_id
    elif event.type != "post" and event.post_id:
        ref, prefixed = event.post_id, "post:" + event.post_id
    else:
        return None
    if ref in msgs:
        return ref
    return prefixed if prefixed in msgs else None
