"""`flockwatch notify run|test` and `flockwatch template render`."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
from typing import TYPE_CHECKING

import click

from flockwatch.cli.options import database_option, metrics_host_option

if TYPE_CHECKING:
    from flockwatch.alerts.alert import Alert
    from flockwatch.notify.config import NotifyConfig

log = logging.getLogger(__name__)

config_option = click.option(
    "--config", "config_path", required=True, type=click.Path(dir_okay=False), envvar="FLOCKWATCH_NOTIFY_CONFIG",
    show_envvar=True,  # "[required]" alone reads as if the flag had to be given
    help="Notification config (YAML): receivers, routes, inhibit rules. Default: $FLOCKWATCH_NOTIFY_CONFIG. "
         "See deploy/notify.example.yaml.",
)


def load_or_exit(path: str) -> NotifyConfig:
    # Imported here: every CLI command imports this module, few need the notifier.
    from flockwatch.notify.aggregator import build_receivers
    from flockwatch.notify.config import NotifyConfigError, load_config

    try:
        config = load_config(path)
    except NotifyConfigError as exc:  # its message names the file already
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    try:
        build_receivers(config)  # compiles every template: syntax errors surface now
    except NotifyConfigError as exc:  # names the receiver; say which file it is in
        click.echo(f"error: {path}: {exc}", err=True)
        sys.exit(2)
    return config


@click.group("notify")
def notify_group() -> None:
    """Deliver alert notifications (the dispatcher) and test receivers."""


@notify_group.command("run")
@config_option
@database_option
@click.option("--metrics-port", type=int, help="Serve Prometheus /metrics on this port.")
@metrics_host_option
@click.option("--once", is_flag=True, help="Route, group and deliver what is due now, then exit.")
def run(config_path: str, database_url: str | None, metrics_port: int | None, metrics_host: str, once: bool) -> None:
    """Run the dispatcher: alert changes -> groups -> outbox -> receivers, with retries.

    Safe to run several: delivery claims rows with a lease and grouping is done by one
    process at a time. SIGTERM/SIGINT finish the requests in flight, then exit.
    """
    from prometheus_client import start_http_server

    from flockwatch.metrics.registry import Metrics
    from flockwatch.notify.dispatcher import Dispatcher
    from flockwatch.store.database import create_tables, make_engine

    config = load_or_exit(config_path)
    problems = config.check_secrets()
    if problems:
        for p in problems:
            click.echo(f"error: {p}", err=True)
        sys.exit(2)
    engine = make_engine(database_url)
    create_tables(engine)
    metrics = Metrics()
    if metrics_port:
        start_http_server(metrics_port, addr=metrics_host, registry=metrics.registry)
    dispatcher = Dispatcher(config, engine, metrics=metrics)
    click.echo(f"notify: dispatcher {dispatcher.instance} with {len(config.receivers)} receiver(s)", err=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await dispatcher.run(stop, once=once)

    asyncio.run(main())
    click.echo(f"notify: stopped; {dispatcher.delivered} message(s) delivered", err=True)


@notify_group.command("test")
@click.argument("receiver")
@config_option
@database_option
@click.option("--author", default=lambda: _whoami(), show_default="$USER", help="Recorded as who asked for the test.")
def test(receiver: str, config_path: str, database_url: str | None, author: str) -> None:
    """Send one test notification to RECEIVER now and print the receiver's answer."""
    from flockwatch.api.service import AlertService

    config = load_or_exit(config_path)
    service = AlertService(database_url, config=config)
    try:
        result = asyncio.run(service.send_test(receiver, author))
    except KeyError:
        click.echo(f"error: no receiver named {receiver!r} in {config_path}", err=True)
        sys.exit(2)
    click.echo(json.dumps(result, indent=2))
    sys.exit(0 if result["outcome"] == "ok" else 1)


@click.group("template")
def template_group() -> None:
    """Preview notification messages."""


@template_group.command("render")
@click.option("--alert", "alert_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="An alert as JSON, or JSONL of alerts (e.g. `flockwatch scan` output); all go in one message.")
@click.option("--receiver", required=True, help="Receiver name from the config.")
@config_option
@click.option("--kind", type=click.Choice(["firing", "update", "repeat", "resolved"]), default="firing", show_default=True)
@click.option("--compact", is_flag=True, help="Print the exact bytes that would be POSTed (default: indented).")
def render(alert_path: str, receiver: str, config_path: str, kind: str, compact: bool) -> None:
    """Print the exact payload RECEIVER would get for the alert(s) in FILE.

    Exits 1 when the receiver's template fails (the payload printed is then the plain
    fallback that would be sent, and the error goes to stderr).
    """
    from flockwatch.notify.test_message import render_alerts

    config = load_or_exit(config_path)
    alerts = _read_alerts(alert_path)
    try:
        rendered = render_alerts(config, receiver, alerts, kind=kind,
                                 status="resolved" if kind == "resolved" else "firing")
    except KeyError:
        click.echo(f"error: no receiver named {receiver!r} in {config_path}", err=True)
        sys.exit(2)
    if compact:
        click.echo(rendered.body().decode("utf-8"))
    else:
        click.echo(json.dumps(rendered.payload, indent=2, ensure_ascii=False))
    if rendered.template_error:
        click.echo(f"template error (the fallback above would be sent): {rendered.template_error}", err=True)
        sys.exit(1)


def _read_alerts(path: str) -> list[Alert]:
    from flockwatch.alerts.alert import Alert

    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    try:
        stripped = text.strip()
        if stripped.startswith("{") and "\n{" not in stripped:
            items = [json.loads(stripped)]
        else:
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        alerts = [Alert.model_validate(i) for i in items]
    except (ValueError, TypeError) as exc:
        click.echo(f"error: {path}: not an alert (JSON or JSONL of flockwatch alerts): {exc}", err=True)
        sys.exit(2)
    if not alerts:
        click.echo(f"error: {path}: no alerts in the file", err=True)
        sys.exit(2)
    return alerts


def _whoami() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "cli"


def register(cli: click.Group) -> None:
    cli.add_command(notify_group)
    cli.add_command(template_group)
