"""A rebalance or a shutdown while batches wait for an unreachable alert store.

Before either, Faust waits until every record it handed out is acknowledged
(`Consumer.wait_empty`), with no time limit. A batch waiting for the store
(`StoreGuard.write`) is not acknowledged until the store is back, so:

* a **shutdown** (SIGTERM, Ctrl-C) would hang until the store returns, and the
  orchestrator would SIGKILL the worker after its grace period. Instead the worker
  says so and exits 70 at once, acknowledging nothing more: the batches are replayed
  after the restart, like after a crash (the store step is idempotent);
* a **rebalance** (another worker joined or left) cannot hand this worker's partitions
  over without acknowledging what is not stored; it completes once the store is back.
  That is logged once, so the stalled rebalance is explained.

Faust also logs, every 10 s of that wait, every waiting record's repr on one line
(hundreds of kilobytes for a few thousand records); `ShortWaitEmptyLog` shortens it to
a count and the first three.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from flockwatch.worker.store_guard import StoreGuard

log = logging.getLogger(__name__)


class StoreWaitHook:
    """`WorkerApp.before_wait_empty` hook; `exit` is `os._exit` (replaced in tests)."""

    def __init__(self, app: Any, guard: StoreGuard, exit_code: int, exit: Callable[[int], Any] = os._exit):
        self.app = app
        self.guard = guard
        self.exit_code = exit_code
        self.exit = exit
        self._rebalance_logged = False

    def __call__(self) -> None:
        # Only during an outage: a write in flight while the store answers finishes in
        # moments and is acknowledged, and exiting 70 under it would turn every ordinary
        # SIGTERM during a batch into a crash-and-replay.
        waiting = self.guard.waiting if self.guard.down_since is not None else 0
        if not waiting:
            self._rebalance_logged = False
            return
        if self.app.should_stop:
            log.critical("stopping while %d events wait for the alert store (%s): exiting %d without "
                         "acknowledging them; they are replayed when the worker starts again",
                         waiting, self.guard.health.store_error or "unreachable", self.exit_code)
            logging.shutdown()
            self.exit(self.exit_code)
            return
        if not self._rebalance_logged:
            self._rebalance_logged = True
            log.warning("a rebalance waits for %d events that wait for the alert store: it completes when the "
                        "store is back (this worker keeps its partitions until then)", waiting)


class ShortWaitEmptyLog(logging.Filter):
    MARK = "wait_empty: Waiting for tasks"

    def filter(self, record: logging.LogRecord) -> bool:
        if self.MARK in str(record.msg) and record.args and isinstance(record.args, tuple):
            waiting = record.args[0]
            if isinstance(waiting, list) and len(waiting) > 3:
                record.args = (_Summary(waiting),) + record.args[1:]
        return True


class _Summary:
    def __init__(self, waiting: list[Any]):
        self.waiting = waiting

    def __repr__(self) -> str:
        head = ", ".join(repr(m) for m in self.waiting[:3])
        return f"{len(self.waiting)} unacknowledged records: [{head}, ...]"


def shorten_wait_empty_log() -> None:
    # A filter applies on the logger it is added to only: the aiokafka driver's Consumer
    # logs under its own module's name.
    for name in ("faust.transport.drivers.aiokafka", "faust.transport.consumer"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, ShortWaitEmptyLog) for f in logger.filters):
            logger.addFilter(ShortWaitEmptyLog())
