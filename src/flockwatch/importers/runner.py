"""Run importers over files: de-duplicate by event id, order by event time, give
name-only authors their platform id when another file knows it, write to a sink
(canonical JSONL or Kafka), dead-letter what does not map, count everything."""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic_core import to_json

from flockwatch.bridge.mapping import Mapped, parse_json
from flockwatch.bridge.sinks import DeadLetterSink, EventSink
from flockwatch.importers.formats import reader_for
from flockwatch.ingest.dead_letter import dead_letter_record
from flockwatch.ingest.decode import DecodeFailure, decode_event

ORDERS = ("time", "input")
_PSEUDO_IDS = ("name:", "unknown:", "submolt:")

# (event time, input sequence, canonical bytes, agent id, post id): what sorting needs
# to hold, at a quarter of the memory of the validated Event objects.
Held = tuple[float, int, bytes, str, str | None]


@dataclass
class ImportReport:
    files: list[tuple[str, str]] = field(default_factory=list)  # (path, format)
    events: Counter[str] = field(default_factory=Counter)  # written, by type
    duplicates: int = 0
    resolved: int = 0  # name-only authors given their platform id
    rejected: Counter[str] = field(default_factory=Counter)  # by reason
    seconds: float = 0.0

    @property
    def written(self) -> int:
        return sum(self.events.values())


class _NameIndex:
    """agent name -> platform id, from every event that carries both. A name seen
    with two ids is ambiguous and never used."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}
        self.ambiguous: set[str] = set()

    def learn(self, name: str | None, agent_id: str) -> None:
        if not name or agent_id.startswith(_PSEUDO_IDS):
            return
        known = self.ids.setdefault(name, agent_id)
        if known != agent_id:
            self.ambiguous.add(name)

    def lookup(self, pseudo_id: str) -> str | None:
        name = pseudo_id[5:]
        return None if name in self.ambiguous else self.ids.get(name)


def _with_agent_id(data: bytes, agent_id: str) -> bytes | None:
    doc = parse_json(data)
    doc["agent_id"] = agent_id
    doc.setdefault("attrs", {})["agent_id_from_name"] = True
    out = to_json(doc)
    return None if isinstance(decode_event(out), DecodeFailure) else out


def import_files(files: Iterable[tuple[Path, str]], sink: EventSink, dead_letters: DeadLetterSink | None = None,
                 *, observed_at: str | None = None, order: str = "time", dedupe: bool = True) -> ImportReport:
    """Import `(path, format)` pairs. `order="time"` sorts by event time (stable, so
    ties keep input order) because windowed rules expect time order and dumps are
    often newest-first; it holds the import in memory (~1 KB/post) and resolves
    `name:` agent ids. `order="input"` streams and resolves nothing."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}")
    report = ImportReport()
    seen: set[str] = set()
    held: list[Held] = []
    names = _NameIndex()
    t0 = time.perf_counter()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of long-lived tuples: the cyclic GC would rescan them all, for nothing
    try:
        for path, fmt in files:
            report.files.append((str(path), fmt))
            read = reader_for(fmt, path, observed_at)
            with path.open("rb") as stream:
                for result, where in read(stream):
                    if not isinstance(result, Mapped):
                        report.rejected[result.failure.reason] += 1
                        if dead_letters is not None:
                            source = {"importer": fmt, "file": str(path), "line": where, "kind": result.kind}
                            dead_letters.send_record(dead_letter_record(result.failure, source))
                        continue
                    ev = result.event
                    if dedupe:
                        if ev.event_id in seen:
                            report.duplicates += 1
                            continue
                        seen.add(ev.event_id)
                    report.events[ev.type] += 1
                    if order == "time":
                        if not ev.agent_id.startswith(_PSEUDO_IDS):
                            names.learn(ev.agent_name, ev.agent_id)
                        held.append((ev.epoch, len(held), result.data, ev.agent_id, ev.post_id))
                    else:
                        sink.send(result)
        if held:
            held.sort()  # (time, sequence) is unique, so the bytes are never compared
            for _, _, data, agent_id, post_id in held:
                if agent_id.startswith("name:") and (real := names.lookup(agent_id)) is not None:
                    rewritten = _with_agent_id(data, real)
                    if rewritten is not None:
                        data, agent_id = rewritten, real
                        report.resolved += 1
                sink.send_raw(data, agent_id, post_id)
        sink.flush()
        if dead_letters is not None:
            dead_letters.flush()
    finally:
        if gc_was_enabled:
            gc.enable()
    report.seconds = time.perf_counter() - t0
    return report
