"""Cost of the cascades pack (stateful detectors) per event, rule by rule.

    PYTHONPATH=src python benchmarks/bench_cascades.py [--events N] [--seed S] [--rules PATH ...]

Simulates a seeded agent-society stream (`flockwatch simulate`), decodes it up front
(decoding is not what is measured), then runs the production engine over it once
and prints the mean microseconds per event for the whole engine and for each rule
(time inside the rule's condition and detector, divided by *all* events, so the
per-rule figures add up to the engine's), the alert count per rule, the state left
per rule, and the peak RSS. Target: cascades pack mean <= 60 us/event. Numbers from
a shared, busy machine are noisy: run it on an idle core before quoting them.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from flockwatch.detect.engine import Engine  # noqa: E402
from flockwatch.ingest.decode import DecodeFailure, decode_event  # noqa: E402
from flockwatch.pipeline.collector_tuning import tune_garbage_collector  # noqa: E402
from flockwatch.rules.loader import load_packs  # noqa: E402
from flockwatch.simulate.stream import SimConfig, Simulation  # noqa: E402


class _CollectorClock:
    """Time spent in Python's cyclic garbage collector (it scans every container the
    state holds, so it grows with the state)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.full = 0
        self._t0 = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._t0
            self.full += info["generation"] == 2


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rules", type=Path, action="append", default=None)
    args = ap.parse_args()
    paths = args.rules or [ROOT / "rules" / "cascades.yaml"]
    engine = Engine(load_packs(paths))
    sim = Simulation(SimConfig(seed=args.seed, events=args.events))
    events = []
    for raw in sim.stream():
        ev = decode_event(json.dumps(raw))
        if not isinstance(ev, DecodeFailure):
            events.append(ev)
    # As scan and the worker do after start-up (the decoded stream is frozen with the rest):
    # without it the per-rule figures carried a collector cost production does not pay.
    tune_garbage_collector()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    alerts: Counter[str] = Counter()
    collector = _CollectorClock()
    gc.callbacks.append(collector)
    t0, cpu0 = time.perf_counter(), time.process_time()
    for ev in events:
        for a in engine.process(ev):
            alerts[a.rule_id] += 1
    total, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    gc.callbacks.remove(collector)
    gc.collect()
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n = len(events)
    # The engine accumulates time per rule index for its metrics flush.
    per_rule = engine._pending_rule_time  # noqa: SLF001 - a benchmark may look inside
    print(f"rules: {', '.join(str(p) for p in paths)} ({len(engine.rules)} rules); {n} events (seed {args.seed})")
    print(f"engine: {total / n * 1e6:.1f} us/event mean, {n / total:,.0f} events/s "
          f"(CPU time {cpu / n * 1e6:.1f} us/event: steadier on a shared machine)")
    print(f"{'rule':44} {'us/event':>9} {'alert updates':>13} {'state keys':>10}")
    for idx, rule in sorted(enumerate(engine.rules), key=lambda r: -per_rule[r[0]]):
        keys = len(engine.state.for_rule(rule.id)) if rule.detector.stateful else 0
        print(f"{rule.id:44} {per_rule[idx] / n * 1e6:9.1f} {alerts[rule.id]:13d} {keys:10d}")
    print(f"of which Python's cyclic garbage collector: {collector.seconds / n * 1e6:.1f} us/event "
          f"({collector.full} full collections; charged to whichever rule was running)")
    print(f"peak RSS: {rss_before / 1024:.0f} MB after decoding, {rss_after / 1024:.0f} MB after the run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
