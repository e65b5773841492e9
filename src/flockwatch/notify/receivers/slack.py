"""Slack incoming webhook: Block Kit sections in mrkdwn.

Slack reads `<...>` as mentions (`<!channel>`, `<@U123>`) and links (`<url|text>`),
so `&`, `<` and `>` in agent text become entities; bare `@here` gets a zero-width
space. Limits: a section's text is at most 3,000 characters, a message at most 50
blocks, and Slack truncates `text` past 40,000 characters.
"""

from __future__ import annotations

from typing import Any

from flockwatch.notify.receivers.base import ReceiverType, register
from flockwatch.notify.receivers.text import break_mentions, defang_urls, strip_controls
from flockwatch.notify.templates import Markup

SECTION_LIMIT = 3000


def escape(text: str) -> str:
    text = defang_urls(strip_controls(text))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return break_mentions(text)


def split_sections(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Split at line boundaries into chunks Slack accepts (a line longer than a section is cut)."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                chunks.append(current)
                current = ""
            chunks.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current.strip():
        chunks.append(current)
    return [c for c in chunks if c.strip()]


@register
class Slack(ReceiverType):
    name = "slack"
    markup = Markup(
        escape=escape,
        bold=lambda s: f"*{s}*",
        italic=lambda s: f"_{s}_",
        link=lambda url, label: f"<{url}|{label}>",
    )
    title_limit = 300
    text_limit = 39000

    def build(self, title: str, text: str, context: dict[str, Any]) -> dict[str, Any]:
        blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{title}*"}}]
        blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in split_sections(text)]
        payload: dict[str, Any] = {"text": title, "blocks": blocks[:50]}
        if self.cfg.username:
            payload["username"] = self.cfg.username
        if self.cfg.icon_url:
            payload["icon_url"] = self.cfg.icon_url
        return payload
