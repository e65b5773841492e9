"""Evaluate the cascades pack.

(a) Real Moltbook posts (../shared/data, or FLOCKWATCH_SHARED_DATA): prints what the
    pack flags, and whether it caught the three known incidents: the mbc-20
    inscription mint wave, the "Continuing to reflect…" self-repetition loop and the
    11x copied manifesto.
(b) Simulated streams (`flockwatch simulate`, several seeds): campaign recall
    (campaigns of >= 5 agents within 10 minutes; found = a spam_cascade alert shares
    an event with it), per-kind recall of every injected incident, and false cascade
    or loop alerts (alerts of those categories that touch no injected incident) per
    100,000 benign events.

    PYTHONPATH=src python eval/cascades_eval.py [--real-only | --sim-only] [--seeds 3] [--events 100000]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from moltbook_posts import POSTS, post_events  # noqa: E402

from flockwatch.alerts.alert import Alert  # noqa: E402
from flockwatch.alerts.collector import AlertCollector  # noqa: E402
from flockwatch.detect.engine import Engine  # noqa: E402
from flockwatch.ingest.decode import DecodeFailure, decode_object  # noqa: E402
from flockwatch.rules.loader import load_packs  # noqa: E402
from flockwatch.simulate.stream import SimConfig, Simulation  # noqa: E402

RULES = HERE.parent / "rules"
PACK = RULES / "cascades.yaml"
COLLECTIVE = {"spam_cascade", "feedback_loop"}
KNOWN_REAL = {
    "inscription wave": lambda a: any('"mbc-20"' in s for s in a.evidence.get("samples", []))
    and a.category == "spam_cascade" and len(a.agent_ids) >= 5,
    "self-repetition loop": lambda a: a.rule_id == "cascades.self_repetition"
    and any(s.startswith("Continuing to reflect") for s in a.evidence.get("samples", [])),
    "copied manifesto": lambda a: any("50,000 ways to end civilization" in s for s in a.evidence.get("samples", [])),
}


def run(engine: Engine, events: Any) -> tuple[list[Alert], int, float]:
    collector = AlertCollector()
    n = 0
    t0 = time.perf_counter()
    for event in events:
        collector.add(engine.process(event))
        n += 1
    return collector.alerts(), n, time.perf_counter() - t0


def real(packs: list[Any]) -> dict[str, bool]:
    if not POSTS.is_file():
        print(f"(a) skipped: real posts not found at {POSTS} (set FLOCKWATCH_SHARED_DATA)")
        return {}
    alerts, n, secs = run(Engine(packs), post_events())
    print(f"(a) real Moltbook posts: {n} posts, {len(alerts)} alerts, {secs / n * 1e6:.0f} µs/post")
    by_rule = Counter(a.rule_id for a in alerts)
    for rule, count in sorted(by_rule.items()):
        print(f"    {rule:40} {count}")
    print("    largest incidents:")
    for a in sorted(alerts, key=lambda a: -a.count)[:12]:
        print(f"    - [{a.rule_id}] {a.summary[:140]}")
    found = {name: any(test(a) for a in alerts) for name, test in KNOWN_REAL.items()}
    for name, ok in found.items():
        print(f"    known incident {name!r}: {'FLAGGED' if ok else 'MISSED'}")
    return found


def simulated(packs: list[Any], seeds: int, events: int, agents: int, incidents: int) -> dict[str, float]:
    recall_hit: Counter[str] = Counter()
    recall_all: Counter[str] = Counter()
    false_alerts, benign_events, total_events, secs = 0, 0, 0, 0.0
    false_examples: list[str] = []
    for seed in range(1, seeds + 1):
        sim = Simulation(SimConfig(seed=seed, agents=agents, events=events, incidents_per_50k=incidents))
        decoded = []
        for raw in sim.stream():
            ev = decode_object(raw)
            if isinstance(ev, DecodeFailure):
                raise SystemExit(f"simulator produced an invalid event: {ev.message}")
            decoded.append(ev)
        alerts, n, s = run(Engine(packs), decoded)
        secs += s
        total_events += n
        owner: dict[str, dict[str, Any]] = {}
        for label in sim.labels:
            for eid in label["event_ids"]:
                owner[eid] = label
        malicious_events = sum(len(lab["event_ids"]) for lab in sim.labels if not lab["benign"])
        benign_events += n - malicious_events
        hits: dict[str, set[str]] = defaultdict(set)  # incident id -> rules that touched it
        for a in alerts:
            touched = {owner[e]["incident_id"] for e in a.event_ids if e in owner and not owner[e]["benign"]}
            for inc in touched:
                hits[inc].add(a.rule_id)
            if a.category in COLLECTIVE and not touched:
                false_alerts += 1
                if len(false_examples) < 8:
                    false_examples.append(f"seed {seed} [{a.rule_id}] {a.summary[:120]}")
        for label in sim.labels:
            if label["benign"] or not label["expect_rules"]:
                continue
            kind = label["kind"]
            recall_all[kind] += 1
            if hits.get(label["incident_id"], set()) & set(label["expect_rules"]):
                recall_hit[kind] += 1
    print(f"(b) simulated: {seeds} seeds x {events} background events, {agents} agents: "
          f"{total_events} events, {total_events / secs:,.0f} events/s through the engine")
    for kind in sorted(recall_all):
        print(f"    recall {kind:18} {recall_hit[kind]}/{recall_all[kind]} = {recall_hit[kind] / recall_all[kind]:.3f}")
    per_100k = false_alerts / benign_events * 100_000
    print(f"    false cascade/loop alerts: {false_alerts} in {benign_events} benign events = {per_100k:.2f} per 100k")
    for ex in false_examples:
        print(f"      {ex}")
    campaign = recall_hit["campaign"] / recall_all["campaign"] if recall_all["campaign"] else float("nan")
    return {"campaign_recall": campaign, "false_per_100k": per_100k, "false_alerts": false_alerts,
            "recall": {kind: recall_hit[kind] / recall_all[kind] for kind in recall_all},
            "benign_events": benign_events}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--real-only", action="store_true")
    ap.add_argument("--sim-only", action="store_true")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--agents", type=int, default=20_000)
    ap.add_argument("--incidents", type=int, default=4, help="incident rounds per 50k events")
    args = ap.parse_args()
    packs = load_packs([RULES])  # every pack: the baseline rules catch the DM scam and the key leak
    if not args.sim_only:
        real(packs)
    if not args.real_only:
        simulated(packs, args.seeds, args.events, args.agents, args.incidents)
    return 0


if __name__ == "__main__":
    sys.exit(main())
