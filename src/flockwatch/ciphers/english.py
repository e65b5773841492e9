"""How English a piece of text is: the statistics every cipher detector scores with.

Three tables, loaded once:

- letter frequencies: the well-known published English table (Lewand, "Cryptological
  Mathematics", 2000), used for chi-squared tests over Caesar shifts;
- quadgram log-probabilities over a-z plus space (so word boundaries count), from a
  public-domain text (data/english_quadgrams.tsv, built by
  scripts/build_cipher_tables.py);
- an English word list (SCOWL, data/english_words.txt, same script).

Words are handled as ASCII bytes (`words_of`): folding, splitting and set look-ups then
run in C, which is what keeps the common case (plain English) cheap.

`fitness` (mean log10 quadgram probability per character) and `word_ratio`
(letter-weighted share of dictionary words) are the two yardsticks: a decoding is
believed only when it makes the text markedly more English by both.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

LETTERS = "abcdefghijklmnopqrstuvwxyz"

# Relative frequency of each letter in English text, a..z (percent).
ENGLISH_LETTER_PERCENT: tuple[float, ...] = (
    8.167, 1.492, 2.782, 4.253, 12.702, 2.228, 2.015, 6.094, 6.966, 0.153, 0.772, 4.025,
    2.406, 6.749, 7.507, 1.929, 0.095, 5.987, 6.327, 9.056, 2.758, 0.978, 2.360, 0.150,
    1.974, 0.074,
)
ENGLISH_LETTER_FREQ: tuple[float, ...] = tuple(p / sum(ENGLISH_LETTER_PERCENT) for p in ENGLISH_LETTER_PERCENT)
# Index of coincidence of English letters (about 0.066) and of uniform random letters.
ENGLISH_IOC = sum(f * f for f in ENGLISH_LETTER_FREQ)
RANDOM_IOC = 1 / 26

# ASCII folding used everywhere words are compared with the word list: A-Z to a-z,
# digits to "0" (so a token with a digit is never a word), every other byte (punctuation,
# and each byte of a non-ASCII character) to a space. Working on bytes keeps this in C.
_FOLD = bytes(
    c + 32 if 65 <= c <= 90 else c if 97 <= c <= 122 else 48 if 48 <= c <= 57 else 32
    for c in range(256)
)


def words_of(text: str) -> list[bytes]:
    """The text's words, lower-cased ASCII, as bytes (tokens with digits included)."""
    return text.encode("utf-8", "replace").translate(_FOLD).split()


def words_of_utf8(raw: bytes) -> list[bytes]:
    """`words_of` for text already encoded (`text.encode("utf-8", "replace")`)."""
    return raw.translate(_FOLD).split()


@dataclass(frozen=True)
class EnglishModel:
    quadgrams: dict[bytes, float]  # log10 probability of each seen quadgram
    floor: float  # log10 probability given to an unseen quadgram
    vocab: frozenset[bytes]  # the word list

    def fitness(self, text: str) -> float:
        """Mean log10 quadgram probability per character of `text` folded to lower-case
        letters and single spaces. About -4.0 for English prose, below -5.2 for
        enciphered or random letters (see docs/ciphers.md)."""
        return self.fitness_words([w for w in words_of(text) if w.isalpha()])

    def fitness_words(self, words: Sequence[bytes]) -> float:
        return self.fitness_normalised(b" " + b" ".join(words) + b" ")

    def fitness_normalised(self, norm: bytes) -> float:
        """Fitness of letters already folded and joined by single spaces."""
        n = len(norm) - 3
        if n <= 1:
            return self.floor
        get = self.quadgrams.get
        floor = self.floor
        return sum([get(norm[i : i + 4], floor) for i in range(n)]) / n

    def word_ratio(self, words: Iterable[bytes]) -> float:
        """Share of letters, in alphabetic words of two or more letters, that sit in
        dictionary words. Weighting by letters keeps short chance hits ("ox") from
        counting as much as a real long word."""
        total = hit = 0
        vocab = self.vocab
        for w in words:
            n = len(w)
            if n < 2 or not w.isalpha():
                continue
            total += n
            if w in vocab:
                hit += n
        return hit / total if total else 0.0

    def long_word_hits(self, words: Iterable[bytes], min_len: int = 4) -> int:
        vocab = self.vocab
        return sum(1 for w in words if len(w) >= min_len and w in vocab)


def letter_counts(text: str) -> list[int]:
    """Counts of a..z in already lower-cased text."""
    return [text.count(c) for c in LETTERS]


def index_of_coincidence(counts: Sequence[int]) -> float:
    n = sum(counts)
    if n < 2:
        return 0.0
    return sum(c * (c - 1) for c in counts) / (n * (n - 1))


def chi_squared(counts: Sequence[int], shift: int = 0) -> float:
    """Chi-squared distance between English letter frequencies and `counts` read as a
    Caesar shift of `shift` (count of cipher letter (p + shift) mod 26 stands for p)."""
    n = sum(counts)
    if n == 0:
        return math.inf
    total = 0.0
    for p, f in enumerate(ENGLISH_LETTER_FREQ):
        expected = f * n
        d = counts[(p + shift) % 26] - expected
        total += d * d / expected
    return total


def _data(name: str) -> str:
    return resources.files("flockwatch.ciphers").joinpath(f"data/{name}").read_text(encoding="utf-8")


@cache
def english() -> EnglishModel:
    counts: dict[str, int] = {}
    total = 0
    for line in _data("english_quadgrams.tsv").splitlines():
        if not line or line.startswith("#"):
            continue
        gram, _, num = line.partition("\t")
        if gram == "total":
            total = int(num)
        else:
            counts[gram] = int(num)
    log_total = math.log10(total)
    quad = {g.encode(): math.log10(c) - log_total for g, c in counts.items()}
    floor = math.log10(0.5) - log_total  # unseen: half of the rarest kept count
    vocab = frozenset(
        w.encode() for w in _data("english_words.txt").splitlines() if w and not w.startswith("#")
    )
    return EnglishModel(quadgrams=quad, floor=floor, vocab=vocab)
