"""`flockwatch worker`: run the streaming worker on the Kafka firehose."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import click

from flockwatch.cli.options import default_rules_dirs, rules_option
from flockwatch.cli.packs import load_or_exit
from flockwatch.cli.produce import broker_option
from flockwatch.pipeline.collector_tuning import tune_garbage_collector
from flockwatch.worker.settings import DEFAULT_GROUP, DEFAULT_METRICS_PORT, WorkerSettings

STARTED = time.monotonic()  # the CLI imports every command module at startup: ~process start
D = WorkerSettings()


def _opt(name: str, env: str, default: object, help: str, **kw: object):  # type: ignore[no-untyped-def]  # noqa: A002
    return click.option(name, envvar=f"FLOCKWATCH_{env}", default=default, show_default=True, show_envvar=True,
                        help=help, **kw)


@click.command("worker")
@broker_option
@rules_option
@_opt("--topic", "EVENTS_TOPIC", D.events_topic, "Firehose topic to consume.")
@_opt("--group", "GROUP", DEFAULT_GROUP, "Consumer group (= Faust app id). Workers sharing it split the partitions.")
@_opt("--alerts-topic", "ALERTS_TOPIC", D.alerts_topic, "Where stored alerts are published (key = fingerprint).")
@_opt("--dead-letter-topic", "DEAD_LETTER_TOPIC", D.dead_letter_topic, "Where invalid events go, with the reason.")
@_opt("--partitions", "PARTITIONS", D.partitions, "Partitions for topics the worker has to create.", type=int)
@_opt("--database-url", "DATABASE_URL", None, "Alert store URL (default sqlite:///var/flockwatch.db).")
@_opt("--metrics-host", "METRICS_HOST", D.metrics_host, "Address of the /metrics, /healthz, /readyz server.")
@_opt("--metrics-port", "METRICS_PORT", DEFAULT_METRICS_PORT, "Port of that server; 0 = any free port, -1 = off.",
      type=int)
@_opt("--batch-size", "BATCH_SIZE", D.batch_size, "Events per batch (one store transaction, one ack).",
      type=click.IntRange(min=1))  # 0 ran one event per batch: a typo, not a setting
# Above 0: Faust reads a `within` of 0 as "no timeout", so a partial batch would wait for ever
# (and a SIGTERM hang in Faust's wait for its records).
@_opt("--batch-within", "BATCH_WITHIN", D.batch_within, "Seconds a partial batch waits for more events.",
      type=click.FloatRange(min=0, min_open=True))
@_opt("--session-timeout", "SESSION_TIMEOUT", D.session_timeout,
      "Kafka session timeout (s): a dead worker's partitions move after this long.", type=float)
@_opt("--commit-interval", "COMMIT_INTERVAL", D.commit_interval, "Seconds between offset commits.", type=float)
@_opt("--store-retry-seconds", "STORE_RETRY_SECONDS", D.store_retry_seconds,
      "Seconds to retry an unreachable alert store before exiting 70 (the batch is replayed after the "
      "restart); 0 = retry until it is back.", type=click.FloatRange(min=0))
@_opt("--data-dir", "DATA_DIR", str(D.data_dir), "Faust's local data directory.")
@_opt("--rules-poll-seconds", "RULES_POLL_SECONDS", 5.0,
      "Seconds between checks of the rule files for changes (0 = reload on SIGHUP only).", type=float)
def worker(broker: str, rules_dirs: tuple[str, ...], topic: str, group: str, alerts_topic: str,
           dead_letter_topic: str, partitions: int, database_url: str | None, metrics_host: str, metrics_port: int,
           batch_size: int, batch_within: float, session_timeout: float, commit_interval: float,
           store_retry_seconds: float, data_dir: str, rules_poll_seconds: float) -> None:
    """Run the streaming worker: firehose -> rules -> alert store + alerts topic.

    Stops gracefully on Ctrl-C / SIGTERM. An alert store that goes away while the
    worker runs is waited for (nothing is acknowledged meanwhile). Exits 70 if a batch
    fails otherwise (it is replayed when the worker restarts).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    from flockwatch.kafka.topics import BrokerUnavailable
    from flockwatch.store.database import database_url as resolve_url
    from flockwatch.worker.runtime import WorkerRuntime  # Faust is only imported by this command

    settings = WorkerSettings(
        broker=broker, group=group, events_topic=topic, alerts_topic=alerts_topic,
        dead_letter_topic=dead_letter_topic, partitions=partitions, database_url=database_url,
        metrics_host=metrics_host, metrics_port=None if metrics_port < 0 else metrics_port,
        batch_size=batch_size, batch_within=batch_within, session_timeout=session_timeout,
        heartbeat_interval=min(D.heartbeat_interval, session_timeout / 3),
        rebalance_timeout=D.rebalance_timeout, commit_interval=commit_interval,
        store_retry_seconds=store_retry_seconds, data_dir=Path(data_dir),
    )
    packs = load_or_exit(rules_dirs)
    level = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
    paths = list(rules_dirs) or list(default_rules_dirs())
    try:
        # Made here, not left to Faust: it makes it only once started, and fails with a traceback.
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        runtime = WorkerRuntime(settings, packs, started=STARTED, rule_paths=paths,
                                rules_poll_seconds=rules_poll_seconds)
    except BrokerUnavailable as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # the data directory or the SQLite file's directory cannot be made
        raise click.ClickException(f"cannot create {exc.filename}: {exc.strerror}") from None
    except OperationalError as exc:  # the store: wrong URL, database down
        url = make_url(resolve_url(settings.database_url)).render_as_string(hide_password=True)
        raise click.ClickException(f"cannot open the alert store {url}: {exc.orig}") from None
    tune_garbage_collector()
    runtime.run(loglevel=level)


def register(cli: click.Group) -> None:
    cli.add_command(worker)
