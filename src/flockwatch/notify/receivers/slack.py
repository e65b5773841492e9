"""Slack incoming webhook: Block Kit sections in mrkdwn.

Slack reads `<...>` as mentions (`<!channel>`, `<@U123>`) and links (`<url|text>`),
so `&`, `<` and `>` in every value become entities; bare `@here` gets a zero-width
space. mrkdwn has no escape character, so in agent text a formatting character that
could format (`*bold*`, `_italic_`, `~struck~`, a backtick; not one between two letters
or digits, as in `snake_case`, which Slack never formats) becomes a look-alike (`∗ ˍ ∼ ˋ`),
a `>` starting a line (a quote) gets an invisible soft hyphen before it, and bare
domains are defanged (`evil[.]com`). Limits: a section's text is at most 3,000 characters, a message at most 50
blocks, and Slack truncates `text` past 40,000 characters.
"""

from __future__ import annotations

import re
from typing import Any

from flockwatch.notify.receivers.base import ReceiverType, register
from flockwatch.notify.receivers.text import break_mentions, defang_hosts, defang_urls, strip_controls
from flockwatch.notify.templates import Markup

SECTION_LIMIT = 3000

# The look-alikes the jsx-slack library's <Escape> uses, for the markers and their fullwidth forms.
_LOOK_ALIKE = {"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb",
               "\uff0a": "\ufe61", "\uff3f": "\u2e0f", "\uff40": "\u02cb"}
_MARKER = re.compile(r"[`\uff0a\uff3f\uff40]|(?<![^\W_])[*_~]|[*_~](?![^\W_])")
_QUOTE = re.compile(r"(?m)^(\s*)&gt;")


def _entities(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_own(text: str) -> str:
    """Our own values (rule ids and titles, categories): entities and mentions only."""
    return break_mentions(_entities(defang_urls(strip_controls(text))))


def escape(text: str) -> str:
    """Agent text: shown as written, formatting nothing, linking nothing, pinging nobody."""
    text = _entities(defang_hosts(defang_urls(strip_controls(text))))
    text = _QUOTE.sub("\\1\u00ad&gt;", _MARKER.sub(lambda m: _LOOK_ALIKE[m.group(0)], text))
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
        escape_own=escape_own,
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
