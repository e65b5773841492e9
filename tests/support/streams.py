"""Event streams and worker runs shared by the Kafka tests."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from flockwatch.simulate.firehose import SyntheticFirehose
from flockwatch.worker.process import WorkerProcess
from support.cli import ROOT, cli_env, run_cli

SAMPLE = ROOT / "examples" / "sample-events.jsonl"


def write_stream(path: Path, n_synthetic: int, seed: int = 11, with_sample: bool = True,
                 start: datetime | None = None) -> Path:
    """The demo sample (with its 2 poison lines) followed by `n_synthetic` seeded events
    (40/s of event time from `start`, by default the sample's start)."""
    extra = {"start": start} if start else {}
    gen = SyntheticFirehose(seed=seed, agents=150, attack_share=0.01, flood_share=0.002, prefix=f"t{seed}", **extra)
    with path.open("w", encoding="utf-8") as out:
        if with_sample:
            out.write(SAMPLE.read_text(encoding="utf-8"))
        for ev in gen.events(n_synthetic):
            out.write(json.dumps(ev) + "\n")
    return path


# The worker's foundation tests pin the baseline pack: they prove the Kafka path
# (storage, offsets, crashes, rebalances) and must not move when other packs change.
# Cross-partition detectors and their repartitioning are proven in the cascades tests.
BASELINE_PACK = Path(__file__).resolve().parents[2] / "rules" / "baseline.yaml"
PINNED_RULES = {"FLOCKWATCH_RULES": str(BASELINE_PACK)}


ALL_PACKS = Path(__file__).resolve().parents[2] / "rules"
ALL_RULES = {"FLOCKWATCH_RULES": str(ALL_PACKS)}


def scan_alerts(path: Path, rules: dict[str, str] = PINNED_RULES) -> dict[str, dict]:
    """`flockwatch scan` of the same file: fingerprint -> alert."""
    r = run_cli("scan", str(path), env=rules)
    assert r.returncode == 0, r.stderr.decode()
    return {a["fingerprint"]: a for a in map(json.loads, r.stdout.decode().splitlines())}


def produce(broker: str, path: Path, topic: str, *extra: str) -> str:
    r = run_cli("produce", str(path), "--broker", broker, "--topic", topic, *extra)
    assert r.returncode == 0, r.stderr.decode()
    return r.stderr.decode()


@dataclass
class Topics:
    events: str
    alerts: str
    dead_letter: str
    group: str

    @classmethod
    def unique(cls, name: str) -> Topics:
        tag = f"{name}-{uuid.uuid4().hex[:8]}"
        return cls(f"{tag}.events", f"{tag}.alerts", f"{tag}.deadletter", f"{tag}-worker")


def worker(broker: str, topics: Topics, database_url: str, tmp: Path, *extra: str, name: str = "worker",
           rules: dict[str, str] = PINNED_RULES, log_level: str = "WARNING") -> WorkerProcess:
    return WorkerProcess(
        broker, group=topics.group, topic=topics.events, database_url=database_url, data_dir=tmp / "faust",
        log_path=tmp / f"{name}.log", env=cli_env(rules), log_level=log_level,
        extra_args=("--alerts-topic", topics.alerts, "--dead-letter-topic", topics.dead_letter,
                    "--session-timeout", "2", "--commit-interval", "0.5", *extra),
    )


def samples(metrics_text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Prometheus samples of one metric: sorted label pairs -> value."""
    out = {}
    for family in text_string_to_metric_families(metrics_text):
        for s in family.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def differences(stored: dict[str, Any], expected: dict[str, dict]) -> list[str]:
    """How the worker's stored alerts (fingerprint -> Alert) differ from `scan`'s: empty if
    they are the same incidents with the same events."""
    out = []
    for fp in sorted(set(expected) - set(stored)):
        a = expected[fp]
        out.append(f"missing {a['rule_id']} {a['agent_ids'][:3]} count={a['count']} first={a['event_ids'][:2]}")
    for fp in sorted(set(stored) - set(expected)):
        a = stored[fp]
        out.append(f"extra {a.rule_id} {a.agent_ids[:3]} count={a.count} first={a.event_ids[:2]}")
    for fp in sorted(set(stored) & set(expected)):
        a, e = stored[fp], expected[fp]
        if a.count != e["count"] or set(a.event_ids) != set(e["event_ids"]):
            out.append(f"differs {a.rule_id} {a.agent_ids[:3]} count={a.count} expected {e['count']}: "
                       f"missing events {sorted(set(e['event_ids']) - set(a.event_ids))[:5]}, "
                       f"extra events {sorted(set(a.event_ids) - set(e['event_ids']))[:5]}")
    return out
