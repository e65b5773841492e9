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
    envvar="FLOCKWATCH_RULES",  # space-separated paths; what containers set
    help="Rule pack file or directory (repeatable; env FLOCKWATCH_RULES). Default: the shipped rules/.",
)

database_option = click.option(
    "--database",
    "--database-url",  # the worker's spelling; both work everywhere
    "database_url",
    envvar="FLOCKWATCH_DATABASE_URL",
    help="Alert store URL (sqlite:///path or postgresql://...). Default: $FLOCKWATCH_DATABASE_URL or sqlite:///var/flockwatch.db.",
)
