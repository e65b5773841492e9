"""The running rules, and how they change without a restart.

`RuleSet` holds the engine the pipeline uses and stands in for it (`process`,
`flush_metrics`, ...), so `Processor(RuleSet(...))` works wherever an `Engine` does.

`reload()` loads the packs again, validates them (schema, regex, catastrophic
backtracking: everything `load_packs` checks), dry-runs every inline test, and only if
all of that passes swaps the new engine in. The swap takes the same lock as `process`,
so an event is evaluated wholly by the old rules or wholly by the new ones, and none is
dropped. Stateful state is carried over: the new engine gets the same state backend, so
a cascade being counted keeps its count; only the state of rules that were removed or
changed type is dropped.

A refused reload keeps the old rules running, records why (`history`, the log), sets
`flockwatch_rules_reload_success` to 0 and raises an internal alert (category `other`,
rule `flockwatch.rules_reload_failed`) through `on_alert`, for whoever holds the store.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flockwatch.alerts.alert import Alert
from flockwatch.alerts.internal import internal_alert
from flockwatch.detect.compiled import CompiledPack
from flockwatch.detect.engine import Engine
from flockwatch.detect.repartition import Forward
from flockwatch.detect.state import DictState, StateBackend
from flockwatch.ingest.event import Event
from flockwatch.metrics.incidents import ActiveIncidents
from flockwatch.metrics.registry import Metrics
from flockwatch.rules.errors import PackError, RuleIssue
from flockwatch.rules.loader import DEFAULT_REGEX_TIMEOUT, load_packs, pack_files
from flockwatch.rules.testing import run_rule_tests

log = logging.getLogger(__name__)

RELOAD_FAILED_RULE = "flockwatch.rules_reload_failed"
MAX_ISSUES_KEPT = 50  # issues copied into the alert and the history entry
HISTORY = 20  # reload results remembered
INCIDENTS_EVERY = 256  # events between updates of the active-incident gauge


def source_signature(paths: Iterable[str | Path]) -> dict[str, str]:
    """Pack file -> SHA-256 of its bytes, for every pack file under `paths`: what is on
    disk now. Comparable with the running packs' `sha256`."""
    out: dict[str, str] = {}
    for f in pack_files(paths):
        try:
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
        except OSError as exc:
            out[str(f)] = f"unreadable: {exc.strerror}"
    return out


