"""`flockwatch demo`: the embedded broker, the sample stream, the worker, the alerts."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from flockwatch.cli.options import rules_option
from flockwatch.simulate.sample import sample_lines

_REPO_SAMPLE = Path(__file__).resolve().parents[3] / "examples" / "sample-events.jsonl"


@click.command("demo")
@rules_option
@click.option("--events", "events_path", type=click.Path(exists=True, dir_okay=False),
              help="JSONL to stream (sent as-is, invalid lines included). Default: the shipped sample.")
@click.option("--work-dir", type=click.Path(file_okay=False), default="var/demo", show_default=True,
              help="Where the demo keeps its SQLite store and logs (emptied at start).")
def demo(rules_dirs: tuple[str, ...], events_path: str | None, work_dir: str) -> None:
    """Run everything on embedded defaults and print the alerts.

    Starts the embedded Kafka broker, streams the sample events (with two poison
    lines) into it, runs the worker until it has processed every event, prints the
    alerts by category and severity, and stops what it started (also on Ctrl-C).
    """
    from flockwatch.demo.report import alerts_table, counts_table
    from flockwatch.demo.session import DemoSession
    from flockwatch.embedded.broker import INSTALL_HINT, tansu_binary

    if tansu_binary() is None:
        raise click.ClickException(INSTALL_HINT)
    say = click.echo
    if events_path:
        source, lines = events_path, Path(events_path).read_bytes().splitlines()
    elif _REPO_SAMPLE.exists():
        source, lines = str(_REPO_SAMPLE), _REPO_SAMPLE.read_bytes().splitlines()
    else:  # an installed package has no examples/: generate the same stream
        source, lines = "built-in sample", [line.encode() for line in sample_lines()]
    try:
        with DemoSession(Path(work_dir), say=say) as session:
            say(f"broker   embedded Tansu at {session.start_broker()} (memory only)")
            report = session.load(lines, source)
            say(f"produce  {report.sent} records from {source} into platform.events, keyed by agent")
            if report.failed:
                raise click.ClickException(f"the broker refused {report.failed} records: {report.errors[:3]}")
            ready = session.start_worker(rules_dirs)
            assert session.worker is not None
            say(f"worker   ready in {ready:.1f} s; metrics at http://127.0.0.1:{session.worker.port}/metrics "
                f"(log: {session.worker.log_path})")
            t0 = time.monotonic()
            if not session.wait_drained():
                raise click.ClickException(f"the worker did not finish; see {session.worker.log_path}")
            dead = session.dead_letters()
            say(f"drained  {report.sent} records in {time.monotonic() - t0:.1f} s: "
                f"{report.sent - len(dead)} events, {len(dead)} dead-lettered")
            alerts = session.store().list(limit=10_000)
            say("")
            say(f"Alerts: {len(alerts)}")
            if alerts:
                say(counts_table(alerts))
                say("")
                say(alerts_table(alerts))
            if dead:
                say("")
                say(f"Dead letters (flockwatch.deadletter): {len(dead)}")
                for d in dead:
                    src = d["source"]
                    say(f"  {d['reason']:<14} partition {src['partition']} offset {src['offset']}: {d['error'][:80]}")
            say("")
            say(f"Alerts are stored in {session.database_url}; stopping the worker and the broker.")
    except KeyboardInterrupt:
        click.echo("\ninterrupted: worker and broker stopped", err=True)
        sys.exit(130)


def register(cli: click.Group) -> None:
    cli.add_command(demo)
