"""`flockwatch rules validate|test|list`."""

from __future__ import annotations

import sys

import click

from flockwatch.cli.packs import load_or_exit
from flockwatch.detect.engine import Engine
from flockwatch.rules.testing import run_rule_tests


@click.group("rules")
def rules_group() -> None:
    """Check and test rule packs."""


@rules_group.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
def validate(paths: tuple[str, ...]) -> None:
    """Load packs and report every problem (schema, regex, backtracking, duplicate ids)."""
    packs = load_or_exit(paths)
    engine = Engine(packs, include_disabled=True)
    for pack in packs:
        for note in pack.notes:
            click.echo(f"{note} (warning)", err=True)
    slow = engine.always_evaluated
    if slow:
        click.echo(f"{len(slow)} rule(s) run on every event (no prefilter): "
                   + ", ".join(r.id for r in slow), err=True)
    for pack in packs:
        for r in pack.rules:
            for where in r.overridden_by:
                click.echo(f"{r.id}: tuned by the override at {where}", err=True)
    n = sum(len(p.rules) for p in packs)
    click.echo(f"ok: {len(packs)} pack(s), {n} rule(s), {engine.prefilter.slots if engine.prefilter else 0} prefilter patterns")


@rules_group.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("-v", "--verbose", is_flag=True, help="Print passing cases too.")
def test(paths: tuple[str, ...], verbose: bool) -> None:
    """Run every rule's inline tests through the production engine."""
    packs = load_or_exit(paths)
    results = run_rule_tests(packs)
    failed = [r for r in results if not r.passed]
    for r in results:
        if verbose or not r.passed:
            click.echo(str(r))
    untested = [r.id for p in packs for r in p.rules if not r.tests.get("fire")]
    if untested:
        click.echo(f"warning: rules without a firing test: {', '.join(untested)}", err=True)
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)


@rules_group.command("list")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
def list_rules(paths: tuple[str, ...]) -> None:
    """List rules: id, type, category, severity, enabled."""
    for pack in load_or_exit(paths):
        click.echo(f"# {pack.name} {pack.version} ({pack.file})")
        for r in pack.rules:
            flag = ("" if r.enabled else "  (disabled)") + ("  (tuned)" if r.overridden_by else "")
            click.echo(f"{r.id:48} {r.type:10} {r.category:20} {r.severity:8}{flag}")


def register(cli: click.Group) -> None:
    cli.add_command(rules_group)
