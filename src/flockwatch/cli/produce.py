"""`flockwatch produce PATH --topic T`: load JSONL into Kafka."""

from __future__ import annotations

import sys

import click

from flockwatch.ingest.jsonl import open_source
from flockwatch.kafka.producer import ProduceReport, make_producer, produce_lines
from flockwatch.kafka.topics import DEFAULT_PARTITIONS, EVENTS_TOPIC, BrokerUnavailable, ensure_topics

broker_option = click.option(
    "--broker", envvar="FLOCKWATCH_BROKER", default="127.0.0.1:9092", show_default=True, show_envvar=True,
    help="Kafka bootstrap address (host:port[,host:port]).",
)


@click.command("produce")
@click.argument("path")
@broker_option
@click.option("--topic", envvar="FLOCKWATCH_EVENTS_TOPIC", default=EVENTS_TOPIC, show_default=True,
              show_envvar=True, help="Topic to write to.")
@click.option("--raw", is_flag=True,
              help="Send every non-blank line as-is, even if it is not a valid event (to replay foreign "
                   "dumps or inject poison messages in tests); a line over 4 MiB is still skipped. "
                   "Default: validate and skip invalid lines.")
@click.option("--partitions", type=int, default=DEFAULT_PARTITIONS, show_default=True,
              help="Partitions to create the topic with if it does not exist yet.")
@click.option("--fail-on-invalid", is_flag=True, help="Exit 3 if any line was invalid (they are still skipped).")
def produce(path: str, broker: str, topic: str, raw: bool, partitions: int, fail_on_invalid: bool) -> None:
    """Load canonical JSONL (a file, or - for stdin) into Kafka, one record per line, key = agent_id.

    Lines are validated first: invalid ones are reported on stderr with their line
    number and not sent. A line over 4 MiB is reported as too_large and skipped unread,
    also with --raw. Exit 1 if the broker refused any record.
    """
    try:
        ensure_topics(broker, {topic: partitions})
    except BrokerUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    producer = make_producer(broker)
    try:
        try:
            stream = open_source(path)
        except OSError as exc:
            raise click.FileError(path, str(exc)) from None
        with stream:
            report = produce_lines(stream, producer, topic, raw=raw, source_name=path)
    finally:
        producer.close()
    _summary(report, topic)
    if report.failed:
        sys.exit(1)
    if fail_on_invalid and report.invalid:
        sys.exit(3)


def _summary(report: ProduceReport, topic: str) -> None:
    err = click.get_text_stream("stderr")
    for line in report.bad_lines:
        err.write(f"invalid: {line}\n")
    if report.invalid > len(report.bad_lines):
        err.write(f"invalid: … and {report.invalid - len(report.bad_lines)} more\n")
    for line in report.errors:
        err.write(f"error: {line}\n")
    err.write(f"produced {report.sent} records to {topic} in {report.seconds:.2f}s ({report.rate:,.0f}/s); "
              f"{report.invalid} invalid line(s) skipped, {report.failed} refused by the broker\n")
    if report.invalid_by_reason:
        err.write("invalid by reason: " + ", ".join(f"{k}={v}" for k, v in sorted(report.invalid_by_reason.items())) + "\n")


def register(cli: click.Group) -> None:
    cli.add_command(produce)
