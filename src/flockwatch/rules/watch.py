"""What triggers a rule reload: SIGHUP, or a pack file whose content changed.

The watcher polls: it hashes the pack files every `interval` seconds (a few KB of
YAML, far cheaper than the events in between) instead of adding an inotify
dependency. Hashing content rather than comparing mtimes also catches Kubernetes
ConfigMap updates, which swap a symlink and keep old timestamps. A change must read
the same twice, `settle` seconds apart, before it is reloaded, so an editor or
`kubectl cp` caught half-way through a write is not reported as a broken pack.

All reloads run on the watcher's thread; the SIGHUP handler only wakes it (a signal
handler must not do real work).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections import deque
from typing import Any

from flockwatch.rules.reload import ReloadResult, RuleSet, source_signature

log = logging.getLogger(__name__)


class RuleWatcher:
    def __init__(self, ruleset: RuleSet, interval: float = 2.0, settle: float = 0.25, watch_files: bool = True):
        self.ruleset = ruleset
        self.interval = interval
        self.settle = settle
        self.watch_files = watch_files
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._requests: deque[str] = deque()
        self._thread: threading.Thread | None = None
        self.last_result: ReloadResult | None = None
        self.attempts = 0

    def start(self) -> RuleWatcher:
        self._thread = threading.Thread(target=self._run, name="flockwatch-rule-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> RuleWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def request_reload(self, trigger: str = "sighup") -> None:
        """Ask for a reload now (safe to call from a signal handler)."""
        self._requests.append(trigger)
        self._wake.set()

    def _run(self) -> None:
        seen = source_signature(self.ruleset.paths)
        while not self._stop.is_set():
            woke = self._wake.wait(self.interval)
            if self._stop.is_set():
                return
            if woke:
                self._wake.clear()
                while self._requests:
                    trigger = self._requests.popleft()
                    seen = source_signature(self.ruleset.paths)
                    self._attempt(trigger)
                continue
            if not self.watch_files:
                continue
            now = source_signature(self.ruleset.paths)
            if now == seen:
                continue
            if self._stop.wait(self.settle):
                return
            if source_signature(self.ruleset.paths) != now:
                continue  # still being written: look again next poll
            seen = now
            self._attempt("file_change")

    def _attempt(self, trigger: str) -> None:
        try:
            self.last_result = self.ruleset.reload(trigger)
        except Exception:  # noqa: BLE001 - RuleSet.reload already turns failures into results
            log.exception("rule reload (%s) raised", trigger)
        self.attempts += 1


def install_sighup(watcher: RuleWatcher) -> Any:
    """Route SIGHUP to `watcher.request_reload`; returns the previous handler. Must be
    called from the main thread (Python delivers signals there)."""
    return signal.signal(signal.SIGHUP, lambda _sig, _frame: watcher.request_reload("sighup"))
