"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path

import click

# The shipped packs: `rules/` at the repository root, or beside the installed package.
_REPO_RULES = Path(__file__).resolve().parents[3] / "rules"


def default_rules_dirs() -> tuple[str, ...]:
    return (str(_REPO_RULES),) if _REPO_RULES.is_dir() else ()


rules_option = click.option(
    "--rules",
    "rules_dirs",
    multiple=True,
    type=click.Path(exists=True),
    envvar="FLOCKWATCH_RULES",  # paths separated by ":" (os.pathsep); what containers set
    help="Rule pack file or directory (repeatable; env FLOCKWATCH_RULES). Default: the shipped rules/.",
)

database_option = click.option(
    "--database",
    "--database-url",  # the worker's spelling; both work everywhere
    "database_url",
    envvar="FLOCKWATCH_DATABASE_URL",
    help="Alert store URL (sqlite:///path or postgresql://...). Default: $FLOCKWATCH_DATABASE_URL or sqlite:///var/flockwatch.db.",
)

# Every long-running command serves /metrics; 127.0.0.1 unless told otherwise (a
# container sets FLOCKWATCH_METRICS_HOST=0.0.0.0, as deploy/Dockerfile does, so
# Prometheus can reach it). The worker has the same option in its own table.
metrics_host_option = click.option(
    "--metrics-host",
    envvar="FLOCKWATCH_METRICS_HOST",
    default="127.0.0.1",
    show_default=True,
    show_envvar=True,
    help="Address of the /metrics server (0.0.0.0 in a container).",
)
