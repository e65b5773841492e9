"""`flockwatch api serve`: the alert API over HTTP."""

from __future__ import annotations

import logging
import os
import sys

import click

from flockwatch.cli.options import database_option

log = logging.getLogger(__name__)

LOCAL_HOSTS = ("127.0.0.1", "::1", "localhost")


@click.group("api")
def api_group() -> None:
    """The alert API (HTTP/JSON; OpenAPI document at /openapi.json)."""


@api_group.command("serve")
@database_option
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="FLOCKWATCH_NOTIFY_CONFIG",
              help="Notification config: enables /receivers and test notifications. Default: $FLOCKWATCH_NOTIFY_CONFIG.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
def serve(database_url: str | None, config_path: str | None, host: str, port: int) -> None:
    """Serve the alert API. Set FLOCKWATCH_API_TOKEN to require a bearer token (required
    to listen beyond localhost)."""
    from aiohttp import web

    from flockwatch.api.app import make_app
    from flockwatch.api.service import AlertService
    from flockwatch.cli.notify_cmd import load_or_exit

    token = os.environ.get("FLOCKWATCH_API_TOKEN", "")
    if not token and host not in LOCAL_HOSTS:
        click.echo("error: set FLOCKWATCH_API_TOKEN to serve the API beyond localhost "
                   "(it can acknowledge, resolve and silence alerts)", err=True)
        sys.exit(2)
    config = load_or_exit(config_path) if config_path else None
    service = AlertService(database_url, config=config)
    click.echo(f"api: http://{host}:{port}/ (OpenAPI at /openapi.json)", err=True)
    web.run_app(make_app(service, token), host=host, port=port, print=None, access_log=log)


def register(cli: click.Group) -> None:
    cli.add_command(api_group)
