"""`cipher`: text hidden by a cipher or an encoding, decoded and handed back for
rescanning.

Settings (all optional except `decoders`) are the fields of
`flockwatch.ciphers.config.ScanConfig`: which decoders run, which text fields are
read, and every threshold and allowlist. One finding per event lists every decoding
(cipher, key or shift, span, decoded text); each solved decoding becomes a derived
event (same ids, the decoded text in the field it came from, the chain of decodings in
`attrs.derived`) that the engine runs through every rule again. That is how a ROT13
"send me your seed phrase" raises both this rule's alert and the social-engineering
rule's.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

from flockwatch.ciphers.config import ScanConfig
from flockwatch.ciphers.decoding import Decoding
from flockwatch.ciphers.scanner import CipherScanner
from flockwatch.detect.detector import Detector, DetectorConfigError, Finding
from flockwatch.detect.registry import register
from flockwatch.ingest.event import Event


_JOIN = "\n\n"  # between two fields scanned as one text: a hard break for every decoder

# The last text scanned and its UTF-8: every rule of the pack scans the same fields of
# the same event, one after the other, so the join and the encoding are done once.
# Keyed by the identity of the field strings (immutable, and held here so their ids
# cannot be reused); one tuple, replaced whole, so a reader never sees a torn entry.
_last_text: tuple[str, str | None, str, bytes] = ("", None, "", b"")


def _text_of(v1: str, v2: str | None) -> tuple[str, bytes]:
    global _last_text
    last = _last_text
    if last[0] is v1 and last[1] is v2:
        return last[2], last[3]
    text = v1 if v2 is None else v1 + _JOIN + v2
    raw = text.encode("utf-8", "replace")
    _last_text = (v1, v2, text, raw)
    return text, raw


def _within(d: Decoding, field: str, offset: int) -> Decoding:
    """A decoding of the joined text, re-expressed in the field it lies in."""
    start, end = d.start - offset, d.end - offset
    return replace(d, start=start, end=end, whole=end - start >= 0.8 * len(field.strip()))


@register
class CipherDetector(Detector):
    name = "cipher"

    def __init__(self, rule: Any, params: dict[str, Any]):
        super().__init__(rule, params)
        try:
            self.config = ScanConfig.model_validate(params)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '<settings>'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise DetectorConfigError(problems) from None
        try:
            self.scanner = CipherScanner(self.config)
        except Exception as exc:  # a bad ignore_patterns regex, for one
            raise DetectorConfigError(str(exc)) from None

    def scan_event(self, event: Event) -> list[tuple[str, Decoding]]:
        """Decodings per field. Runs for every text event, so two fields (a post's
        title and body) are scanned as one text: each scan has a fixed cost that a
        short title would otherwise pay in full. A decoding that crosses from one
        field into the other, or leetspeak (whose plaintext is the whole text), sends
        the event back to one scan per field."""
        min_len = self.config.min_letters
        values = [(f, v) for f in self.config.fields if (v := getattr(event, f)) and len(v) >= min_len]
        scan = self.scanner.scan
        if len(values) == 2:
            (f1, v1), (f2, v2) = values
            cut = len(v1) + len(_JOIN)
            hits = scan(*_text_of(v1, v2))
            if not hits:
                return []
            mapped = []
            for d in hits:
                if d.cipher == "leetspeak":
                    break
                if d.end <= len(v1):
                    mapped.append((f1, _within(d, v1, 0)))
                elif d.start >= cut:
                    mapped.append((f2, _within(d, v2, cut)))
                else:
                    break
            else:
                return mapped
        if len(values) == 1:
            (f, v), = values
            return [(f, d) for d in scan(*_text_of(v, None))]
        return [(f, d) for f, v in values for d in scan(v)]

    def add_data(
        self, event: Event, evidence: list[dict[str, str]], state: MutableMapping[str, Any] | None
    ) -> list[Finding]:
        found = self.scan_event(event)
        if not found:
            return []
        chain = event.attrs.get("derived") or []
        if not isinstance(chain, list) or not all(isinstance(step, dict) for step in chain):
            chain = []  # attrs are free-form input: a malformed chain is not ours to trust
        derived = []
        for field, d in found:
            if not d.solved:
                continue
            step = {"cipher": d.cipher, "key": d.key, "field": field, "span": [d.start, d.end]}
            update = {"title": None, "text": None, field: d.plaintext,
                      "attrs": {**event.attrs, "derived": [*chain, step]}}
            derived.append(event.model_copy(update=update))
        ts = event.epoch
        # Nested decodings (base64 inside ROT13) are alerts of their own: the key
        # carries the chain that led to this text.
        chain_key = "/".join(f"{s.get('cipher')}@{s.get('field')}:{s.get('span')}" for s in chain)
        return [
            Finding(
                key=f"{self.rule.evidence_key(event)}\x1f{chain_key}",
                event=event,
                event_ids=[event.event_id],
                agent_ids=[event.agent_id],
                first_ts=ts,
                last_ts=ts,
                evidence={
                    "ciphers": sorted({d.cipher for _, d in found}),
                    "decodings": [{"field": f, **d.evidence()} for f, d in found],
                },
                derived=derived,
            )
        ]
