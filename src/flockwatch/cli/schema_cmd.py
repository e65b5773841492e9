"""`flockwatch schema`: print the canonical event JSON Schema."""

from __future__ import annotations

import json

import click

from flockwatch.ingest.event import json_schema


@click.command("schema")
def schema() -> None:
    """Print the canonical event schema v1 (JSON Schema 2020-12)."""
    click.echo(json.dumps(json_schema(), indent=2, sort_keys=True))


def register(cli: click.Group) -> None:
    cli.add_command(schema)
