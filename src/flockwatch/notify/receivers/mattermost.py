"""Mattermost incoming webhook: one markdown post.

Mattermost mentions are `@name`, `@here`, `@channel`, `@all` and channel links are
`~name`; agent text gets a zero-width space after `@` and backslash escapes for
markdown (including `~`). A post holds at most 16,383 characters.
"""

from __future__ import annotations

from typing import Any

from flockwatch.notify.receivers.base import ReceiverType, register
from flockwatch.notify.receivers.text import markdown_escaper
from flockwatch.notify.templates import markdown_markup

SPECIALS = "\\*_~`[]()<>#|!"
escape = markdown_escaper(SPECIALS)
escape_own = markdown_escaper(SPECIALS, agent=False)


@register
class Mattermost(ReceiverType):
    name = "mattermost"
    markup = markdown_markup(escape, escape_own=escape_own)
    title_limit = 300
    text_limit = 16000

    def build(self, title: str, text: str, context: dict[str, Any]) -> dict[str, Any]:
        payload: dict[str, Any] = {"text": f"#### {title}\n{text}"}
        for key in ("username", "icon_url", "channel"):
            value = getattr(self.cfg, key)
            if value:
                payload[key] = value
        return payload
