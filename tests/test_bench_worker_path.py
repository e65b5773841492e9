"""`benchmarks/bench_worker_path.py` drives the worker's own stages in one process; it
imports their internals, so a refactor that breaks it should fail here, not in the
next session that needs the figures."""

from __future__ import annotations

import re
import subprocess
import sys

from support.cli import ROOT


def test_worker_path_benchmark_runs_every_step_and_releases_every_forward() -> None:
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_worker_path.py"), "--events", "3000"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout
    steps = dict(re.findall(r"^  (\d) .*?([\d.]+) µs/event$", out, re.M))
    assert sorted(steps) == ["1", "2", "3", "4", "5", "6"], out
    assert all(float(v) > 0 for v in steps.values()), out
    # The stream ends with idle watermarks from every partition: stage 2 must release
    # everything, or its observe step measured only part of the work.
    held = re.search(r"alert versions, (\d+) forwards still held", out)
    assert held is not None and held.group(1) == "0", out
    total = re.search(r"total CPU\s+([\d.]+) µs/event", out)
    assert total is not None and float(total.group(1)) >= sum(float(v) for v in steps.values()) * 0.99, out
    assert re.search(r"changelog [\d.]+ records, [\d,]+ B/event", out), out
    assert "cascades.near_duplicate_spam" in out, out
