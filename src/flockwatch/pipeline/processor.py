"""Raw bytes in; alerts or a dead-letter record out. Shared by `scan` and the worker."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flockwatch.alerts.alert import Alert
from flockwatch.detect.engine import Engine
from flockwatch.ingest.dead_letter import dead_letter_record
from flockwatch.ingest.decode import DecodeFailure, decode_event
from flockwatch.metrics.registry import Metrics

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    alerts: list[Alert] = field(default_factory=list)
    dead_letter: dict[str, Any] | None = None
    event_ts: float | None = None


class Processor:
    def __init__(self, engine: Engine, metrics: Metrics | None = None):
        self.engine = engine
        self.metrics = metrics

    def handle(self, raw: bytes | str, source: dict[str, Any]) -> Outcome:
        decoded = decode_event(raw)
        if isinstance(decoded, DecodeFailure):
            return self.reject(decoded, source)
        try:
            alerts = self.engine.process(decoded)
        except Exception as exc:  # noqa: BLE001 - one bad event must not stop the stream
            log.exception("engine failed on event %s", decoded.event_id)
            return self.reject(DecodeFailure("engine_error", f"{type(exc).__name__}: {exc}", raw), source)
        return Outcome(alerts=alerts, event_ts=decoded.epoch)

    def reject(self, failure: DecodeFailure, source: dict[str, Any]) -> Outcome:
        if self.metrics:
            self.metrics.invalid.labels(failure.reason).inc()
            self.metrics.dead_letters.labels(failure.reason).inc()
        return Outcome(dead_letter=dead_letter_record(failure, source))
