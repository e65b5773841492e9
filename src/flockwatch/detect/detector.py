"""The one narrow interface every detector implements (after ElastAlert2's rule types).

A detector sees only events that passed its rule's condition and exceptions.
Stateless detectors ignore `state`. Stateful ones keep everything they know in the
`state` mapping they are handed, keyed by `partition_key(event)`: a plain dict in
`flockwatch scan`, a changelogged Faust table in the worker. Values must be JSON-
serialisable. Time is *event* time only, so a replay produces the same alerts as the
live run did.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from flockwatch.ingest.event import Event

if TYPE_CHECKING:
    from flockwatch.detect.compiled import CompiledRule


@dataclass
class Finding:
    """What a detector reports; the engine turns it into an Alert."""

    key: str  # evidence key: with the rule id it makes the fingerprint
    event: Event  # the event that produced this finding (used by the summary template)
    event_ids: list[str]
    agent_ids: list[str]
    first_ts: float
    last_ts: float
    count: int = 1
    evidence: dict[str, Any] = field(default_factory=dict)
    severity: str | None = None  # overrides the rule's severity (e.g. score-based)
    derived: list[Event] = field(default_factory=list)  # decoded content to rescan

    @classmethod
    def of_event(cls, key: str, event: Event, evidence: dict[str, Any], severity: str | None = None) -> Finding:
        """A finding about one event alone (what stateless rule types report)."""
        ts = event.epoch
        return cls(key=key, event=event, event_ids=[event.event_id], agent_ids=[event.agent_id],
                   first_ts=ts, last_ts=ts, evidence=evidence, severity=severity)


class Screen(Protocol):
    """A per-event test shared by many rules (e.g. the cue bank scan of the normalised
    text): computed once per event, its answer is a set of slot numbers."""

    def hits(self, event: Event) -> frozenset[int]: ...


class Detector(ABC):
    """Base of every rule type. Subclasses register by `name` in `registry.py`."""

    name: ClassVar[str]
    stateful: ClassVar[bool] = False

    def __init__(self, rule: CompiledRule, params: dict[str, Any]):
        self.rule = rule

    def partition_key(self, event: Event) -> str | None:
        """Key under which this event's state lives (and by which the worker must route
        it so one worker owns the key). Stateless detectors return None."""
        return None

    def partition_keys(self, event: Event) -> list[str]:
        """Every key this event's state lives under. Usually one; a fan-out key (every URL
        in a post, every MinHash band of its text) gives several, and the worker routes
        one copy of the event per key. Stateless detectors return []."""
        key = self.partition_key(event)
        return [] if key is None else [key]

    @property
    def agent_local(self) -> bool:
        """True if every partition key includes the event's agent_id, so all of a key's
        events share the agent's firehose partition and the key needs no repartitioning."""
        return True

    @abstractmethod
    def add_data(
        self, event: Event, evidence: list[dict[str, str]], state: MutableMapping[str, Any] | None
    ) -> list[Finding]:
        """Observe one matching event; return findings (usually zero or one)."""

    def reset(self) -> None:
        """Forget what the detector keeps beside its state (the engine's `reset_state`)."""

    def screen(self) -> tuple[Screen, frozenset[int]] | None:
        """A shared pre-test, and the slots of which at least one must be among its hits
        for `add_data` to find anything; None: no such test. For rules the prefilter
        cannot narrow, the engine runs the screen once per event and skips the rules it
        rules out (with `possible`) without calling them: with a dozen rules of one
        type on every event, the calls alone would cost more than the scan they share.
        For rules the prefilter picked, the screen runs only then, before the
        condition, and drops the rule if `possible` says so."""
        return None

    def possible(self, hits: frozenset[int]) -> bool:
        """False only if `add_data` cannot find anything on an event with these screen hits."""
        return True

    def garbage_collect(self, watermark: float, state: MutableMapping[str, Any]) -> int:
        """Drop state that no event at or after `watermark` (event time) can need.
        Returns the number of keys removed."""
        return 0


class DetectorConfigError(ValueError):
    """A rule's type-specific settings are wrong; the message says which."""


def check_settings(type_name: str, params: dict[str, Any], allowed: set[str]) -> None:
    """Refuse settings a rule type does not know (a typo must not be ignored)."""
    unknown = set(params) - allowed
    if unknown:
        raise DetectorConfigError(f"unknown {type_name} settings {sorted(unknown)}; known: {', '.join(sorted(allowed))}")
