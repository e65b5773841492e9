"""`flockwatch scan PATH|-`."""

from __future__ import annotations

import os
import stat
import sys
from collections import Counter
from contextlib import ExitStack
from typing import TextIO

import click
from prometheus_client import start_http_server

from flockwatch.cli.options import metrics_host_option, rules_option
from flockwatch.cli.packs import load_or_exit
from flockwatch.detect.engine import Engine
from flockwatch.ingest.jsonl import open_source
from flockwatch.metrics.registry import Metrics
from flockwatch.pipeline.collector_tuning import tune_garbage_collector
from flockwatch.pipeline.file_scan import scan_stream
from flockwatch.pipeline.processor import Processor


@click.command("scan")
@click.argument("path")
@rules_option
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="Write alerts here (JSONL) instead of stdout.")
@click.option("--dead-letter", "dl_path", type=click.Path(dir_okay=False), help="Write rejected lines here (JSONL).")
@click.option("--metrics-port", type=int, help="Serve Prometheus /metrics on this port while scanning.")
@metrics_host_option
@click.option("--fail-on-invalid", is_flag=True, help="Exit 3 if any line was invalid (they are still skipped).")
def scan(path: str, rules_dirs: tuple[str, ...], out_path: str | None, dl_path: str | None,
         metrics_port: int | None, metrics_host: str, fail_on_invalid: bool) -> None:
    """Scan canonical JSONL (a file, or - for stdin) with every enabled rule pack.

    Alerts go to stdout (one JSON object per line, merged by fingerprint);
    a summary goes to stderr. Invalid lines are reported and skipped, never fatal.
    """
    packs = load_or_exit(rules_dirs)
    metrics = Metrics()
    if metrics_port:
        start_http_server(metrics_port, addr=metrics_host, registry=metrics.registry)
    processor = Processor(Engine(packs, metrics=metrics, repartition=True), metrics)
    tune_garbage_collector()
    with ExitStack() as stack:
        try:
            stream = stack.enter_context(open_source(path)) if path != "-" else open_source(path)
        except OSError as exc:
            raise click.FileError(path, str(exc)) from None
        dl = _open_output(stack, dl_path, "w") if dl_path else None
        # Opened before the scan, so a bad path fails at once, not after the whole file
        # with a traceback; in append mode and emptied only afterwards, so an `--out`
        # naming the input file does not empty it before it is read.
        out = _open_output(stack, out_path, "a") if out_path else sys.stdout
        report = scan_stream(stream, processor, path, dl)
        if out_path and stat.S_ISREG(os.fstat(out.fileno()).st_mode):
            # Only a regular file is emptied: /dev/null, a pipe or a terminal cannot be
            # truncated (EINVAL) and have nothing old to drop.
            out.seek(0)
            out.truncate()
        for alert in report.alerts:
            out.write(alert.model_dump_json() + "\n")
    _summary(report, len(packs), sum(len(p.rules) for p in packs))
    if fail_on_invalid and report.invalid:
        sys.exit(3)


def _open_output(stack: ExitStack, path: str, mode: str) -> TextIO:
    try:
        return stack.enter_context(open(path, mode, encoding="utf-8"))
    except OSError as exc:
        raise click.FileError(path, exc.strerror or str(exc)) from None


def _summary(report, n_packs: int, n_rules: int) -> None:  # type: ignore[no-untyped-def]
    err = click.get_text_stream("stderr")
    for line in report.bad_lines:
        err.write(f"invalid: {line}\n")
    if report.invalid > len(report.bad_lines):
        err.write(f"invalid: … and {report.invalid - len(report.bad_lines)} more\n")
    rate = report.events / report.seconds if report.seconds else 0.0
    err.write(
        f"scanned {report.events} events ({report.invalid} invalid) with {n_rules} rules "
        f"from {n_packs} packs in {report.seconds:.2f}s ({rate:,.0f} events/s)\n"
    )
    if report.invalid_by_reason:
        err.write("invalid by reason: " + ", ".join(f"{k}={v}" for k, v in sorted(report.invalid_by_reason.items())) + "\n")
    by = Counter((a.category, a.severity) for a in report.alerts)
    err.write(f"alerts: {len(report.alerts)}\n")
    for (cat, sev), n in sorted(by.items()):
        err.write(f"  {cat:20} {sev:8} {n}\n")


def register(cli: click.Group) -> None:
    cli.add_command(scan)
