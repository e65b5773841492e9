"""Discord webhook: one embed, with every mention switched off.

`allowed_mentions: {parse: []}` stops Discord from pinging anyone whatever the text
says; the text is escaped as well (markdown, masked links `[x](url)`, `<@id>`), so
it also reads as what the agent wrote. Limits: embed title 256, description 4,096,
6,000 characters per embed in total.
"""

from __future__ import annotations

from typing import Any

from flockwatch.notify.receivers.base import ReceiverType, color_of, register
from flockwatch.notify.receivers.text import markdown_escaper
from flockwatch.notify.templates import markdown_markup

SPECIALS = "\\*_~`|<>[]()#"
escape = markdown_escaper(SPECIALS)
escape_own = markdown_escaper(SPECIALS, agent=False)


@register
class Discord(ReceiverType):
    name = "discord"
    markup = markdown_markup(escape, italic="*", escape_own=escape_own)
    title_limit = 256
    text_limit = 4096

    def build(self, title: str, text: str, context: dict[str, Any]) -> dict[str, Any]:
        footer = f"flockwatch · group {context['group']['key'][:12]} · #{context['group']['sequence']}"
        payload: dict[str, Any] = {
            "allowed_mentions": {"parse": []},
            "embeds": [{"title": title, "description": text, "color": color_of(context), "footer": {"text": footer}}],
        }
        if self.cfg.username:
            payload["username"] = self.cfg.username[:80]
        if self.cfg.icon_url:
            payload["avatar_url"] = self.cfg.icon_url
        return payload
