"""`flockwatch alerts list|show|ack|resolve` and `flockwatch silences ...`: the alert API's
operations from a shell, straight on the store (same service layer as the API)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from flockwatch.cli.options import database_option
from flockwatch.detect.durations import parse_duration

author_option = click.option("--author", default=lambda: _whoami(), show_default="$USER",
                             help="Who does this (kept in the history).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _whoami() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001
        return "cli"


def _service(database_url: str | None):  # type: ignore[no-untyped-def]
    from flockwatch.api.service import AlertService

    return AlertService(database_url)


def _run(fn: Callable[[], Any]) -> Any:
    """Turn service errors into one line on stderr and a distinct exit code."""
    from flockwatch.api.service import BadRequest
    from flockwatch.store.lifecycle import AlertNotFound, LifecycleConflict
    from flockwatch.store.silences import SilenceError, SilenceNotFound

    try:
        return fn()
    except (AlertNotFound, SilenceNotFound) as exc:
        click.echo(f"error: not found: {exc}", err=True)
        sys.exit(4)
    except LifecycleConflict as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(5)
    except (BadRequest, SilenceError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def _say(text: str) -> None:
    """Human output: agent text may carry terminal escape sequences; print none of them."""
    from flockwatch.notify.receivers.text import strip_controls

    click.echo(strip_controls(text))


def _dump(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@click.group("alerts")
def alerts_group() -> None:
    """List, inspect, acknowledge and resolve stored alerts."""


@alerts_group.command("list")
@database_option
@click.option("--status", type=click.Choice(["firing", "acknowledged", "resolved"]))
@click.option("--category")
@click.option("--severity")
@click.option("--rule", help="Rule id or glob (spam.*).")
@click.option("--pack")
@click.option("--tag")
@click.option("--since", help="Only alerts active at or after this ISO time.")
@click.option("--limit", type=int, default=50, show_default=True)
@click.option("--cursor", help="Go on after the page that printed it (same filters).")
@json_option
def list_cmd(database_url: str | None, status: str | None, category: str | None, severity: str | None,
             rule: str | None, pack: str | None, tag: str | None, since: str | None, limit: int,
             cursor: str | None, as_json: bool) -> None:
    """List alerts, newest activity first, a page at a time (--limit, then --cursor)."""
    page = _run(lambda: _service(database_url).list_page(
        status=status, category=category, severity=severity, rule=rule, pack=pack, tag=tag, since=since,
        limit=limit, cursor=cursor))
    alerts = page["alerts"]
    if as_json:
        _dump(alerts)
    else:
        for a in alerts:
            _say(f"{a['fingerprint'][:12]}  {a['status']:12} {a['severity']:8} {a['category']:18} "
                 f"{a['count']:>6}  {a['last_ts']}  {a['rule_id']}: {a['title'][:80]}")
    # On stderr, so --json output stays one document: whether there is more, and how to get it.
    more = f"; more: --cursor {page['next']}" if page["has_more"] else ""
    click.echo(f"{len(alerts)} alert(s){more}", err=True)


@alerts_group.command("show")
@click.argument("ref")
@database_option
@json_option
def show_cmd(ref: str, database_url: str | None, as_json: bool) -> None:
    """Show one alert (fingerprint, alert id or unique prefix): events, history, deliveries."""
    alert = _run(lambda: _service(database_url).show(ref))
    if as_json:
        _dump(alert)
        return
    _say(f"{alert['title']}\n  {alert['summary']}")
    for key in ("fingerprint", "status", "severity", "category", "rule_id", "pack", "count", "first_ts", "last_ts"):
        _say(f"  {key:12} {alert[key]}")
    _say(f"  {'agents':12} {', '.join(alert['agent_ids'][:10])}{' …' if len(alert['agent_ids']) > 10 else ''}")
    _say(f"  {'events':12} {', '.join(alert['event_ids'][:10])}{' …' if len(alert['event_ids']) > 10 else ''}")
    click.echo("history:")
    for h in alert["history"]:
        comment = h["detail"].get("comment") if isinstance(h["detail"], dict) else None
        _say(f"  {h['at']}  {h['action']:12} by {h['actor']}" + (f": {comment}" if comment else ""))
    click.echo("deliveries:")
    for d in alert["deliveries"]:
        _say(f"  {d['created_at']}  {d['receiver']:16} {d['kind']:8} {d['status']:10} "
                   f"{d['attempts']} attempt(s)" + (f"  last error: {d['last_error']}" if d["last_error"] else ""))
        for a in d["attempt_log"]:
            _say(f"      #{a['attempt']} {a['at']} {a['outcome']:9} {a['status_code'] or '':>3} {a['error'] or ''}")


def _transition_command(name: str, method: str, doc: str) -> None:
    @alerts_group.command(name, help=doc)
    @click.argument("ref")
    @database_option
    @author_option
    @click.option("--comment", default="", help="Why (kept in the history).")
    def command(ref: str, database_url: str | None, author: str, comment: str) -> None:
        t = _run(lambda: getattr(_service(database_url), method)(ref, author, comment))
        click.echo(f"{t['fingerprint']}: {t['previous']} -> {t['status']}" + ("" if t["changed"] else " (unchanged)"))


_transition_command("ack", "acknowledge",
                    "Acknowledge an alert: no more repeats or growth messages (a severity rise is still sent).")
_transition_command("resolve", "resolve", "Resolve an alert (it reopens if it fires again).")


@click.group("silences")
def silences_group() -> None:
    """Hold back notifications for matching alerts for a while."""


@silences_group.command("add")
@database_option
@click.option("--match", "matches", multiple=True, required=True, metavar="LABEL=VALUE[,VALUE]",
              help="rule, pack, category, severity, severity_min, tags or fingerprint (repeatable; all must match).")
@click.option("--duration", help="How long, e.g. 2h (or use --until).")
@click.option("--until", "until", help="End time, ISO-8601.")
@click.option("--start", help="Start time, ISO-8601 (default now).")
@author_option
@click.option("--comment", required=True, help="Why (required).")
@json_option
def silence_add(database_url: str | None, matches: tuple[str, ...], duration: str | None, until: str | None,
                start: str | None, author: str, comment: str, as_json: bool) -> None:
    """Create a silence."""
    matchers: dict[str, Any] = {}
    for m in matches:
        label, sep, value = m.partition("=")
        if not sep or not value:
            click.echo(f"error: --match wants LABEL=VALUE, got {m!r}", err=True)
            sys.exit(2)
        values = [v for v in value.split(",") if v]
        matchers[label.strip()] = values[0] if label.strip() == "severity_min" else values
    starts = _time(start) if start else time.time()
    if until:
        ends = _time(until)
    elif duration:
        try:
            ends = max(starts, time.time()) + parse_duration(duration)
        except ValueError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
    else:
        click.echo("error: give --duration or --until", err=True)
        sys.exit(2)
    s = _run(lambda: _service(database_url).silences.create(
        matchers, starts_at=starts, ends_at=ends, created_by=author, comment=comment))
    if as_json:
        _dump(s)
    else:
        click.echo(s["id"])


@silences_group.command("list")
@database_option
@click.option("--state", type=click.Choice(["active", "pending", "expired"]))
@json_option
def silence_list(database_url: str | None, state: str | None, as_json: bool) -> None:
    """List silences."""
    from flockwatch.api.service import iso
    from flockwatch.notify.matchers import Matcher

    silences = _service(database_url).silences.list(state)
    if as_json:
        _dump(silences)
        return
    for s in silences:
        _say(f"{s['id']}  {s['state']:8} until {iso(s['ends_at'])}  {Matcher(**s['matchers']).describe()}  "
                   f"by {s['created_by']}: {s['comment']}")


@silences_group.command("expire")
@click.argument("silence_id")
@database_option
@author_option
def silence_expire(silence_id: str, database_url: str | None, author: str) -> None:
    """End a silence now (it stays in the history)."""
    s = _run(lambda: _service(database_url).silences.expire(silence_id, author))
    click.echo(f"{s['id']}: {s['state']}")


def _time(value: str) -> float:
    from flockwatch.api.service import parse_utc

    try:
        return parse_utc(value).timestamp()
    except (ValueError, OverflowError):
        click.echo(f"error: not an ISO-8601 time: {value!r}", err=True)
        sys.exit(2)


def register(cli: click.Group) -> None:
    cli.add_command(alerts_group)
    cli.add_command(silences_group)
