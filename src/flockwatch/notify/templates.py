"""Message templates: Jinja2 sandbox, strict undefined, escaping per target.

Every `{{ value }}` is passed through the receiver's escaper (Jinja's `finalize`),
so text written by agents can never become markup, a mention or a link, whatever
the template author writes. Only text flockwatch builds itself (links to the API)
is marked `Trusted` and printed as is; the `bold`, `italic` and `link` filters
produce the target's markup around escaped text. Values the rule packs and
flockwatch wrote (rule ids and titles, categories, times) are marked `Own`: escaped
too, but not rewritten as agent text is (look-alike characters in Slack, defanged
bare domains). Every value not marked is agent text.

A template that fails to render is an error you can see, never a dropped message:
the caller gets the error, counts it, logs it and sends a plain fallback message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from flockwatch.alerts.alert import Alert
from flockwatch.alerts.redact import redact, redact_data

MAX_LISTED_IDS = 10  # agent / event ids listed per alert in a message


class Trusted(str):
    """Text built by flockwatch (not by agents): printed without escaping."""


class Own(str):
    """A value flockwatch or the operator wrote (rule ids and titles, categories, times):
    escaped for the target like any value, but not rewritten as agent text is (look-alike
    characters, defanged domains). Any value not marked is treated as agent text."""


@dataclass(frozen=True)
class Markup:
    """How one target writes escaped text, emphasis and links."""

    escape: Callable[[str], str]  # agent text, and any value not marked Own
    bold: Callable[[str], str]
    italic: Callable[[str], str]
    link: Callable[[str, str], str]  # (url, already-escaped label) -> markup
    escape_own: Callable[[str], str] | None = None  # Own values; default: `escape`

    def escape_value(self, value: object) -> str:
        if isinstance(value, Trusted):
            return value
        if isinstance(value, Own) and self.escape_own is not None:
            return self.escape_own(value)
        return self.escape(str(value))


def markdown_markup(escape: Callable[[str], str], italic: str = "_",
                    escape_own: Callable[[str], str] | None = None) -> Markup:
    """Markup for the markdown chat targets: **bold**, _italic_ (or *italic*), [label](url)."""
    return Markup(escape=escape, bold=lambda s: f"**{s}**", italic=lambda s: f"{italic}{s}{italic}",
                  link=lambda url, label: f"[{label}]({url})", escape_own=escape_own)


def _format(fmt: Any, *args: Any, **kwargs: Any) -> str:
    """Jinja's `format`, keeping a result built only from Own parts Own (the default
    template's `"%s · %s"|own|format(a.category, a.rule)`); anything else is agent text."""
    text = str(fmt) % (kwargs or args)
    parts = [fmt, *args, *kwargs.values()]
    return Own(text) if all(isinstance(p, Own) or not isinstance(p, str) for p in parts) else text


def safe_url(url: str) -> str:
    # Characters that would end a link in any of our markups are percent-encoded.
    return quote(url, safe=":/?#@!$&'*+,;=%-._~")


def make_environment(markup: Markup) -> ImmutableSandboxedEnvironment:
    esc = markup.escape_value

    def finalize(value: Any) -> str:
        return esc("" if value is None else value)

    env = ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=False, finalize=finalize,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["bold"] = lambda v: Trusted(markup.bold(esc(v)))
    env.filters["italic"] = lambda v: Trusted(markup.italic(esc(v)))
    env.filters["link"] = lambda label, url: Trusted(markup.link(safe_url(str(url)), esc(label)))
    env.filters["truncate_text"] = lambda s, n=120: (s if len(str(s)) <= n else str(s)[: n - 1] + "…")
    env.filters["trusted"] = Trusted  # for operators' own constants; never for alert fields
    env.filters["own"] = Own  # the same, escaped for the target; never for alert fields
    env.filters["format"] = _format
    return env


