"""Entry point of the `flockwatch` command."""

from __future__ import annotations

import importlib
import logging
import pkgutil

import click

from flockwatch import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="flockwatch")
@click.option("--log-level", default="WARNING", show_default=True, help="Python log level for stderr.")
def cli(log_level: str) -> None:
    """flockwatch: watch a society of AI agents for collective risk."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _register_commands() -> None:
    import flockwatch.cli as pkg

    for mod in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if mod.name in ("main",) or mod.name.startswith("_"):
            continue
        module = importlib.import_module(f"flockwatch.cli.{mod.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(cli)


_register_commands()


def main() -> None:
    cli(prog_name="flockwatch")
