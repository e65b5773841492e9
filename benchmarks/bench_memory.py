"""Memory of the stateful engine over a long stream: does it stay flat?

    PYTHONPATH=src python benchmarks/bench_memory.py [--events 1000000] [--agents 100000] [--rules PATH ...]

Streams a seeded agent-society simulation (`flockwatch simulate`: background chatter,
threads, votes, follows, plus injected incidents) through strict decoding and the
production engine one event at a time — nothing is kept but the engine's own state —
and prints, every `--every` events, the process's resident memory (current, not the
peak), the stateful keys held across all rules, and the throughput so far. State
expires with its windows by event time, so once the longest window has filled the
key count and the memory should level off however long the stream runs. The last
line compares the memory at the end with the memory halfway (1M events at 30 events/s
span ~9 h of event time; the longest window, 6 h, has filled by then).

Default: the cascades pack (the stateful one). `--rules rules` loads every pack.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from flockwatch.detect.engine import Engine  # noqa: E402
from flockwatch.ingest.decode import DecodeFailure, decode_object  # noqa: E402
from flockwatch.pipeline.collector_tuning import tune_garbage_collector  # noqa: E402
from flockwatch.rules.loader import load_packs  # noqa: E402
from flockwatch.simulate.stream import SimConfig, Simulation  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib() -> float:
    """Resident set size now (ru_maxrss only ever grows, so it cannot show a plateau)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE / 2**20


def state_keys(engine: Engine) -> int:
    return sum(len(engine.state.for_rule(r.id)) for r in engine.rules if r.detector.stateful)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000, help="background events (incidents come on top)")
    ap.add_argument("--agents", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--every", type=int, default=100_000, help="print a line every N events")
    ap.add_argument("--rules", type=Path, action="append", default=None)
    args = ap.parse_args()
    paths = args.rules or [ROOT / "rules" / "cascades.yaml"]
    engine = Engine(load_packs(paths))
    tune_garbage_collector()  # as `scan` and the worker do
    sim = Simulation(SimConfig(seed=args.seed, events=args.events, agents=args.agents, incidents_per_50k=1))
    print(f"rules: {', '.join(str(p) for p in paths)} ({len(engine.rules)} rules); "
          f"{args.events:,} background events from {args.agents:,} agents (seed {args.seed})")
    print(f"{'events':>10} {'event time':>10} {'RSS MiB':>8} {'state keys':>10} {'alerts':>7} {'events/s':>9}")
    n = alerts = invalid = 0
    agents: set[str] = set()
    halfway: float | None = None
    t0 = time.perf_counter()
    ts0: float | None = None
    start_rss = rss_mib()
    for raw in sim.stream():
        ev = decode_object(raw)
        if isinstance(ev, DecodeFailure):
            invalid += 1
            continue
        if ts0 is None:
            ts0 = ev.epoch
        agents.add(ev.agent_id)
        alerts += len(engine.process(ev))
        n += 1
        if n % args.every == 0:
            rss = rss_mib()
            if halfway is None and n >= args.events // 2:
                halfway = rss
            hours = (ev.epoch - ts0) / 3600
            print(f"{n:10,} {hours:9.1f}h {rss:8.0f} {state_keys(engine):10,} {alerts:7,} "
                  f"{n / (time.perf_counter() - t0):9,.0f}", flush=True)
    end = rss_mib()
    print(f"{n:,} events ({invalid} invalid) from {len(agents):,} distinct agents in "
          f"{time.perf_counter() - t0:.0f} s; RSS {start_rss:.0f} MiB at start, "
          f"{halfway or end:.0f} MiB halfway, {end:.0f} MiB at the end "
          f"({end - (halfway or end):+.0f} MiB over the second half); "
          f"peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB "
          f"(the peak includes the agent-id set this script keeps to count agents)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
