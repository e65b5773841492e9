"""Loading packs for a command, with errors printed the way rule authors read them."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from flockwatch.cli.options import default_rules_dirs
from flockwatch.detect.compiled import CompiledPack
from flockwatch.rules.errors import PackError
from flockwatch.rules.loader import load_packs


def load_or_exit(paths: Sequence[str]) -> list[CompiledPack]:
    paths = list(paths) or list(default_rules_dirs())
    if not paths:
        raise click.UsageError("no rule packs: pass --rules DIR (the shipped rules/ was not found)")
    try:
        return load_packs(paths)
    except PackError as exc:
        for issue in exc.issues:
            click.echo(str(issue), err=True)
        sys.exit(2)
