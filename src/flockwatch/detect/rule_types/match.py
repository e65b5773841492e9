"""`match`: the stateless rule type. Every event that satisfies the condition (and no
exception) is a finding. One alert per event unless `fingerprint_by` groups them."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from flockwatch.detect.detector import Detector, DetectorConfigError, Finding
from flockwatch.detect.registry import register
from flockwatch.ingest.event import Event


@register
class MatchDetector(Detector):
    name = "match"

    def __init__(self, rule: Any, params: dict[str, Any]):
        super().__init__(rule, params)
        if params:
            raise DetectorConfigError(f"type match takes no extra settings, got {sorted(params)}")

    def add_data(
        self, event: Event, evidence: list[dict[str, str]], state: MutableMapping[str, Any] | None
    ) -> list[Finding]:
        return [Finding.of_event(self.rule.evidence_key(event), event, {"matches": evidence})]
