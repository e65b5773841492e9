"""Import speed: flattened Moltbook posts -> canonical JSONL (target >= 50,000 posts/s).

Runs the real import path (`import_files`: parse, map, validate with the wire
decoder, de-duplicate, sort by event time, write JSONL) over the public posts table
in ../shared/data, repeated to a larger synthetic file so the run is long enough to
time. Prints posts/s and µs/post for both orders (time-sorted, the default, and
streaming), plus peak memory.

    python benchmarks/bench_import.py [--copies 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from flockwatch.bridge.sinks import JsonlSink  # noqa: E402
from flockwatch.importers.runner import import_files  # noqa: E402

SHARED_DATA = Path(os.environ.get("FLOCKWATCH_SHARED_DATA", ROOT.parent / "shared" / "data"))
POSTS = SHARED_DATA / "moltbook" / "rafalwronapl_observatory" / "posts.jsonl"


def build_input(copies: int, workdir: Path) -> tuple[Path, int]:
    """The real rows, `copies` times, each copy with fresh ids (so dedupe keeps them)."""
    rows = [json.loads(line) for line in POSTS.read_text(encoding="utf-8").splitlines() if line.strip()]
    path = workdir / "posts.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for c in range(copies):
            for row in rows:
                f.write(json.dumps({**row, "id": f"{row['id']}-{c}"}, ensure_ascii=False) + "\n")
    return path, copies * len(rows)


def run(path: Path, out: Path, order: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one import."""
    sink = JsonlSink(str(out), append=False)
    t0, c0 = time.perf_counter(), time.process_time()
    report = import_files([(path, "posts-table")], sink, order=order)
    sink.close()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert report.events["post"] > 0 and not report.rejected, report
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=20, help="copies of the 5,389-row table (default 20)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per order; the best is reported")
    args = ap.parse_args()
    if not POSTS.is_file():
        sys.exit(f"reference data missing: {POSTS} (this benchmark needs ../shared/data or FLOCKWATCH_SHARED_DATA)")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        path, n = build_input(args.copies, workdir)
        print(f"input: {n:,} posts ({path.stat().st_size / 1e6:.1f} MB), python {sys.version.split()[0]}, "
              f"{os.cpu_count()} cpus")
        print(f"load average before: {os.getloadavg()[0]:.2f} (a shared machine makes wall time noisy; "
              "CPU time is the steadier figure)")
        for order in ("time", "input"):
            runs = [run(path, workdir / "out.jsonl", order) for _ in range(args.repeat)]
            wall = min(r[0] for r in runs)
            cpu = min(r[1] for r in runs)
            print(f"order={order:5}  wall {n / wall:>9,.0f} posts/s ({wall / n * 1e6:5.1f} µs/post)   "
                  f"cpu {n / cpu:>9,.0f} posts/s ({cpu / n * 1e6:5.1f} µs/post)")
        tracemalloc.start()
        run(path, workdir / "out.jsonl", "time")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"peak traced memory, order=time: {peak / 1e6:.0f} MB for {n:,} posts "
              f"({peak / n:,.0f} bytes/post held for sorting)")


if __name__ == "__main__":
    main()
