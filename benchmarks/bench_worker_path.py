"""The worker's CPU path without Kafka, Faust or a store: where a worker's time per event goes.

    python benchmarks/bench_worker_path.py [--events 100000] [--batch 1000] [--pack NAME]

The end-to-end worker benchmark (`bench_foundation.py`) measures what users get, but on a
shared 2-core machine its figures move by a third within an hour, and it cannot say which
step costs what. This script drives the worker's own code in one process, batch by batch,
the way `worker/runtime.py` does with one worker owning every partition:

1. stage 1, `BatchStep.evaluate` (decode, every rule, partition keys of forwarded rules);
2. `forward_records` (the `.by-key` records, remembered for stage 2 as the worker does);
3. the firehose stage's changelog records (`TableState.flush()`, encoded);
4. stage 2: `KeyedStage.accept` of those records and of the watermarks, `release`;
5. `observe_forwards` per released record;
6. the keyed stage's changelog records.
After the last batch every partition is marked idle, so everything held is released.

It prints CPU µs/event per step, the cyclic garbage collector's share (timed by
`gc.callbacks`, collector tuned as the worker tunes it), the costliest rules (the engine's
own per-rule clocks, both stages) and bytes per event of forwards and changelog. What it leaves out (the broker, Faust's consumer, aiokafka's producer, the alert
store) is the rest of the end-to-end figure. The events are the agent-society simulator's
(`flockwatch simulate`, seed 42, 20,000 agents), generated here.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import zlib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from flockwatch.alerts.collector import AlertCollector  # noqa: E402
from flockwatch.detect.engine import Engine  # noqa: E402
from flockwatch.pipeline.collector_tuning import tune_garbage_collector  # noqa: E402
from flockwatch.pipeline.processor import Processor  # noqa: E402
from flockwatch.rules.loader import load_packs  # noqa: E402
from flockwatch.simulate.stream import SimConfig, Simulation  # noqa: E402
from flockwatch.worker.batch import BatchStep, Record  # noqa: E402
from flockwatch.worker.repartition import KeyedStage, forward_records, watermark_records  # noqa: E402
from flockwatch.worker.table_state import TableState  # noqa: E402

PARTITIONS = 4


class GcClock:
    """Time spent in the cyclic collector, by generation."""

    def __init__(self) -> None:
        self.seconds = defaultdict(float)
        self.runs = defaultdict(int)
        self._t0 = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._t0 = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._t0
            self.runs[info["generation"]] += 1


def lines(n: int) -> list[bytes]:
    """The same stream as `bench_foundation.py --stream society`."""
    sim = Simulation(SimConfig(seed=42, agents=20_000, events=n, incidents_per_50k=1))
    return [json.dumps(ev).encode() for ev in sim.stream()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000, help="events per firehose batch (the worker's --batch-size)")
    ap.add_argument("--pack", action="append", default=[], metavar="NAME")
    args = ap.parse_args()

    paths = [ROOT / "rules" / f"{p}.yaml" for p in args.pack] or [ROOT / "rules"]
    packs = load_packs(paths)
    state = TableState({})
    engine = Engine(packs, state=state, repartition=True)
    step = BatchStep(Processor(engine), store=None, state=state)  # type: ignore[arg-type]
    keyed: KeyedStage[int] = KeyedStage(PARTITIONS)
    rule_secs = [0.0] * len(engine.rules)
    flush_metrics = engine.flush_metrics

    def keep_rule_times() -> None:  # the engine clears its per-rule clocks when it flushes metrics
        for i, secs in enumerate(engine._pending_rule_time):
            rule_secs[i] += secs
        flush_metrics()

    engine.flush_metrics = keep_rule_times  # type: ignore[method-assign]
    t0 = time.perf_counter()
    data = lines(args.events)
    print(f"generated {len(data):,} events in {time.perf_counter() - t0:.1f} s; "
          f"{len(packs)} packs, {sum(len(p.rules) for p in packs)} rules; batches of {args.batch}", flush=True)

    tune_garbage_collector()
    clock = GcClock()
    cpu: dict[str, float] = defaultdict(float)
    mark = [0.0]

    def lap(step_name: str) -> None:
        now = time.process_time()
        cpu[step_name] += now - mark[0]
        mark[0] = now

    sizes = defaultdict(int)  # forward bytes, changelog records and bytes, alert versions
    latest: dict[int, float] = {}

    def stage_two(idle: set[int]) -> None:
        for p in range(PARTITIONS):
            for wm in watermark_records(p, latest.get(p, float("-inf")), p in idle, PARTITIONS):
                keyed.accept(wm.partition, wm.value, 0)
        released = keyed.release()
        lap("4 accept + release (stage 2)")
        collector = AlertCollector()
        state.sync()
        engine.set_low_watermark(keyed.low_watermark(), forwarded=True)
        state.writer = "keyed"
        for held in released:
            state.partition = held.partition
            found = engine.observe_forwards(held.record.forwards)  # as runtime.handle_keyed does
            if found:
                collector.add(found)
        state.writer = ""
        sizes["alerts"] += len(collector.alerts())
        lap("5 observe_forwards (stage 2)")
        changelog(state.flush("keyed"))
        lap("6 changelog (stage 2)")

    def changelog(flushed: list[tuple[int, bytes, bytes | None]]) -> None:
        sizes["changelog records"] += len(flushed)
        sizes["changelog bytes"] += sum(len(k) + len(v or b"") for _, k, v in flushed)

    wall0, cpu0 = time.perf_counter(), time.process_time()
    mark[0] = cpu0
    for start in range(0, len(data), args.batch):
        chunk = data[start:start + args.batch]
        records = [Record(v, None, "bench", zlib.crc32(v[:64]) % PARTITIONS, start + i) for i, v in enumerate(chunk)]
        outcome = step.evaluate(records)
        lap("1 evaluate (stage 1)")
        out = forward_records(outcome.forwards, PARTITIONS, written=keyed.written)
        lap("2 forward_records")
        changelog(state.flush())
        lap("3 changelog (stage 1)")
        sizes["alerts"] += len(outcome.alerts)
        sizes["forward bytes"] += sum(len(o.value) for o in out)
        for o in out:
            keyed.accept(o.partition, o.value, 0)
        for p, ts in outcome.partition_ts.items():
            latest[p] = max(ts, latest.get(p, ts))
        stage_two(idle={p for p in range(PARTITIONS) if p not in latest})
    stage_two(idle=set(range(PARTITIONS)))  # the stream has ended: every partition is idle, all is released
    wall, total_cpu = time.perf_counter() - wall0, time.process_time() - cpu0

    n = len(data)
    gc_total = sum(clock.seconds.values())
    print(f"{n:,} events, {sizes['alerts']:,} alert versions, {len(keyed)} forwards still held at the end")
    for name, secs in sorted(cpu.items()):
        print(f"  {name:<32} {secs / n * 1e6:7.1f} µs/event")
    print(f"  {'total CPU':<32} {total_cpu / n * 1e6:7.1f} µs/event = {n / total_cpu:,.0f} events per CPU-second "
          f"(wall {n / wall:,.0f} events/s)")
    print(f"  of which the cyclic collector   {gc_total / n * 1e6:7.1f} µs/event ({gc_total / total_cpu:.0%}): "
          + ", ".join(f"gen{g} {clock.runs[g]} runs {clock.seconds[g]:.2f} s" for g in sorted(clock.runs)))
    keep_rule_times()  # observe_forwards' clocks since the last batch
    print("  rules (stage 1 and 2, as the engine clocks them), the ten costliest:")
    for secs, rule in sorted(zip(rule_secs, engine.rules), key=lambda p: -p[0])[:10]:
        print(f"    {rule.id:<40} {secs / n * 1e6:7.1f} µs/event")
    print(f"  forwards {sizes['forward bytes'] / n:,.0f} B/event; changelog {sizes['changelog records'] / n:.2f} "
          f"records, {sizes['changelog bytes'] / n:,.0f} B/event")


if __name__ == "__main__":
    main()
