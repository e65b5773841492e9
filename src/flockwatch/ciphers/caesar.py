"""Caesar shifts (ROT13 is shift 13). A text enciphered with shift k is decoded by
shifting back by k; ranking the 26 shifts by chi-squared against English letter
frequencies needs only the text's letter histogram."""

from __future__ import annotations

from collections.abc import Sequence

from flockwatch.ciphers.english import LETTERS, chi_squared

_UPPER = LETTERS.upper()


def _decode_table(shift: int) -> dict[int, int]:
    plain_lower = LETTERS[-shift:] + LETTERS[:-shift] if shift else LETTERS
    return str.maketrans(LETTERS + _UPPER, plain_lower + plain_lower.upper())


DECODE_TABLES: tuple[dict[int, int], ...] = tuple(_decode_table(k) for k in range(26))


def decode(text: str, shift: int) -> str:
    """Undo a Caesar shift of `shift` (the shift the sender applied)."""
    return text.translate(DECODE_TABLES[shift % 26])


def encode(text: str, shift: int) -> str:
    return text.translate(DECODE_TABLES[(-shift) % 26])


def rank_shifts(counts: Sequence[int]) -> list[int]:
    """All 26 shifts, most English-like decoding first."""
    return sorted(range(26), key=lambda k: chi_squared(counts, k))


def cipher_name(shift: int) -> str:
    return "rot13" if shift == 13 else "caesar"
