"""Reversed text: the whole string backwards, or each word backwards in place."""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\S+")
# Signs that a string reads forwards: punctuation after a word, capitals starting
# sentences. Letters alone cannot tell "olleh dlrow" (words reversed) from the text
# reversed, but punctuation and capitals can.
_FORWARD = re.compile(r"[^\W\d_][,.!?;:](?:\s|$)|(?:^|[.!?]\s+)[A-Z]")


def reverse_text(text: str) -> str:
    return text[::-1]


def reverse_words(text: str) -> str:
    """Each whitespace-separated token backwards, in place ("olleh ,dlrow")."""
    return _TOKEN.sub(lambda m: m.group()[::-1], text)


def orientation(text: str) -> int:
    """How many forward-reading marks `text` has (see `_FORWARD`)."""
    return len(_FORWARD.findall(text))
