"""Dead-letter records: the raw input, why it was rejected and where it came from.
The same JSON shape goes to a file in `scan` and to the dead-letter topic in the worker."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from flockwatch.ingest.decode import DecodeFailure

MAX_RAW = 64 * 1024  # keep the record bounded even for a giant poison message


def dead_letter_record(failure: DecodeFailure, source: dict[str, Any]) -> dict[str, Any]:
    raw = failure.raw
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    return {
        "reason": failure.reason,
        "error": failure.message,
        "source": source,
        "raw": text[:MAX_RAW],
        "raw_truncated": len(text) > MAX_RAW,
        "rejected_at": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
    }


def dead_letter_json(failure: DecodeFailure, source: dict[str, Any]) -> bytes:
    return json.dumps(dead_letter_record(failure, source), ensure_ascii=False).encode()
