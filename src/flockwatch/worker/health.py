"""What /healthz and /readyz report.

healthz: the process is alive AND its event loop still turns (a timer ticks it); a
  wedged loop fails it, so an orchestrator restarts the worker.
readyz: partitions assigned (a rebalance completed and none is under way), the
  store answers, and at least one rule is loaded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

STALL_AFTER = 30.0  # seconds without a loop tick before healthz fails
STORE_CHECK_EVERY = 2.0  # seconds a store check result is reused


@dataclass
class Health:
    rules_loaded: int = 0
    assigned: bool = False
    store_check: Callable[[], None] | None = None  # raises if the store is unreachable
    started: float = field(default_factory=time.monotonic)
    ready_at: float | None = None  # monotonic time readiness was first reached
    last_tick: float = field(default_factory=time.monotonic)
    store_error: str | None = None
    _store_checked: float = float("-inf")

    def tick(self) -> None:
        self.last_tick = time.monotonic()

    def live(self) -> tuple[bool, dict[str, object]]:
        stalled = time.monotonic() - self.last_tick
        return stalled < STALL_AFTER, {"loop_stalled_seconds": round(stalled, 3)}

    def _store_ok(self) -> bool:
        now = time.monotonic()
        if self.store_check is not None and now - self._store_checked >= STORE_CHECK_EVERY:
            self._store_checked = now
            try:
                self.store_check()
                self.store_error = None
            except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
                self.store_error = f"{type(exc).__name__}: {exc}"[:300]
        return self.store_error is None

    def ready(self) -> tuple[bool, dict[str, object]]:
        checks = {"partitions_assigned": self.assigned, "store_reachable": self._store_ok(),
                  "rules_loaded": self.rules_loaded > 0}
        ok = all(checks.values())
        if ok and self.ready_at is None:
            self.ready_at = time.monotonic()
        detail: dict[str, object] = dict(checks)
        if self.store_error:
            detail["store_error"] = self.store_error
        return ok, detail
