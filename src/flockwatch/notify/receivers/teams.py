"""Microsoft Teams (Workflows / Power Automate webhook): an Adaptive Card.

Adaptive Card TextBlocks read a CommonMark subset (bold, italic, lists, `[t](url)`)
and expand `{{DATE(...)}}` functions; `<at>` tags are mentions. Agent text gets
backslash escapes, a broken `{{` and a broken `<at>`. Teams rejects messages over
about 28 KB, so the card is kept under 24 KB.
"""

from __future__ import annotations

import json
from typing import Any

from flockwatch.notify.receivers.base import ReceiverType, register
from flockwatch.notify.receivers.text import ZWSP, markdown_escaper, truncate
from flockwatch.notify.templates import markdown_markup

CARD_BYTES = 24 * 1024

SPECIALS = "\\*_~`[]()>#"


def _break_tags_and_functions(text: str) -> str:
    return text.replace("<", "<" + ZWSP).replace("{{", "{" + ZWSP + "{")  # <at> mentions, {{DATE()}}


escape = markdown_escaper(SPECIALS, extra=_break_tags_and_functions)
escape_own = markdown_escaper(SPECIALS, extra=_break_tags_and_functions, agent=False)


@register
class Teams(ReceiverType):
    name = "teams"
    markup = markdown_markup(escape, escape_own=escape_own)
    title_limit = 400
    text_limit = 20000

    def build(self, title: str, text: str, context: dict[str, Any]) -> dict[str, Any]:
        body: list[dict[str, Any]] = [{"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True}]
        # One TextBlock per line: single newlines are not line breaks in card markdown.
        size = len(json.dumps(body, ensure_ascii=False).encode())
        for line in (line for line in text.split("\n") if line.strip()):
            block = {"type": "TextBlock", "text": line, "wrap": True, "spacing": "Small"}
            block_size = len(json.dumps(block, ensure_ascii=False).encode()) + 1
            if size + block_size > CARD_BYTES:
                room = (CARD_BYTES - size - 100) // 4  # characters that fit even if each takes 4 bytes
                if room > 80:
                    body.append({**block, "text": truncate(line, room, marker="…")})
                body.append({"type": "TextBlock", "text": "…", "wrap": True})
                break
            size += block_size
            body.append(block)
        card = {
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard", "version": "1.4", "body": body, "msteams": {"width": "Full"},
        }
        return {
            "type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}],
        }
