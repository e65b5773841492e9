"""Judge the keyless-or-tiny-key ciphers on a run of words: every Caesar shift (ROT13
included), Atbash and reversal. Each is tried on the run's words as ASCII bytes (one C
`translate` per candidate) and scored by the dictionary share of the result; the
winner must beat the text as written. The caller then checks quadgram fitness on the
decoded characters before believing it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flockwatch.ciphers import atbash, caesar, reversal
from flockwatch.ciphers.english import LETTERS, EnglishModel

_LB = LETTERS.encode()
_CAESAR_BYTES = tuple(bytes.maketrans(_LB, (_LB[-k:] + _LB[:-k]) if k else _LB) for k in range(26))
_ATBASH_BYTES = bytes.maketrans(_LB, _LB[::-1])


@dataclass(frozen=True)
class Verdict:
    cipher: str  # rot13 | caesar | atbash | reversed
    key: int | str | None
    base_ratio: float  # dictionary share of the words as written
    ratio: float  # ... after decoding


def judge(words: Sequence[bytes], model: EnglishModel, decoders: frozenset[str]) -> Verdict | None:
    """The most English decoding of `words` among the enabled keyless ciphers, or None
    when none beats the words as written."""
    alpha = [w for w in words if len(w) >= 2 and w.isalpha()]
    if not alpha:
        return None
    ratio = model.word_ratio
    base = ratio(alpha)
    best: Verdict | None = None
    joined = b" ".join(alpha)
    if "caesar" in decoders:
        for k in range(1, 26):
            r = ratio(joined.translate(_CAESAR_BYTES[k]).split())
            if r > base and (best is None or r > best.ratio):
                best = Verdict(caesar.cipher_name(k), k, base, r)
    if "atbash" in decoders:
        r = ratio(joined.translate(_ATBASH_BYTES).split())
        if r > base and (best is None or r > best.ratio):
            best = Verdict("atbash", None, base, r)
    if "reversed" in decoders:
        r = ratio([w[::-1] for w in alpha])
        if r > base and (best is None or r > best.ratio):
            best = Verdict("reversed", None, base, r)
    return best


def decode(text: str, verdict: Verdict, model: EnglishModel) -> tuple[str, int | str | None]:
    """Decode the characters of `text` as the verdict says; returns (plaintext, key).
    For reversal the key says which kind won on quadgram fitness: "text" (the whole
    string backwards) or "words" (each word backwards, order kept)."""
    if verdict.cipher in ("rot13", "caesar"):
        assert isinstance(verdict.key, int)
        return caesar.decode(text, verdict.key), verdict.key
    if verdict.cipher == "atbash":
        return atbash.decode(text), None
    whole, per_word = reversal.reverse_text(text), reversal.reverse_words(text)
    if reversal.orientation(per_word) > reversal.orientation(whole):
        return per_word, "words"
    return whole, "text"
