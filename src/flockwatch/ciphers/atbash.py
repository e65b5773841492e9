"""Atbash: a<->z, b<->y, ... Its own inverse."""

from __future__ import annotations

from flockwatch.ciphers.english import LETTERS

TABLE = str.maketrans(LETTERS + LETTERS.upper(), LETTERS[::-1] + LETTERS[::-1].upper())


def decode(text: str) -> str:
    return text.translate(TABLE)


encode = decode


def counts_as_atbash(counts: list[int]) -> list[int]:
    """Letter histogram of the Atbash decoding of a text with histogram `counts`."""
    return counts[::-1]
