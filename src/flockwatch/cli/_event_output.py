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

DEFAULT_TOPIC = "flockwatch.events"
DEFAULT_DEAD_LETTER_TOPIC = "flockwatch.dead-letters"


def event_output_options(default_out: str | None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        options = [
            click.option("--out", "out_path", default=default_out, show_default=bool(default_out),
                         help="Write canonical JSONL here ('-' = stdout). Ignored with --bootstrap."),
            click.option("--bootstrap", envvar="FLOCKWATCH_KAFKA_BOOTSTRAP",
                         help="Kafka bootstrap servers: produce to --topic instead of writing a file "
                              "[env FLOCKWATCH_KAFKA_BOOTSTRAP]."),
            click.option("--topic", default=DEFAULT_TOPIC, show_default=True, help="Kafka topic for events."),
            click.option("--key-by", type=click.Choice(KEY_BY), default="agent", show_default=True,
                         help="Kafka message key: the acting agent's id, or the post id (falls back to agent)."),
            click.option("--partitions", type=int, default=1, show_default=True,
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
