"""Log lines for rejected records, bounded so a flood of bad input cannot flood the log.

A rejected record goes to the dead-letter topic and counts in a metric; someone on call
also wants to read, in the worker's own log, that records are being rejected, why, and
where to find them, without a poison stream of a million records writing a million
lines. So: the first `per_window` rejections of each `window` seconds are logged one
by one (topic, partition, offset, reason, error), and the rest as one summary line when
the window closes. An `engine_error` (the engine raised on a valid record: a flockwatch
bug, not bad input) is logged at ERROR, the others at WARNING.

Error texts can quote the record, which is hostile input: control characters (a newline
would forge a log line) are escaped and the text is cut short.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

log = logging.getLogger("flockwatch.rejected")

MAX_ERROR_CHARS = 300
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F)} | {0x85: "\\x85", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def printable(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """One log-safe line: control and line-separator characters escaped, at most `limit` characters."""
    cut = text[:limit]
    return cut.translate(_CONTROL) + ("…" if len(text) > limit else "")


class RejectionLog:
    def __init__(self, dead_letter_topic: str, per_window: int = 10, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        self.dead_letter_topic = dead_letter_topic
        self.per_window = per_window
        self.window = window
        self.clock = clock
        self._window_start = clock()
        self._logged = 0
        self._suppressed: Counter[str] = Counter()

    def note(self, dead_letter: dict[str, Any]) -> None:
        """One rejected record (the dead-letter record that is being published)."""
        self._roll()
        reason = str(dead_letter.get("reason", "?"))
        if self._logged >= self.per_window:
            self._suppressed[reason] += 1
            return
        self._logged += 1
        src = dead_letter.get("source") or {}
        level = logging.ERROR if reason == "engine_error" else logging.WARNING
        log.log(level, "rejected record %s/%s@%s (%s): %s; sent to %s", src.get("topic"), src.get("partition"),
                src.get("offset"), reason, printable(str(dead_letter.get("error", ""))), self.dead_letter_topic)

    def flush(self) -> None:
        """Close the window if it is over (called after each batch, and by `note`)."""
        self._roll()

    def _roll(self) -> None:
        now = self.clock()
        if now - self._window_start < self.window:
            return
        if self._suppressed:
            reasons = ", ".join(f"{r} {n}" for r, n in self._suppressed.most_common())
            log.warning("%d more records rejected in the last %.0f s and not logged one by one (%s); "
                        "all are in %s", sum(self._suppressed.values()), now - self._window_start, reasons,
                        self.dead_letter_topic)
        self._window_start = now
        self._logged = 0
        self._suppressed.clear()
