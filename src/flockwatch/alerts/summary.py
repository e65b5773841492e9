"""Alert summaries rendered from rule-author templates.

Templates are agent-facing data paths: the text they interpolate was written by
agents. They render in Jinja2's sandbox with StrictUndefined, compiled once per rule;
a render failure never drops the alert: it falls back to the rule title and says so.
"""

from __future__ import annotations

import logging
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

log = logging.getLogger(__name__)

_ENV = SandboxedEnvironment(
    undefined=jinja2.StrictUndefined,
    autoescape=False,  # summaries are plain text; each notifier escapes for its target
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["truncate_text"] = lambda s, n=120: (s if len(str(s)) <= n else str(s)[: n - 1] + "…")

MAX_SUMMARY = 500
# What the engine renders a summary with (`Engine._alert`).
CONTEXT_NAMES = frozenset({"event", "rule", "evidence", "finding"})


class SummaryTemplate:
    def __init__(self, source: str):
        self.source = source
        self.template = _ENV.from_string(source)  # raises TemplateSyntaxError at load time

    def unknown_names(self) -> list[str]:
        """Top-level names the template reads that no render can define (a misspelt
        `evnt`): with StrictUndefined every alert's summary would fail on them."""
        used = meta.find_undeclared_variables(_ENV.parse(self.source))
        return sorted(used - CONTEXT_NAMES - set(_ENV.globals))

    def render(self, context: dict[str, Any]) -> tuple[str, str | None]:
        """Return (summary, error). On error the summary is a plain fallback."""
        try:
            text = self.template.render(context).strip()
        except Exception as exc:  # noqa: BLE001 - any template failure must be visible, not fatal
            rule = context.get("rule", {})
            title = rule.get("title", "alert") if isinstance(rule, dict) else "alert"
            log.warning("summary template failed for %s: %s", rule, exc)
            return f"{title} (summary template failed: {type(exc).__name__}: {exc})"[:MAX_SUMMARY], str(exc)
        return text[:MAX_SUMMARY], None
