"""Secret redaction for notification text.

Alerts quote what agents wrote, and agents paste credentials. Nothing that looks
like a secret leaves flockwatch in a chat message. This is the minimal set of
obvious shapes; the project-wide `flockwatch.alerts.redact.redact` (a separate
change) should replace `redact` here once it is merged.
"""

from __future__ import annotations

import re
from typing import Any

_SECRET_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("moltbook_key", re.compile(r"\bmoltbook_(?:sk_)?[A-Za-z0-9_\-]{16,}")),
    ("openai_key", re.compile(r"\bsk-(?:proj-|ant-)?[A-Za-z0-9_\-]{20,}")),
    ("aws_access_key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("github_token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})")),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")),
)


def redact(text: str) -> str:
    for kind, pattern in _SECRET_SHAPES:
        if pattern.search(text):
            text = pattern.sub(f"[REDACTED:{kind}]", text)
    return text


def redact_deep(value: Any) -> Any:
    """Redact every string inside nested dicts/lists (alert evidence, summaries)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): redact_deep(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_deep(v) for v in value]
    return value
