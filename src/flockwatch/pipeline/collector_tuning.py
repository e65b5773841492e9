"""Tuning of CPython's cyclic garbage collector for a long-running detection process.

The stateful detectors keep hundreds of thousands of small containers alive (window
buckets, incidents, caches), and with the default thresholds (700, 10, 10) the
collector runs a young collection every 700 new containers and a full one every
~70,000, each full collection walking all of that state. Measured on the cascades
benchmark (30k simulated events), the collector took 57 µs of ~160 µs CPU per event;
with the thresholds below it took 18-30 µs and the engine ~130 µs (CPU time).

- `gc.freeze()` moves everything alive after start-up (modules, compiled rules, the
  RE2 sets, Faust's app) into a permanent generation no collection walks again.
- A young generation of 100,000 containers. The young count is *net* (allocations
  minus frees), so a young collection walks about that many live containers, and
  whatever dies before the next collection is never walked at all. With every pack,
  many containers live for a few batches only (memo generations, records held for
  stage 2, replaced window tuples): at 20,000 they were walked once each and promoted;
  at 100,000 most die unwalked. Measured with `benchmarks/bench_worker_path.py`, 100k
  events, collector CPU time from `gc.callbacks`: 94 young + 1 middle collections,
  3.86 s (about 39 us/event, ~10% of the worker's CPU) at 20,000; 7 young collections,
  1.27 s at 100,000; the longest pause about the same (0.34 s then, 0.38 s now).
  (300,000 took 0.27 s in one collection, but each pause grows with the threshold.)
  Memory is not at stake: reference counting still frees acyclic garbage at once, only
  cycles wait a little longer (peak RSS on the cascades benchmark unchanged, 362 MB).

Both `scan` and the worker call this once, after the rules are loaded.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 100_000
MIDDLE_THRESHOLD = 50
OLD_THRESHOLD = 100


def tune_garbage_collector() -> None:
    gc.collect()  # what start-up left as garbage goes now, not into the frozen generation
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, MIDDLE_THRESHOLD, OLD_THRESHOLD)
