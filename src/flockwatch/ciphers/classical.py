"""Judge the keyless-or-tiny-key ciphers on a run of words: every Caesar shift (ROT13
included), Atbash and reversal. Each is tried on the run's words as ASCII bytes (one C
`translate` per candidate) and scored by the dictionary share of the result; the
winner must beat the text as written. The caller then checks quadgram fitness on the
decoded characters before believing it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

from flockwatch.ciphers import atbash, caesar, reversal
from flockwatch.ciphers.english import LETTERS, EnglishModel

_LB = LETTERS.encode()
_CAESAR_BYTES = tuple(bytes.maketrans(_LB, (_LB[-k:] + _LB[:-k]) if k else _LB) for k in range(26))
_ATBASH_BYTES = bytes.maketrans(_LB, _LB[::-1])
_FRONT_RUNNERS = 3  # candidates scored in full after the quick ranking
_MIN_RANK_SHARE = 0.3  # of the run's distinct unknown words the best candidate must turn English



@dataclass(frozen=True)
class Verdict:
    cipher: str  # rot13 | caesar | atbash | reversed
    key: int | str | None
    base_ratio: float  # dictionary share of the words as written
    ratio: float  # ... after decoding
    first: int  # the words (indexes into the judged list) the verdict covers, after
    last: int  # trimming edge words that are no English either way (names, jargon)


def _trimmed_ratio(before: list[bool], after: list[bool], sizes: list[int]) -> tuple[float, float, int, int, int]:
    """Dictionary shares before and after decoding, over the words left when edge words
    that are no English either way are dropped (a name or a rare word next to the
    ciphertext must not dilute it), and the letters gained."""
    a, b = 0, len(sizes) - 1
    while a < b and not before[a] and not after[a]:
        a += 1
    while b > a and not before[b] and not after[b]:
        b -= 1
    total = sum(sizes[a : b + 1]) or 1
    hit_before = sum(n for n, h in zip(sizes[a : b + 1], before[a : b + 1]) if h)
    hit_after = sum(n for n, h in zip(sizes[a : b + 1], after[a : b + 1]) if h)
    return hit_before / total, hit_after / total, a, b, hit_after - hit_before


ShiftClasses = dict[bytes, list[int]]


def shift_classes(vocab: frozenset[bytes]) -> ShiftClasses:
    """The word list by Caesar shift class: each lower-case word shifted to start with
    "a" -> the first letters (0-25) of the words that shift to it. Words that are
    shifts of each other share the key, so one translate and one look-up per unknown
    word give every shift that turns it into a listed word. Built once per scanner."""
    by_first: list[list[bytes]] = [[] for _ in range(26)]
    for w in vocab:
        if w.isalpha() and w.islower():
            by_first[w[0] - 97].append(w)
    classes: ShiftClasses = {}
    for g, words in enumerate(by_first):
        for key in b" ".join(words).translate(_CAESAR_BYTES[g]).split():
            shifts = classes.get(key)
            if shifts is None:
                classes[key] = [g]
            else:
                shifts.append(g)
    return classes


def _caesar_hits(unknown: list[bytes], classes: ShiftClasses) -> list[int]:
    """For shifts 0-25: how many of the distinct lower-case words `unknown` decode to
    a listed word (what a translate, split and set intersection per shift counts)."""
    hits = [0] * 26
    for w in unknown:
        f = w[0] - 97
        for g in classes.get(w.translate(_CAESAR_BYTES[f]), ()):
            hits[(f - g) % 26] += 1
    return hits


@cache
def _candidates(decoders: frozenset[str]) -> tuple[tuple[str, int | str | None, bytes | None], ...]:
    """(cipher, key, byte table; None for reversal) of every enabled keyless cipher."""
    ranked: list[tuple[str, int | str | None, bytes | None]] = []
    if "caesar" in decoders:
        ranked.extend((caesar.cipher_name(k), k, _CAESAR_BYTES[k]) for k in range(1, 26))
    if "atbash" in decoders:
        ranked.append(("atbash", None, _ATBASH_BYTES))
    if "reversed" in decoders:
        ranked.append(("reversed", None, None))
    return tuple(ranked)


def judge(words: Sequence[bytes], model: EnglishModel, decoders: frozenset[str],
          classes: ShiftClasses | None = None) -> Verdict | None:
    """The most English decoding of `words` among the enabled keyless ciphers, or None
    when none beats the words as written. Indexes in the verdict refer to `words`.
    `classes`, `shift_classes(model.vocab)`, makes ranking the Caesar shifts cheap."""
    index = [i for i, w in enumerate(words) if len(w) >= 2 and w.isalpha()]
    if not index:
        return None
    alpha = [words[i] for i in index]
    vocab = model.vocab
    sizes = [len(w) for w in alpha]
    before = [w in vocab for w in alpha]
    quick = model.word_ratio
    base = quick(alpha)
    # Rank the candidates in C on the run's distinct unknown words (how many become
    # English), give up early when none does for a fair share of them, and score only
    # the front runners word by word.
    unknown = list({w for w in alpha if w not in vocab})
    if not unknown:
        return None
    joined = b" ".join(unknown)
    ranked = _candidates(decoders)
    # The words are alphabetic; folded to lower case (as the scanner's are), every
    # Caesar shift is counted at once.
    by_shift = _caesar_hits(unknown, classes) if classes is not None and joined.islower() else None
    hits = [
        by_shift[key] if by_shift is not None and cipher in ("rot13", "caesar") and isinstance(key, int)
        else len(vocab.intersection(joined.translate(table).split() if table else [w[::-1] for w in unknown]))
        for cipher, key, table in ranked
    ]
    if max(hits, default=0) < max(2, _MIN_RANK_SHARE * len(unknown)):
        return None
    best: Verdict | None = None
    best_gain = 0
    for i in sorted(range(len(ranked)), key=lambda i: -hits[i])[:_FRONT_RUNNERS]:
        cipher, key, table = ranked[i]
        decoded = b" ".join(alpha).translate(table).split() if table else [w[::-1] for w in alpha]
        if quick(decoded) <= base:
            continue  # cheap reject before the per-word trimming
        after = [w in vocab for w in decoded]
        r0, r1, a, b, gain = _trimmed_ratio(before, after, sizes)
        if gain > best_gain:  # most letters turned into English wins
            best_gain, best = gain, Verdict(cipher, key, r0, r1, index[a], index[b])
    return best


def word_decoder(verdict: Verdict) -> Callable[[bytes], bytes]:
    """Decode one folded word the way the verdict says."""
    if verdict.cipher in ("rot13", "caesar"):
        assert isinstance(verdict.key, int)
        table = _CAESAR_BYTES[verdict.key]
        return lambda w: w.translate(table)
    if verdict.cipher == "atbash":
        return lambda w: w.translate(_ATBASH_BYTES)
    return lambda w: w[::-1]


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
