"""Output options shared by `import` and `bridge`: canonical JSONL or a Kafka topic,
plus where dead letters go."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from flockwatch.bridge.sinks import (
    KEY_BY, DeadLetterSink, EventSink, JsonlDeadLetters, JsonlSink, KafkaDeadLetters, KafkaSink,
)

from flockwatch.kafka.topics import DEAD_LETTER_TOPIC, DEFAULT_PARTITIONS, EVENTS_TOPIC

# The same defaults as the worker's, so a bridge and a worker started without flags meet.
DEFAULT_TOPIC = EVENTS_TOPIC
DEFAULT_DEAD_LETTER_TOPIC = DEAD_LETTER_TOPIC


def event_output_options(default_out: str | None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        options = [
            click.option("--out", "out_path", default=default_out, show_default=bool(default_out),
                         help="Write canonical JSONL here ('-' = stdout). Ignored with --bootstrap."),
            click.option("--bootstrap", "--broker", "bootstrap", envvar="FLOCKWATCH_KAFKA_BOOTSTRAP",
                         help="Kafka bootstrap servers: produce to --topic instead of writing a file "
                              "(--broker is the same option, as in `worker` and `produce`) "
                              "[env FLOCKWATCH_KAFKA_BOOTSTRAP; not FLOCKWATCH_BROKER, which would silently "
                              "turn a file export into a produce]."),
            click.option("--topic", envvar="FLOCKWATCH_EVENTS_TOPIC", default=DEFAULT_TOPIC, show_default=True,
                         help="Kafka topic for events (the worker's default firehose)."),
            click.option("--key-by", type=click.Choice(KEY_BY), default="agent", show_default=True,
                         help="Kafka message key: the acting agent's id, or the post id (falls back to agent)."),
            click.option("--partitions", type=int, default=DEFAULT_PARTITIONS, show_default=True,
                         help="Partitions when the topic has to be created."),
            click.option("--dead-letter", "dl_path", type=click.Path(dir_okay=False),
                         help="Write dead-letter records here (JSONL)."),
            click.option("--dead-letter-topic", default=None,
                         help=f"Kafka topic for dead letters (with --bootstrap; e.g. {DEFAULT_DEAD_LETTER_TOPIC})."),
        ]
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


def open_event_sink(out_path: str | None, bootstrap: str | None, topic: str, key_by: str, partitions: int,
                    *, append: bool) -> EventSink:
    if bootstrap:
        return KafkaSink(bootstrap, topic, key_by=key_by, partitions=partitions)
    if not out_path:
        raise click.UsageError("say where events go: --out FILE (or -) or --bootstrap HOST:PORT")
    if out_path != "-":
        parent = os.path.dirname(out_path)
        if parent:
            os.makedirs(parent, exist_ok=True)
    return JsonlSink(out_path, append=append)


def open_dead_letter_sink(dl_path: str | None, bootstrap: str | None, dl_topic: str | None) -> DeadLetterSink | None:
    if dl_path:
        return JsonlDeadLetters(dl_path)
    if bootstrap and dl_topic:
        return KafkaDeadLetters(bootstrap, dl_topic)
    return None
