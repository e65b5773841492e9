"""`flockwatch bridge moltbook`: poll the Moltbook API into canonical events."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections import Counter

import click
from prometheus_client import start_http_server

from flockwatch.bridge.client import API_KEY_ENV, DEFAULT_BASE_URL, MoltbookClient, Redirected, Unauthorized
from flockwatch.bridge.emitter import Emitter
from flockwatch.bridge.metrics import BridgeMetrics
from flockwatch.bridge.poller import CycleReport, Poller, PollerConfig
from flockwatch.bridge.ratelimit import RateLimiter
from flockwatch.bridge.retry import RetryPolicy
from flockwatch.bridge.state import BridgeState
from flockwatch.cli._event_output import event_output_options, open_dead_letter_sink, open_event_sink
from flockwatch.cli.options import metrics_host_option

log = logging.getLogger("flockwatch.bridge")
DOCUMENTED_LIMIT = 100  # requests per minute (Moltbook skill.md)


@click.group("bridge")
def bridge_group() -> None:
    """Bridge a platform without a firehose into canonical events."""


@bridge_group.command("moltbook")
@click.option("--base-url", envvar="MOLTBOOK_API_BASE", default=DEFAULT_BASE_URL, show_default=True,
              help="API base URL [env MOLTBOOK_API_BASE]. Always https://www.moltbook.com (with www): "
                   "the bare domain redirects, and redirects are refused (the key is never sent on one).")
@click.option("--api-key-env", default=API_KEY_ENV, show_default=True,
              help="Name of the environment variable holding the bearer key (the key itself is never "
                   "accepted on the command line, where `ps` would show it).")
@click.option("--db", "db_url", envvar="FLOCKWATCH_DATABASE_URL",
              help="Bridge state database (SQLAlchemy URL) [env FLOCKWATCH_DATABASE_URL; "
                   "default sqlite:///var/flockwatch.db].")
@event_output_options(default_out=None)
@click.option("--interval", type=float, default=60.0, show_default=True, help="Seconds between poll cycles.")
@click.option("--cycles", type=int, help="Stop after this many cycles (default: run until SIGTERM/SIGINT).")
@click.option("--max-rpm", type=click.IntRange(1, DOCUMENTED_LIMIT), default=90, show_default=True,
              help=f"Requests per minute, retries included (the platform allows {DOCUMENTED_LIMIT}).")
@click.option("--page-limit", type=click.IntRange(1, 100), default=25, show_default=True,
              help="Posts per list page.")
@click.option("--backfill-pages", type=int, default=1, show_default=True,
              help="First run only: pages of existing posts to read.")
@click.option("--lookback", type=float, default=120.0, show_default=True,
              help="Seconds below the cursor re-read each walk (posts committed late).")
@click.option("--max-pages", type=int, default=400, show_default=True, help="Page limit per walk.")
@click.option("--track-hours", type=float, default=48.0, show_default=True,
              help="Re-poll a post's comment tree for this long after it was created.")
@click.option("--details-per-cycle", type=int, default=40, show_default=True,
              help="Comment trees fetched per cycle at most.")
@click.option("--detail-min-interval", type=float, default=120.0, show_default=True,
              help="Seconds between polls of a growing comment tree (doubles while it is quiet).")
@click.option("--detail-max-interval", type=float, default=3600.0, show_default=True)
@click.option("--community-refresh", type=float, default=6 * 3600.0, show_default=True,
              help="Seconds between checks of a community's description.")
@click.option("--profile-refresh", type=float, default=None,
              help="Also re-fetch known agents' profiles this often (seconds). Default: profiles are "
                   "observed only from post details (free: no extra requests).")
@click.option("--timeout", type=float, default=15.0, show_default=True, help="HTTP timeout (s).")
@click.option("--retry-attempts", type=int, default=6, show_default=True,
              help="Tries per request on 5xx, timeouts and connection errors.")
@click.option("--retry-base", type=float, default=1.0, show_default=True, help="First backoff (s); doubles.")
@click.option("--metrics-port", type=int, help="Serve Prometheus /metrics on this port.")
@metrics_host_option
def moltbook(base_url: str, api_key_env: str, db_url: str | None, out_path: str | None, bootstrap: str | None,
             topic: str, key_by: str, partitions: int, dl_path: str | None, dead_letter_topic: str | None,
             interval: float, cycles: int | None, max_rpm: int, page_limit: int, backfill_pages: int,
             lookback: float, max_pages: int, track_hours: float, details_per_cycle: int,
             detail_min_interval: float, detail_max_interval: float, community_refresh: float,
             profile_refresh: float | None, timeout: float, retry_attempts: int, retry_base: float,
             metrics_port: int | None, metrics_host: str) -> None:
    """Poll the Moltbook REST API and produce canonical events, exactly once.

    New posts (GET /posts?sort=new), each post's growing comment tree
    (GET /posts/{id}), and changed agent profiles and community descriptions.
    State (cursor, seen ids, schedules) is kept in --db, so a restart neither
    repeats nor skips an event. Stops cleanly on SIGTERM/SIGINT.
    """
    api_key = os.environ.get(api_key_env) or None
    if api_key is None:
        log.warning("%s is not set: polling without a key (public reads only)", api_key_env)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    metrics = BridgeMetrics()
    if metrics_port:
        start_http_server(metrics_port, addr=metrics_host, registry=metrics.registry)
    client = MoltbookClient(
        base_url, api_key, limiter=RateLimiter(max_rpm, 60.0, sleep=stop.wait, stop=stop),
        retry=RetryPolicy(attempts=retry_attempts, base=retry_base), timeout=timeout,
        metrics=metrics, sleep=stop.wait, stop=stop,
    )
    state = BridgeState(db_url)
    sink = open_event_sink(out_path, bootstrap, topic, key_by, partitions, append=True)
    dead = open_dead_letter_sink(dl_path, bootstrap, dead_letter_topic)
    config = PollerConfig(
        page_limit=page_limit, lookback=lookback, backfill_pages=backfill_pages, max_pages=max_pages,
        track_for=track_hours * 3600.0, detail_min_interval=detail_min_interval,
        detail_max_interval=detail_max_interval, details_per_cycle=details_per_cycle,
        community_refresh=community_refresh, profile_refresh=profile_refresh,
    )
    poller = Poller(client, Emitter(state, sink, dead, metrics), state, config, metrics=metrics, stop=stop)
    totals: Counter[str] = Counter()
    dead_total = 0

    def on_cycle(report: CycleReport) -> None:
        nonlocal dead_total
        totals.update(report.emitted)
        dead_total += report.dead_letters
        log.info("cycle: %d pages, %d comment trees, emitted %s, %d dead letters%s", report.pages,
                 report.details, dict(report.emitted) or "nothing", report.dead_letters,
                 f", errors: {report.errors}" if report.errors else "")

    try:
        n = poller.run(interval, max_cycles=cycles, on_cycle=on_cycle)
    except Unauthorized as exc:
        raise click.ClickException(f"{exc} (key from ${api_key_env})") from None
    except Redirected as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        sink.close()
        if dead is not None:
            dead.close()
    types = ", ".join(f"{t}={c}" for t, c in sorted(totals.items())) or "none"
    click.echo(f"bridge: {n} cycles, {client.requests_sent} requests, emitted {sum(totals.values())} events "
               f"({types}), {dead_total} dead letters", err=True)


def register(cli: click.Group) -> None:
    cli.add_command(bridge_group)
