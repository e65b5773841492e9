"""General monoalphabetic substitution, solved by hill climbing on quadgram fitness.

The text keeps its word boundaries (agents' ciphered posts do), so the fitness runs
over letters and spaces: quadgrams like " th" and "ing " carry most of the signal,
which is why about 80 letters are enough. The climb starts from frequency order,
tries every swap of two plaintext letters and keeps any that raises fitness, until a
full sweep finds none; a few restarts from perturbed keys escape local optima. The
best key is polished on the dictionary share of the decoded words, which is also the
acceptance test.
"""

from __future__ import annotations

import random

from flockwatch.ciphers.config import SubstitutionSettings
from flockwatch.ciphers.english import ENGLISH_LETTER_FREQ, LETTERS, EnglishModel, words_of

_LB = LETTERS.encode()
_BY_FREQUENCY = sorted(range(26), key=lambda i: -ENGLISH_LETTER_FREQ[i])


def _table(key: list[int]) -> bytes:
    """Byte translation: cipher letter i -> plaintext letter key[i]."""
    return bytes.maketrans(_LB, bytes(_LB[k] for k in key))


def _score(norm: bytes, key: list[int], model: EnglishModel) -> float:
    return model.fitness_normalised(norm.translate(_table(key)))


def _climb(norm: bytes, key: list[int], active: list[int], model: EnglishModel, max_sweeps: int) -> tuple[float, list[int]]:
    best = _score(norm, key, model)
    for _ in range(max_sweeps):
        improved = False
        for a in active:
            for b in range(26):
                if b == a:
                    continue
                key[a], key[b] = key[b], key[a]
                s = _score(norm, key, model)
                if s > best:
                    best, improved = s, True
                else:
                    key[a], key[b] = key[b], key[a]
        if not improved:
            break
    return best, key


def solve(encoded: str, model: EnglishModel, cfg: SubstitutionSettings) -> tuple[str, str, float, float]:
    """Returns (key, plaintext, dictionary share of the plaintext, fitness). The key is
    written as the plaintext letters for cipher letters a..z ("?" for unused ones)."""
    words = [w for w in words_of(encoded) if w.isalpha()]
    norm = b" " + b" ".join(words) + b" "
    counts = [norm.count(c) for c in _LB]
    active = [i for i in range(26) if counts[i]]
    by_count = sorted(range(26), key=lambda i: -counts[i])
    start = [0] * 26
    for cipher_letter, plain_letter in zip(by_count, _BY_FREQUENCY):
        start[cipher_letter] = plain_letter
    rng = random.Random(cfg.seed)
    best_fit, best_key = float("-inf"), start
    for attempt in range(cfg.restarts):
        key = list(start)
        if attempt:
            for _ in range(3 + attempt):
                i, j = rng.sample(active, 2) if len(active) > 1 else (0, 1)
                key[i], key[j] = key[j], key[i]
        fit, key = _climb(norm, key, active, model, cfg.max_sweeps)
        if fit > best_fit:
            best_fit, best_key = fit, list(key)
    best_key = _polish(words, best_key, active, model)
    table = _table(best_key)
    ratio = model.word_ratio(b" ".join(words).translate(table).split())
    plaintext = decode(encoded, best_key)
    key_text = "".join(LETTERS[best_key[i]] if counts[i] else "?" for i in range(26))
    return key_text, plaintext, ratio, model.fitness(plaintext)


def _polish(words: list[bytes], key: list[int], active: list[int], model: EnglishModel) -> list[int]:
    """Swap letters while that raises the dictionary share (fixes rare letters that
    quadgrams cannot place, like j/q/x/z)."""
    joined = b" ".join(words)

    def share(k: list[int]) -> float:
        return model.word_ratio(joined.translate(_table(k)).split())

    best = share(key)
    improved = True
    while improved:
        improved = False
        for a in active:
            for b in range(26):
                if b == a:
                    continue
                key[a], key[b] = key[b], key[a]
                s = share(key)
                if s > best:
                    best, improved = s, True
                else:
                    key[a], key[b] = key[b], key[a]
    return key


def decode(text: str, key: list[int]) -> str:
    plain = "".join(LETTERS[k] for k in key)
    return text.translate(str.maketrans(LETTERS + LETTERS.upper(), plain + plain.upper()))


def encode(text: str, alphabet: str) -> str:
    """Encipher with `alphabet` = the cipher letters for plaintext a..z (for tests and
    the evaluation)."""
    return text.translate(str.maketrans(LETTERS + LETTERS.upper(), alphabet + alphabet.upper()))