def _signature_digest(signature: dict[str, str]) -> str:
    return hashlib.sha256(repr(sorted(signature.items())).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ReloadResult:
    outcome: str  # one of metrics.registry.RELOAD_OUTCOMES
    trigger: str  # sighup | file_change | manual | ...
    at: float  # unix time of the attempt
    reason: str  # one line: what changed, or why it was refused
    issues: tuple[str, ...] = ()
    packs: tuple[tuple[str, str, str], ...] = ()  # (name, version, sha256) running afterwards
    alert: Alert | None = field(default=None, compare=False)

    @property
    def ok(self) -> bool:
        """The files on disk are what is running (applied now or already)."""
        return self.outcome in ("success", "unchanged")


class RuleSet:
    def __init__(
        self,
        paths: Iterable[str | Path],
        *,
        metrics: Metrics | None = None,
        state: StateBackend | None = None,
        on_alert: Callable[[Alert], None] | None = None,
        regex_timeout: float = DEFAULT_REGEX_TIMEOUT,
        max_depth: int = 3,
        test_on_start: bool = False,
        packs: list[CompiledPack] | None = None,
        repartition: bool = False,
    ):
        """Load the packs (raising `PackError` if they do not load, or, with
        `test_on_start`, if an inline test fails): a process must not start on broken rules.
        `packs` are the packs already loaded from `paths` (by a command that reported their
        errors itself); they are used instead of loading again."""
        self.paths = [str(p) for p in paths]
        self.metrics = metrics
        self.state = state or DictState()
        self.on_alert = on_alert
        self.regex_timeout = regex_timeout
        self.max_depth = max_depth
        self.repartition = repartition
        self.history: deque[ReloadResult] = deque(maxlen=HISTORY)
        self._process_lock = threading.Lock()  # held per event and for the swap
        self._reload_lock = threading.Lock()  # one reload at a time
        # Alerts pass through here on their way out, so this is where the live incident
        # count (flockwatch_active_incidents) is kept.
        self.incidents = ActiveIncidents(metrics) if metrics is not None else None
        self._since_incidents = 0
        if packs is None:
            packs = load_packs(self.paths, regex_timeout)
        if test_on_start:
            failures = _test_failures(packs)
            if failures:
                raise PackError(failures)
        self._engine = self._build(packs)
        self._engine.metrics = metrics
        self._publish(time.time())

    # -- the Engine interface the pipeline uses --------------------------------------

    @property
    def engine(self) -> Engine:
        """The engine running now (it may be replaced by the next reload)."""
        return self._engine

    def process(self, event: Event) -> list[Alert]:
        with self._process_lock:
            alerts = self._engine.process(event)
            if self.incidents is not None:
                if alerts:
                    self.incidents.observe(alerts)
                self._since_incidents += 1
                if self._since_incidents >= INCIDENTS_EVERY:
                    self._since_incidents = 0
                    self.incidents.update(self._engine.watermark)
            return alerts

    def set_low_watermark(self, ts: float | None, *, forwarded: bool = False) -> None:
        with self._process_lock:
            self._engine.set_low_watermark(ts, forwarded=forwarded)

    def take_forwards(self) -> list[Forward]:
        with self._process_lock:
            return self._engine.take_forwards()

    def observe_forwards(self, forwards: Iterable[Forward]) -> list[Alert]:
        """One lock and one engine call for a record's forwards (about ten per text event)."""
        with self._process_lock:
            alerts = self._engine.observe_forwards(forwards)
            if alerts and self.incidents is not None:
                self.incidents.observe(alerts)
            return alerts

    def flush_metrics(self) -> None:
        with self._process_lock:
            self._engine.flush_metrics()
            if self.incidents is not None:
                self.incidents.update(self._engine.watermark)

    def collect_garbage(self) -> int:
        with self._process_lock:
            return self._engine.collect_garbage()

    def __getattr__(self, name: str) -> Any:
        # Read-only views (rules, packs, prefilter, watermark, ...) of the running engine.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._engine, name)

    @property
    def packs(self) -> list[CompiledPack]:
        return self._engine.packs

    @property
    def signature(self) -> dict[str, str]:
        """Pack file -> SHA-256 of the running packs."""
        return {p.file: p.sha256 for p in self._engine.packs}

    # -- reload ----------------------------------------------------------------------

    def reload(self, trigger: str = "manual") -> ReloadResult:
        """Load, validate and test the packs on disk; swap them in only if all pass."""
        with self._reload_lock:
            at = time.time()
            if self.metrics:
                self.metrics.last_reload.set(at)
            on_disk: dict[str, str] = {}
            try:
                on_disk = source_signature(self.paths)
                if on_disk == self.signature:
                    return self._record(ReloadResult("unchanged", trigger, at, "pack files equal the running rules",
                                                     packs=self._pack_ids()))
                if not on_disk:
                    return self._refuse("invalid", trigger, at, on_disk,
                                        [f"no rule pack files under {', '.join(self.paths)}"])
                try:
                    packs = load_packs(self.paths, self.regex_timeout)
                except PackError as exc:
                    return self._refuse("invalid", trigger, at, on_disk,
                                        [str(i) for i in exc.issues if i.level == "error"])
                failures = _test_failures(packs)
                if failures:
                    return self._refuse("tests_failed", trigger, at, on_disk, [str(i) for i in failures])
                before = self._pack_ids()
                self._swap(self._build(packs))
            except Exception as exc:  # noqa: BLE001 - a reload must never take the worker down
                log.exception("rule reload (%s) failed unexpectedly", trigger)
                return self._refuse("error", trigger, at, on_disk, [f"{type(exc).__name__}: {exc}"])
            self._publish(at)
            after = self._pack_ids()
            reason = "; ".join(_describe_change(before, after)) or "pack files rewritten, same content"
            log.warning("rules reloaded (%s): %s", trigger, reason)
            return self._record(ReloadResult("success", trigger, at, reason, packs=after))

    def _build(self, packs: list[CompiledPack]) -> Engine:
        # Built without metrics: nothing is published until the swap succeeds.
        return Engine(packs, state=self.state, max_depth=self.max_depth, repartition=self.repartition)

    def _swap(self, new: Engine) -> None:
        with self._process_lock:
            old = self._engine
            old.flush_metrics()
            new.watermark = old.watermark  # event time goes on; state expiry depends on it
            new.forward_watermark = old.forward_watermark
            new.low_watermark = old.low_watermark
            new.forward_low_watermark = old.forward_low_watermark
            new.forwards = old.take_forwards()  # emitted under the old rules, not yet routed
            new.metrics = self.metrics
            drop = getattr(self.state, "drop_rule", None)
            if drop is not None:
                # A rule that changes type, or moves between in-place and forwarded
                # (its state then lives on other partitions), starts afresh.
                kept = {r.id: (r.type, r.id in new.forwarded_ids) for r in new.stateful}
                for r in old.stateful:
                    if kept.get(r.id) != (r.type, r.id in old.forwarded_ids):
                        drop(r.id)
            self._engine = new
            # The new engine's garbage-collection counter starts at zero; collect now so
            # state expiry and flockwatch_state_keys do not wait another GC_EVERY events.
            new.collect_garbage()

    def _publish(self, at: float) -> None:
        m = self.metrics
        if m is None:
            return
        m.packs.clear()  # a replaced pack version must not linger as a second series
        for p in self._engine.packs:
            m.packs.labels(p.name, p.version, p.sha256).set(1)
        m.rules_loaded.set(len(self._engine.rules))
        m.rules_loaded_at.set(at)

    def _pack_ids(self) -> tuple[tuple[str, str, str], ...]:
        return tuple((p.name, p.version, p.sha256) for p in self._engine.packs)

    def _refuse(self, outcome: str, trigger: str, at: float, on_disk: dict[str, str], issues: list[str]) -> ReloadResult:
        issues = issues[:MAX_ISSUES_KEPT] if issues else ["(no detail)"]
        more = f" (+{len(issues) - 1} more)" if len(issues) > 1 else ""
        reason = f"{outcome}: {issues[0]}{more}"
        running = ", ".join(f"{n} {v}" for n, v, _ in self._pack_ids())
        log.error("rule reload (%s) refused, keeping the running rules (%s): %s", trigger, running, "; ".join(issues))
        alert = internal_alert(
            RELOAD_FAILED_RULE,
            title="Rule reload refused; the previous rules keep running",
            summary=f"{trigger} reload refused ({outcome}): {issues[0]}{more}. Running: {running}.",
            # One incident per broken candidate: retrying the same files updates it.
            key=f"{outcome}:{_signature_digest(on_disk)}",
            tags=["flockwatch", "rules", "reload"],
            evidence={"outcome": outcome, "trigger": trigger, "issues": issues,
                      "running_packs": [list(p) for p in self._pack_ids()], "files": on_disk},
            at=at,
        )
        if self.on_alert is not None:
            try:
                self.on_alert(alert)
            except Exception:  # noqa: BLE001 - the refusal is logged and counted either way
                log.exception("could not deliver the reload-failed alert")
        return self._record(ReloadResult(outcome, trigger, at, reason, tuple(issues), self._pack_ids(), alert))

    def _record(self, result: ReloadResult) -> ReloadResult:
        self.history.append(result)
        if self.metrics:
            self.metrics.reloads.labels(result.outcome).inc()
            self.metrics.reload_success.set(1 if result.ok else 0)
        return result


def _test_failures(packs: list[CompiledPack]) -> list[RuleIssue]:
    return [RuleIssue(r.file, r.line, r.rule_id, f"inline test {r.kind}[{r.index}] failed: {r.message}")
            for r in run_rule_tests(packs) if not r.passed]


def _describe_change(before: tuple[tuple[str, str, str], ...], after: tuple[tuple[str, str, str], ...]) -> list[str]:
    old = {n: (v, s) for n, v, s in before}
    new = {n: (v, s) for n, v, s in after}
    out = [f"+{n} {new[n][0]}" for n in new if n not in old]
    out += [f"-{n} {old[n][0]}" for n in old if n not in new]
    for n in new:
        if n in old and old[n] != new[n]:
            was, now = old[n][0], new[n][0]
            out.append(f"{n} {was} -> {now}" if was != now else f"{n} {now} (content changed, same version)")
    return out
