"""Generic JSON webhook: the structured message, for your own tooling.

No markup, so nothing is escaped beyond control characters, but every agent string
is still redacted. `notification_id` is stable across retries (also sent as the
`Idempotency-Key` header) so a consumer can drop the duplicates an at-least-once
delivery may produce. Payloads stay under 256 KB: evidence is dropped first, then
alerts from the end of the list.
"""

from __future__ import annotations

import json
from typing import Any

from flockwatch.notify.receivers.base import ReceiverType, register
from flockwatch.notify.receivers.text import strip_controls
from flockwatch.notify.templates import Markup

SCHEMA_VERSION = "1"


@register
class Generic(ReceiverType):
    name = "webhook"
    markup = Markup(
        escape=strip_controls,
        bold=lambda s: s,
        italic=lambda s: s,
        link=lambda url, label: f"{label} ({url})",
    )
    title_limit = 1000
    text_limit = 60000

    def build(self, title: str, text: str, context: dict[str, Any]) -> dict[str, Any]:
        alerts = [dict(a) for a in context["alerts"]]
        payload = {
            "version": SCHEMA_VERSION,
            "notification_id": context["notification_id"],
            "receiver": context["receiver"],
            "kind": context["kind"],
            "status": context["status"],
            "group": context["group"],
            "counts": context["counts"],
            "truncated": context["truncated"],
            "title": title,
            "text": text,
            "alerts": alerts,
        }
        if _size(payload) > self.max_bytes:
            for a in alerts:
                a["evidence"] = {"dropped": "payload size limit"}
        while alerts and _size(payload) > self.max_bytes:
            alerts.pop()
            payload["truncated"] += 1
        return payload


def _size(payload: dict[str, Any]) -> int:
    return len(json.dumps(payload, ensure_ascii=False, default=str).encode())
