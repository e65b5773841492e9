"""`flockwatch scan`: canonical JSONL through the engine, alerts merged by fingerprint.

With a repartitioning engine (what `flockwatch scan` builds), forwarded rules see
their events through a one-source `ReorderBuffer`, exactly as in the worker's second
stage: in (event time, event id) order, each event once the file has moved past its
time. So `scan` and any number of workers agree on a time-ordered stream.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO

from flockwatch.alerts.alert import Alert
from flockwatch.alerts.collector import AlertCollector
from flockwatch.detect.repartition import Forward, ReorderBuffer
from flockwatch.ingest.decode import DecodeFailure
from flockwatch.ingest.jsonl import numbered_lines
from flockwatch.pipeline.processor import Processor

MAX_REPORTED = 20  # bad lines echoed to stderr individually; the rest are counted


@dataclass
class ScanReport:
    events: int = 0
    invalid: int = 0
    invalid_by_reason: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    alerts: list[Alert] = field(default_factory=list)
    bad_lines: list[str] = field(default_factory=list)


def scan_stream(
    stream: BinaryIO,
    processor: Processor,
    source_name: str,
    dead_letter: TextIO | None = None,
) -> ScanReport:
    report = ScanReport()
    collector = AlertCollector()
    t0 = time.perf_counter()
    engine = processor.engine
    # One held item per event (its forwards, in the order the engine emitted them), not one
    # per forward: they share the event's (time, id), so the release order is the same.
    reorder: ReorderBuffer[list[Forward]] | None = (
        ReorderBuffer(1) if getattr(engine, "repartition", False) else None)
    for n, raw in numbered_lines(stream):
        source = {"file": source_name, "line": n}
        outcome = processor.reject(raw, source) if type(raw) is DecodeFailure else processor.handle(raw, source)
        if outcome.dead_letter is not None:
            dl = outcome.dead_letter
            report.invalid += 1
            report.invalid_by_reason[dl["reason"]] += 1
            if len(report.bad_lines) < MAX_REPORTED:
                report.bad_lines.append(f"{source_name}:{n}: {dl['reason']}: {dl['error']}")
            if dead_letter is not None:
                dead_letter.write(json.dumps(dl, ensure_ascii=False) + "\n")
            if reorder is not None:
                engine.take_forwards()  # emitted before the engine failed on it: dropped with it
            continue
        report.events += 1
        if outcome.alerts:
            collector.add(outcome.alerts)
        if reorder is not None:
            forwards = engine.take_forwards()
            if forwards:
                event = forwards[0].event
                reorder.add(event.epoch, event.event_id, forwards)
            reorder.advance(0, engine.watermark)
            if reorder:
                _observe(engine, reorder.release(), collector)
    if reorder is not None:
        _observe(engine, reorder.drain(), collector)
    processor.engine.flush_metrics()
    report.seconds = time.perf_counter() - t0
    report.alerts = collector.alerts()
    return report


def _observe(engine: object, batches: list[list[Forward]], collector: AlertCollector) -> None:
    for forwards in batches:
        alerts = engine.observe_forwards(forwards)  # type: ignore[attr-defined]
        if alerts:
            collector.add(alerts)