# The default chat templates, shared by Slack, Discord, Teams and Mattermost; each
# target's filters and escaper turn them into its own markup.
DEFAULT_TITLE = (
    "[{{ status|upper }}{% if counts.firing %}:{{ counts.firing }}{% endif %}] {{ group.title }}"
    "{% if group.sequence > 1 %} (update {{ group.sequence }}){% endif %}"
)
DEFAULT_TEXT = """\
{% for a in alerts %}
{{ a.severity|upper|bold }} {{ a.title }} ({{ a.change }})
{{ a.summary }}
{{ ("%s · %s · %d events · %d agents · last %s"|own|format(a.category, a.rule, a.count, a.agent_count, a.last_ts))|italic }}{% if a.url %} · {{ "details"|link(a.url) }}{% endif %}

{% endfor %}
{% if truncated %}… and {{ truncated }} more alert(s) in this group.
{% endif %}"""


def alert_context(alert: Alert, status: str, change: str, external_url: str | None) -> dict[str, Any]:
    """What a template sees of one alert: every agent-written string redacted."""
    url = Trusted(f"{external_url.rstrip('/')}/api/v1/alerts/{alert.fingerprint}") if external_url else None
    # Own: what the rule pack or flockwatch wrote. The summary (a rule template filled
    # with agent text), agent and event ids and evidence are agent text.
    return {
        "fingerprint": Own(alert.fingerprint),
        "alert_id": Own(alert.alert_id),
        "rule": Own(alert.rule_id),
        "pack": Own(alert.pack),
        "category": Own(alert.category),
        "severity": Own(alert.severity),
        "status": Own(status),
        "change": Own(change),
        "title": Own(redact(alert.title)),
        "summary": redact(alert.summary),
        "tags": [Own(t) for t in alert.tags],
        "count": alert.count,
        "agent_count": len(alert.agent_ids),
        "agents": [redact(a) for a in alert.agent_ids[:MAX_LISTED_IDS]],
        "event_ids": [redact(e) for e in alert.event_ids[:MAX_LISTED_IDS]],
        "first_ts": Own(alert.first_ts),
        "last_ts": Own(alert.last_ts),
        "evidence": redact_data(alert.evidence),
        "url": url,
    }


def group_title(labels: dict[str, Any], alerts: list[dict[str, Any]]) -> str:
    if len(alerts) == 1:
        return alerts[0]["title"]
    shown = ", ".join(f"{k}={v}" for k, v in labels.items() if v is not None)
    return f"{len(alerts)} alerts" + (f" ({shown})" if shown else "")


def message_context(*, notification_id: str, receiver: str, kind: str, group_key: str, group_labels: dict[str, Any], sequence: int,
                    alerts: list[dict[str, Any]], max_alerts: int, external_url: str | None) -> dict[str, Any]:
    """The whole template context of one message. `alerts` are `alert_context` dicts."""
    firing = [a for a in alerts if a["status"] != "resolved"]
    resolved = [a for a in alerts if a["status"] == "resolved"]
    ordered = firing + resolved
    shown = ordered[:max_alerts]
    return {
        "notification_id": Own(notification_id),
        "receiver": Own(receiver),
        "kind": Own(kind),
        "status": Own("firing" if firing else "resolved"),
        "group": {  # the group's labels and title come from the rules (rule, pack, category, severity)
            "key": Own(group_key), "labels": {k: Own(v) if isinstance(v, str) else v for k, v in group_labels.items()},
            "sequence": sequence, "title": Own(redact(group_title(group_labels, ordered))),
        },
        "alerts": shown,
        "firing": [a for a in shown if a["status"] != "resolved"],
        "resolved": [a for a in shown if a["status"] == "resolved"],
        "counts": {
            "firing": sum(1 for a in firing if a["status"] == "firing"),
            "acknowledged": sum(1 for a in firing if a["status"] == "acknowledged"),
            "resolved": len(resolved),
            "total": len(ordered),
        },
        "truncated": len(ordered) - len(shown),
        "external_url": Trusted(external_url) if external_url else None,
    }
