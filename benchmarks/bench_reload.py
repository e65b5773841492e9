"""Cost of safe rule reload: what the RuleSet wrapper adds per event, how long a reload
takes (load + validate + inline tests + swap) with the shipped packs, and how long events
wait while the new engine is swapped in.

    python benchmarks/bench_reload.py [EVENTS]
"""

from __future__ import annotations

import json
import logging
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from flockwatch.detect.engine import Engine  # noqa: E402
from flockwatch.metrics.registry import Metrics  # noqa: E402
from flockwatch.pipeline.processor import Processor  # noqa: E402
from flockwatch.rules.loader import load_packs  # noqa: E402
from flockwatch.rules.reload import RuleSet  # noqa: E402

WORDS = ("agent memory context operator heartbeat submolt karma token ignore previous instructions api key "
         "wallet thread reply vote follow molty claw").split()


def events(n: int) -> list[bytes]:
    rng = random.Random(1)
    out = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40)))
        out.append(json.dumps({"event_id": f"b{i}", "type": rng.choice(["post", "comment", "dm"]),
                               "ts": f"2026-01-30T12:{i // 60000 % 60:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}Z",
                               "agent_id": f"a{rng.randint(1, 500)}", "text": text}).encode())
    return out


def rate(processor: Processor, batch: list[bytes]) -> float:
    t0 = time.perf_counter()
    for raw in batch:
        processor.handle(raw, {})
    return len(batch) / (time.perf_counter() - t0)


def main() -> None:
    logging.getLogger("flockwatch").setLevel(logging.ERROR)  # one line per reload is noise here
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    batch = events(n)
    rules_dir = ROOT / "rules"
    m1, m2 = Metrics(), Metrics()
    plain = Processor(Engine(load_packs([rules_dir]), metrics=m1), m1)
    wrapped = Processor(RuleSet([rules_dir], metrics=m2), m2)
    rate(plain, batch[:2000]), rate(wrapped, batch[:2000])  # warm up
    plain_runs, wrapped_runs = [], []
    for _ in range(5):  # interleaved, so machine noise hits both alike
        plain_runs.append(rate(plain, batch))
        wrapped_runs.append(rate(wrapped, batch))
    r_plain, r_wrapped = statistics.median(plain_runs), statistics.median(wrapped_runs)
    print(f"events: {n:,}, packs: {len(wrapped.engine.packs)}, rules: {len(wrapped.engine.rules)}")
    print(f"Engine           {r_plain:>10,.0f} events/s  ({1e6 / r_plain:.1f} us/event)")
    print(f"RuleSet wrapper  {r_wrapped:>10,.0f} events/s  ({1e6 / r_wrapped:.1f} us/event, "
          f"{(1e6 / r_wrapped - 1e6 / r_plain):+.2f} us/event)")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for p in rules_dir.glob("*.yaml"):
            (work / p.name).write_text(p.read_text())
        rs = RuleSet([work], metrics=Metrics())
        first = sorted(work.glob("*.yaml"))[0]
        text = first.read_text()
        times = []
        for k in range(5):
            first.write_text(text + f"\n# touch {k}\n")
            t0 = time.perf_counter()
            result = rs.reload("bench")
            times.append(time.perf_counter() - t0)
            assert result.outcome == "success", result
        print(f"reload (load + validate + inline tests + swap): median {statistics.median(times) * 1000:.0f} ms, "
              f"max {max(times) * 1000:.0f} ms over {len(times)}")

        # Events processed during reloads: the longest single event (it may wait for the swap).
        proc = Processor(rs, rs.metrics)
        stop = threading.Event()
        waits: list[float] = []

        def feed() -> None:
            i = 0
            while not stop.is_set():
                t = time.perf_counter()
                proc.handle(batch[i % n], {})
                waits.append(time.perf_counter() - t)
                i += 1

        t = threading.Thread(target=feed)
        t.start()
        for k in range(5):
            first.write_text(text + f"\n# again {k}\n")
            rs.reload("bench")
        stop.set()
        t.join()
        waits.sort()
        # The long tail is the reload thread holding the GIL while it loads and tests
        # packs, not the swap lock (held for one flush and an assignment).
        print(f"events during 5 reloads: {len(waits):,}; per-event p50 {waits[len(waits) // 2] * 1e6:.0f} us, "
              f"p99.9 {waits[int(len(waits) * 0.999)] * 1e6:.0f} us, max {waits[-1] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
