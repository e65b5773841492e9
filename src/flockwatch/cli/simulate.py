"""`flockwatch simulate`: a seeded agent society with labelled incidents."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from flockwatch.simulate.stream import SimConfig, Simulation


@click.command("simulate")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same stream.")
@click.option("--agents", type=click.IntRange(min=10), default=2000, show_default=True)
@click.option("--events", type=click.IntRange(min=100), default=20000, show_default=True,
              help="Benign background events; incidents are added on top.")
@click.option("--rate", type=click.FloatRange(min=0.01), default=30.0, show_default=True,
              help="Background events per second of event time.")
@click.option("--incidents", "incidents_per_50k", type=click.IntRange(min=0), default=1, show_default=True,
              help="Rounds of injected incidents per 50,000 events (0: benign only).")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="Write events here (JSONL); - for stdout.")
@click.option("--labels", "labels_path", type=click.Path(dir_okay=False),
              help="Ground-truth labels (JSONL). Default: OUT with .labels.jsonl.")
@click.option("--topic", help="Produce events to this Kafka topic (keyed by agent_id).")
@click.option("--bootstrap", "--broker", "bootstrap", envvar="FLOCKWATCH_BROKER", default="127.0.0.1:9092",
              show_default=True, help="Kafka bootstrap servers (--broker: the same, as in `worker`).")
def simulate(seed: int, agents: int, events: int, rate: float, incidents_per_50k: int, out_path: str | None,
             labels_path: str | None, topic: str | None, bootstrap: str) -> None:
    """Generate a realistic event stream: many agents with their own cadence and words,
    threads, votes, follows and DMs, plus injected incidents (spam campaigns, link waves,
    loops, ping-pong, reply cycles, echo chains, a propagating prompt, a ROT13 injection,
    an operator DM scam, a credential leak) and hard benign look-alikes, each labelled."""
    if not out_path and not topic:
        raise click.UsageError("give --out FILE (or -) and/or --topic")
    cfg = SimConfig(seed=seed, agents=agents, events=events, rate=rate, incidents_per_50k=incidents_per_50k)
    if incidents_per_50k == 0:
        cfg.mix = {}
    sim = Simulation(cfg)
    producer = None
    if topic:
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks="all")
    out = None
    if out_path == "-":
        out = sys.stdout
    elif out_path:
        out = open(out_path, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    n = 0
    try:
        for ev in sim.stream():
            line = json.dumps(ev, ensure_ascii=False)
            if out is not None:
                out.write(line + "\n")
            if producer is not None:
                producer.send(topic, value=line.encode(), key=ev["agent_id"].encode())
            n += 1
    finally:
        if producer is not None:
            producer.flush()
            producer.close()
        if out is not None and out is not sys.stdout:
            out.close()
    if labels_path is None and out_path and out_path != "-":
        labels_path = str(Path(out_path).with_suffix("")) + ".labels.jsonl"
    if labels_path:
        with open(labels_path, "w", encoding="utf-8") as f:
            for label in sim.labels:
                f.write(json.dumps(label, ensure_ascii=False) + "\n")
    kinds = sorted({lab["kind"] for lab in sim.labels})
    click.echo(f"simulated {n} events from {agents} agents (seed {seed}), {len(sim.labels)} labelled incidents"
               f"{': ' + ', '.join(kinds) if kinds else ''}"
               f"{f'; labels in {labels_path}' if labels_path else ''}", err=True)


def register(cli: click.Group) -> None:
    cli.add_command(simulate)
