"""Vigenère-like polyalphabetic text. Its letters are flatter than English (index of
coincidence near 0.045 rather than 0.066); split by the right period, each column is
a plain Caesar shift again. Candidate periods are those whose columns' mean index of
coincidence looks English (the best few are solved, the fittest wins); each column's shift is the best chi-squared one, then each
key letter is refined on quadgram fitness of the whole decoding."""

from __future__ import annotations

from flockwatch.ciphers.config import VigenereSettings
from flockwatch.ciphers.english import LETTERS, EnglishModel, chi_squared, index_of_coincidence, words_of


_SOLVE_CHARS = 600  # characters the key is solved on; the whole text is then decoded


def _letters(text: str) -> list[int]:
    return [ord(c) - 97 for c in text.lower() if "a" <= c <= "z"]


def _column_counts(seq: list[int], period: int, col: int) -> list[int]:
    counts = [0] * 26
    for x in seq[col::period]:
        counts[x] += 1
    return counts


def candidate_periods(seq: list[int], cfg: VigenereSettings, limit: int = 3) -> list[int]:
    """Key lengths worth solving, smallest first: the few periods whose columns' mean
    index of coincidence is highest and looks English enough. Multiples of the true period qualify too, and a divisor
    can by chance (key "secret" has two e's three apart), so a few are tried."""
    means = {}
    for p in range(2, cfg.max_period + 1):
        if len(seq) // p < 8:
            break
        means[p] = sum(index_of_coincidence(_column_counts(seq, p, c)) for c in range(p)) / p
    best = sorted((p for p in means if means[p] >= cfg.min_period_ioc), key=lambda p: -means[p])
    return sorted(best[:limit])


def decode(text: str, key: list[int]) -> str:
    out, i, p = [], 0, len(key)
    for ch in text:
        o = ord(ch)
        if 97 <= o <= 122:
            out.append(chr((o - 97 - key[i % p]) % 26 + 97))
            i += 1
        elif 65 <= o <= 90:
            out.append(chr((o - 65 - key[i % p]) % 26 + 65))
            i += 1
        else:
            out.append(ch)
    return "".join(out)


def encode(text: str, key: str) -> str:
    return decode(text, [(-(ord(c) - 97)) % 26 for c in key.lower()])


def _solve_period(encoded: str, seq: list[int], period: int, model: EnglishModel) -> tuple[list[int], float]:
    key = [min(range(26), key=lambda k: chi_squared(_column_counts(seq, period, c), k)) for c in range(period)]
    best = model.fitness(decode(encoded, key))
    for _ in range(2):  # refine each key letter with the others fixed
        for c in range(period):
            for k in range(26):
                trial = key[:c] + [k] + key[c + 1 :]
                f = model.fitness(decode(encoded, trial))
                if f > best:
                    best, key = f, trial
    return key, best


def solve(encoded: str, model: EnglishModel, cfg: VigenereSettings) -> tuple[str, str, float] | None:
    """(key word, plaintext, dictionary share) when a period and key make the text
    English enough, else None."""
    sample = encoded[:_SOLVE_CHARS]  # enough to find the key; bounds the cost on long text
    seq = _letters(sample)
    best: tuple[float, list[int]] | None = None
    for period in candidate_periods(seq, cfg):
        key, fit = _solve_period(sample, seq, period, model)
        if best is None or fit > best[0] + 0.05:  # a multiple must do clearly better
            best = (fit, key)
    if best is None:
        return None
    key = best[1]
    plaintext = decode(encoded, key)
    ratio = model.word_ratio([w for w in words_of(plaintext) if w.isalpha()])
    if ratio < cfg.accept_word_ratio:
        return None
    return "".join(LETTERS[k] for k in key), plaintext, ratio
