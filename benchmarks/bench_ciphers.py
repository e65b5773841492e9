#!/usr/bin/env python3
"""Cost of the cipher pack per text event, on real Moltbook posts (and SMS ham).

Every real post becomes a `post` event (title + body) and every SMS ham message a
`comment` event; each is run through the production engine loaded with only
rules/ciphers.yaml, several passes, one core. Prints wall-clock mean, p50, p99 and
max microseconds per event and the mean CPU time per event (robust to other load on
a shared machine), and the same for the cipher detectors alone (each rule's
`scan_event` over the event's text fields, without the engine around them).

    PYTHONPATH=src python benchmarks/bench_ciphers.py [--passes 3] [--rules rules/ciphers.yaml]

Target (issue 3): mean <= 40 us per text event on one core.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
DATA = Path(os.environ.get("FLOCKWATCH_SHARED_DATA") or ROOT.parent / "shared" / "data")
POSTS = DATA / "moltbook" / "rafalwronapl_observatory" / "posts.jsonl"
SMS = DATA / "corpora" / "sms_spam_collection" / "SMSSpamCollection.tsv"

from flockwatch.detect.engine import Engine  # noqa: E402
from flockwatch.ingest.event import Event  # noqa: E402
from flockwatch.rules.loader import load_packs  # noqa: E402


def events() -> list[Event]:
    missing = [p for p in (POSTS, SMS) if not p.exists()]
    if missing:
        sys.exit(f"reference data missing: {', '.join(map(str, missing))} (needs ../shared/data beside the project)")
    ts = datetime(2026, 1, 30, 12, tzinfo=timezone.utc)
    out = []
    with POSTS.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            p = json.loads(line)
            out.append(Event(event_id=f"p{i}", type="post", ts=ts, agent_id=str(p.get("author") or "x"),
                             title=p.get("title") or None, text=p.get("content") or None))
    with SMS.open(encoding="utf-8") as fh:
        next(fh)
        for i, line in enumerate(fh):
            label, _, text = line.rstrip("\n").partition("\t")
            if label == "ham":
                out.append(Event(event_id=f"s{i}", type="comment", ts=ts, agent_id="sms", text=text))
    return out


def stats(name: str, samples: list[float]) -> str:
    s = sorted(samples)
    p99 = s[int(0.99 * (len(s) - 1))]
    return (f"{name:<34} n={len(s):>6}  mean {statistics.fmean(s):7.1f} us  p50 {s[len(s) // 2]:7.1f} us  "
            f"p99 {p99:8.1f} us  max {s[-1] / 1000:7.1f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--passes", type=int, default=3)
    ap.add_argument("--rules", type=Path, default=ROOT / "rules" / "ciphers.yaml")
    args = ap.parse_args()
    evs = events()
    packs = load_packs([args.rules])
    engine = Engine(packs)
    detectors_ = [r.detector for r in engine.rules if r.type == "cipher"]
    posts = [e for e in evs if e.type == "post"]
    sms = [e for e in evs if e.type == "comment"]
    for e in evs[:200]:  # warm up (tables load lazily)
        engine.process(e)
    gc.disable()
    results: dict[str, list[float]] = {"engine: posts": [], "engine: sms ham": [], "detectors only: posts": []}
    cpu: dict[str, list[float]] = {k: [0.0, 0] for k in results}  # CPU seconds, events
    per_pass: dict[str, list[float]] = {k: [] for k in results}  # CPU us/event of each pass

    def detectors(e: Event) -> None:
        for det in detectors_:
            det.scan_event(e)

    for _ in range(args.passes):
        for label, batch, run in (("engine: posts", posts, engine.process), ("engine: sms ham", sms, engine.process),
                                  ("detectors only: posts", posts, detectors)):
            c0 = time.thread_time()
            for e in batch:
                t0 = time.perf_counter_ns()
                run(e)
                results[label].append((time.perf_counter_ns() - t0) / 1000)
            spent = time.thread_time() - c0
            cpu[label][0] += spent
            cpu[label][1] += len(batch)
            per_pass[label].append(spent / len(batch) * 1e6)
    gc.enable()
    print(f"cipher pack {packs[0].name} {packs[0].version}: {len(engine.rules)} rules; "
          f"{len(posts)} real posts, {len(sms)} SMS ham, {args.passes} passes, one core")
    print("wall clock per event (noisy on a shared machine):")
    for name, samples in results.items():
        print("  " + stats(name, samples))
    print("CPU time of this thread per event (robust to other load; includes the wall-clock reads):")
    for name, (secs, n) in cpu.items():
        passes = ", ".join(f"{v:.1f}" for v in per_pass[name])
        print(f"  {name:<32} mean {secs / n * 1e6:7.1f} us  (passes: {passes}; best {min(per_pass[name]):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
