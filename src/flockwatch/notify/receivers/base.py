"""The receiver base class: compile the receiver's templates once, render a message
(with a visible fallback when the template fails), enforce size limits, build the
payload."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

import jinja2

from flockwatch.notify.config import NotifyConfigError, ReceiverConfig
from flockwatch.notify.receivers.text import truncate
from flockwatch.notify.templates import DEFAULT_TEXT, DEFAULT_TITLE, Markup, make_environment

log = logging.getLogger(__name__)

RECEIVER_TYPES: dict[str, type[ReceiverType]] = {}

SEVERITY_COLORS = {
    "info": 0x9E9E9E, "low": 0x2196F3, "medium": 0xFFC107, "high": 0xFF7043, "critical": 0xD50000,
}
RESOLVED_COLOR = 0x2E7D32
MAX_TEMPLATE_ERROR = 300


def register(cls: type[ReceiverType]) -> type[ReceiverType]:
    if cls.name in RECEIVER_TYPES:
        raise ValueError(f"receiver type {cls.name!r} registered twice")
    RECEIVER_TYPES[cls.name] = cls
    return cls


@dataclass(frozen=True)
class Rendered:
    payload: dict[str, Any]
    template_error: str | None = None

    def body(self) -> bytes:
        return json.dumps(self.payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def color_of(context: dict[str, Any]) -> int:
    if context["status"] == "resolved":
        return RESOLVED_COLOR
    worst = max((a["severity"] for a in context["alerts"]), key=list(SEVERITY_COLORS).index, default="info")
    return SEVERITY_COLORS.get(worst, SEVERITY_COLORS["info"])


class ReceiverType:
    name: ClassVar[str]
    markup: ClassVar[Markup]
    title_limit: ClassVar[int]
    text_limit: ClassVar[int]
    max_bytes: ClassVar[int] = 256 * 1024

    def __init__(self, cfg: ReceiverConfig):
        self.cfg = cfg
        env = make_environment(self.markup)
        try:
            self.title_template = env.from_string(cfg.template.title or DEFAULT_TITLE)
            self.text_template = env.from_string(cfg.template.text or DEFAULT_TEXT)
        except jinja2.TemplateSyntaxError as exc:
            raise NotifyConfigError(f"receiver {cfg.name!r}: template syntax error line {exc.lineno}: {exc.message}") from None
        # Load what the escaper loads lazily (the TLD list, ~0.1 s of pure Python) now, at
        # startup: inside a dispatcher pass it would hold the GIL while requests are in flight.
        self.markup.escape("flockwatch.example.com")

    def render(self, context: dict[str, Any]) -> Rendered:
        error = None
        try:
            title = self.title_template.render(context).strip()
            text = self.text_template.render(context).strip()
        except Exception as exc:  # noqa: BLE001 - any template failure must be visible, never a lost message
            error = f"{type(exc).__name__}: {exc}"[:MAX_TEMPLATE_ERROR]
            log.error("receiver %s: template failed, sending the plain fallback: %s", self.cfg.name, error)
            title, text = self.fallback(context, error)
        title = truncate(title.replace("\n", " "), self.title_limit, marker="…")
        text = truncate(text, self.text_limit)
        return Rendered(self.build(title, text, context), error)

    def fallback(self, context: dict[str, Any], error: str) -> tuple[str, str]:
        """A plain message from the same data, escaped the same way: sent when the template fails."""
        esc = self.markup.escape_value  # Own values (rule title, rule id) stay as written
        counts = context["counts"]
        title = f"[{context['status'].upper()}] {esc(context['group']['title'])}"
        lines = [
            f"{esc(a['severity'].upper())} {esc(a['title'])} ({esc(a['rule'])}, {a['count']} events, {esc(a['status'])})"
            for a in context["alerts"]
        ]
        if context["truncated"]:
            lines.append(f"… and {context['truncated']} more")
        lines.append(f"({counts['total']} alerts; the receiver template failed: {esc(error)})")
        return title, "\n".join(lines)

    def build(self, title: str, text: str, context: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError
