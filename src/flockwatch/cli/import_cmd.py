"""`flockwatch import PATH...`: public Moltbook dumps -> canonical events."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from flockwatch.cli._event_output import event_output_options, open_dead_letter_sink, open_event_sink
from flockwatch.importers.formats import FORMATS, FormatError, detect_format, expand
from flockwatch.importers.runner import ORDERS, ImportReport, import_files


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(("auto",) + FORMATS), default="auto", show_default=True,
              help="Input format; auto recognises each file by its name and first record.")
@event_output_options(default_out="-")
@click.option("--observed-at", help="ISO-8601 time to stamp agent/community events with "
                                    "(default: the newest time found in the dump; see docs/bridge.md).")
@click.option("--order", type=click.Choice(ORDERS), default="time", show_default=True,
              help="time: sort events by event time (what windowed rules expect; holds the import in memory); "
                   "input: stream in file order.")
@click.option("--no-dedupe", is_flag=True, help="Keep events whose id was already written in this import.")
@click.option("--fail-on-invalid", is_flag=True, help="Exit 3 if any record was dead-lettered.")
def import_cmd(paths: tuple[str, ...], fmt: str, out_path: str | None, bootstrap: str | None, topic: str,
               key_by: str, partitions: int, dl_path: str | None, dead_letter_topic: str | None,
               observed_at: str | None, order: str, no_dedupe: bool, fail_on_invalid: bool) -> None:
    """Import Moltbook dumps (files or directories) as canonical events.

    \b
    Formats:
      api             raw API responses: post detail with comments, list pages,
                      profile and submolt responses (.json, or one per line in .jsonl)
      posts-table     flattened posts: id, title, author, content, upvotes,
                      downvotes, comment_count, created_at (JSONL or CSV)
      comments-table  flattened comments: id, post_id, author?, content, created_at, depth
      agents          agent profiles, one per line (with _recent_posts/_recent_comments)

    Events go to stdout (or --out FILE) for `flockwatch scan`, or to Kafka with
    --bootstrap. A summary goes to stderr.
    """
    files = []
    for path in expand(list(paths)):
        try:
            files.append((path, detect_format(path) if fmt == "auto" else fmt))
        except FormatError as exc:
            raise click.UsageError(str(exc)) from None
    if not files:
        raise click.UsageError("no importable files (.json, .jsonl, .ndjson, .csv) under the given paths")
    sink = open_event_sink(out_path, bootstrap, topic, key_by, partitions, append=False)
    dead = open_dead_letter_sink(dl_path, bootstrap, dead_letter_topic)
    try:
        report = import_files(files, sink, dead, observed_at=observed_at, order=order, dedupe=not no_dedupe)
    except FormatError as exc:
        raise click.UsageError(str(exc)) from None
    finally:
        sink.close()
        if dead is not None:
            dead.close()
    _summary(report, bootstrap, topic)
    if fail_on_invalid and report.rejected:
        sys.exit(3)


def _summary(report: ImportReport, bootstrap: str | None, topic: str) -> None:
    err = click.get_text_stream("stderr")
    by_fmt: dict[str, int] = {}
    for _, f in report.files:
        by_fmt[f] = by_fmt.get(f, 0) + 1
    where = f" to {topic} at {bootstrap}" if bootstrap else ""
    types = ", ".join(f"{t}={n}" for t, n in sorted(report.events.items())) or "none"
    rate = report.events.get("post", 0) / report.seconds if report.seconds else 0.0
    err.write(f"imported {report.written} events{where} ({types}) from {len(report.files)} files "
              f"({', '.join(f'{k}={v}' for k, v in sorted(by_fmt.items()))}) in {report.seconds:.2f}s "
              f"({rate:,.0f} posts/s)\n")
    if report.duplicates:
        err.write(f"duplicates skipped: {report.duplicates}\n")
    if report.resolved:
        err.write(f"name-only authors given their platform id: {report.resolved}\n")
    if report.rejected:
        err.write("dead-lettered: " + ", ".join(f"{k}={v}" for k, v in sorted(report.rejected.items())) + "\n")


def register(cli: click.Group) -> None:
    cli.add_command(import_cmd)
