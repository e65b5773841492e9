"""When to try a request again, and how long to wait first."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # tries per request for 5xx, timeouts and connection errors
    base: float = 1.0  # first backoff (s); doubles each try
    cap: float = 60.0  # longest backoff (s)
    malformed_attempts: int = 3  # tries when the body is not JSON (often a truncated response)
    rate_limited_attempts: int = 20  # 429s tolerated for one request before giving up
    default_retry_after: float = 60.0  # a 429 that does not say how long
    max_retry_after: float = 3600.0  # never trust a retry-after longer than this

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Exponential backoff with equal jitter: between half and all of base*2^attempt."""
        step = min(self.cap, self.base * (2 ** attempt))
        return step / 2 + (rng or random).random() * step / 2

    def retry_after(self, body: bytes, headers: Mapping[str, str]) -> float:
        """Seconds a 429 asks us to wait: the body's `retry_after_seconds` or
        `retry_after_minutes` (Moltbook's fields), else the `Retry-After` header."""
        wait: float | None = None
        try:
            doc = json.loads(body) if body else None
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            for key, scale in (("retry_after_seconds", 1.0), ("retry_after_minutes", 60.0)):
                value = doc.get(key)
                if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
                    wait = float(value) * scale
                    break
        if wait is None:
            header = headers.get("Retry-After")
            if header is not None:
                try:
                    wait = max(0.0, float(header))
                except ValueError:
                    wait = None  # an HTTP date: rare; fall back to the default
        if wait is None:
            wait = self.default_retry_after
        return min(wait, self.max_retry_after)
