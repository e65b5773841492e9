"""Redact secrets from anything flockwatch stores or sends.

An alert about a leaked key must not leak it again: to the alert store, the alerts
topic, chat notifications or an on-call phone. Every secret shape in
`flockwatch.text.secrets` is replaced by its visible prefix and a short hash:

    moltbook_sk_Ab…#3f9a12        eyJhbG…#0c4e1b        [seed phrase: 12 words]#9a0f3c

The hash (first 6 hex digits of SHA-256) lets an operator see that two alerts are
about the same secret without anyone being able to use it. `redact_data` walks
dicts and lists, so it covers alert evidence of any shape.
"""

from __future__ import annotations

import hashlib
from typing import Any

from flockwatch.text.secrets import ANY_SHAPE, SHAPE_BY_NAME, find_seed_phrases, may_hold_shape, visible_prefix


def _replace(m: Any) -> str:
    secret = m.group(0)
    return f"{visible_prefix(SHAPE_BY_NAME[m.lastgroup], secret)}…#{fingerprint(secret)}"


def fingerprint(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()[:6]


# An incident's alert is rebuilt on every event that grows it, with the same sample
# texts each time: redaction was ~8% of a worker's CPU with every pack, mostly on strings
# it had already redacted. Remembered up to MEMO_SIZE strings (cleared when full); long
# strings are rarely repeated and not worth the memory.
MEMO_SIZE = 8192
MEMO_MAX_CHARS = 2048
_memo: dict[str, str] = {}


def redact(text: str) -> str:
    """`text` with every secret replaced by prefix…#hash."""
    if not text:
        return text
    if len(text) > MEMO_MAX_CHARS:
        return _redact(text)
    out = _memo.get(text)
    if out is None:
        if len(_memo) >= MEMO_SIZE:
            _memo.clear()
        out = _memo[text] = _redact(text)
    return out


def _redact(text: str) -> str:
    if may_hold_shape(text):
        text = ANY_SHAPE.sub(_replace, text)
    runs = find_seed_phrases(text)
    for start, end, count in reversed(runs):
        phrase = text[start:end]
        text = f"{text[:start]}[seed phrase: {count} words]#{fingerprint(phrase)}{text[end:]}"
    return text


def redact_data(value: Any) -> Any:
    """Redact every string inside dicts, lists and tuples (keys included)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v) for v in value]
    return value
