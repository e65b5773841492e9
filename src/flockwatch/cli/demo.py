"""`flockwatch demo`: the whole product on its embedded default, live."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from flockwatch.cli.options import rules_option


@click.command("demo")
@click.option("--duration", type=click.FloatRange(min=5), default=60, show_default=True,
              help="Seconds of live traffic.")
@click.option("--rate", type=click.FloatRange(min=1), default=200, show_default=True,
              help="Background events per second (the incidents come on top).")
@click.option("--workers", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Worker processes in one group; they split the partitions, and incidents spanning several "
                   "agents (cascades, ping-pong) are still seen whole (re-keyed through <topic>.by-key).")
@click.option("--partitions", type=click.IntRange(1, 64), default=4, show_default=True,
              help="Partitions of the events topic.")
@click.option("--seed", type=int, default=7, show_default=True, help="Same seed, same society and incidents.")
@click.option("--api-port", type=int, default=0, show_default=True, help="Alert API port (0 = any free port, -1 = no API).")
@click.option("--workdir", type=click.Path(file_okay=False), default="var/demo", show_default=True,
              help="Where the demo's SQLite store and logs go (one subdirectory per run).")
@rules_option
def demo(duration: float, rate: float, workers: int, partitions: int, seed: int, api_port: int, workdir: str,
         rules_dirs: tuple[str, ...]) -> None:
    """Run flockwatch end to end on this machine and watch it work.

    Starts the embedded broker, WORKERS worker processes (SQLite store, /metrics,
    /healthz, /readyz) and the alert API; streams a simulated agent society with five
    injected incidents (a ROT13-wrapped injection, an operator-targeted DM scam, a spam
    cascade, a reply ping-pong loop, a credential leak) for DURATION seconds; prints
    progress, then alerts by category and severity and which incidents were caught.
    Stops everything it started when it ends or is interrupted.
    """
    import logging

    from flockwatch.demo.runner import DemoOptions, DemoRun  # imports Kafka clients: only for this command

    logging.getLogger("kafka").setLevel(logging.ERROR)  # the producer's timing warnings are noise here

    options = DemoOptions(duration=duration, rate=rate, workers=workers, partitions=partitions, seed=seed,
                          workdir=Path(workdir), rules=rules_dirs, api_port=None if api_port < 0 else api_port)
    try:
        DemoRun(options).run()
    except KeyboardInterrupt:
        click.echo("\ninterrupted: everything the demo started has been stopped", err=True)
        sys.exit(130)
    except RuntimeError as exc:
        click.echo(f"demo failed: {exc}", err=True)
        sys.exit(1)


def register(cli: click.Group) -> None:
    cli.add_command(demo)
