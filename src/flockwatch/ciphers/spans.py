"""Find runs of non-English words: the candidate places where a cipher may hide.

A text is tokenised once, in C (`english.words_of`). Tokens that are never cipher
material are out of the game: URLs, e-mail addresses, @mentions, #tags and HTML
entities are blanked first (same length, so offsets hold), and tokens with a digit
(hashes, hex ids, UUIDs, usernames like agent_1736) never count as words.

Each token is classed E (in the English word list), U (unknown, alphabetic, at least
`min_word_len` letters) or N (neutral: anything else). A candidate run is a stretch of
U words in which single E words may sit between unknown ones, because a shift now and
then lands on a real word ("fur" is ROT13 of "she"). The common case, plain English,
is settled by one set difference: fewer distinct unknown words than a run needs means
there is no run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flockwatch.ciphers.english import EnglishModel, words_of

_MASK_RE = re.compile(
    r"https?://\S+|www\.\S+|[\w.+-]+@[\w-]+\.\w[\w.]*|(?<!\w)[@#][\w-]+|&#?\w+;"
)
_MASK_HINTS = ("://", "www.", "@", "#", "&")
# The str-level twin of `words_of`: same tokens, with their character offsets.
_TOKEN_RE = re.compile(r"[A-Za-z0-9]+")
_RUN_RE = re.compile(r"U(?:N*E?N*U)*")


def _blank(m: re.Match[str]) -> str:
    return " " * len(m.group())


def mask(text: str) -> str:
    """`text` with URLs, addresses, mentions, tags and entities blanked out."""
    if any(h in text for h in _MASK_HINTS):
        return _MASK_RE.sub(_blank, text)
    return text


@dataclass(frozen=True)
class Tokens:
    text: str  # the masked text the tokens come from
    words: list[bytes]
    unknown: frozenset[bytes]  # distinct U words


@dataclass(frozen=True)
class Run:
    first: int  # token index
    last: int  # token index, inclusive
    start: int  # character offsets in the text
    end: int
    words: list[bytes]  # the run's tokens
    offsets: list[tuple[int, int]]  # character span of each token


def tokenize(text: str, model: EnglishModel, min_word_len: int = 3) -> Tokens:
    masked = mask(text)
    words = words_of(masked)
    unknown = frozenset(
        w for w in set(words).difference(model.vocab) if len(w) >= min_word_len and w.isalpha()
    )
    return Tokens(masked, words, unknown)


def candidate_runs(
    tokens: Tokens, model: EnglishModel, *, min_unknown: int, min_unknown_share: float
) -> list[Run]:
    """Runs of mostly unknown words, with their character span in the text."""
    if len(tokens.unknown) < min_unknown:
        # Repeats could still make a run, but a cipher run of a few words with fewer
        # distinct unknown words than `min_unknown` is too short to decode reliably.
        return []
    unknown, vocab = tokens.unknown, model.vocab
    classes = "".join(["U" if w in unknown else "E" if w in vocab else "N" for w in tokens.words])
    found = []
    for m in _RUN_RE.finditer(classes):
        seg = m.group()
        n_unknown = seg.count("U")
        n_known = seg.count("E")
        if n_unknown < min_unknown or n_unknown / (n_unknown + n_known) < min_unknown_share:
            continue
        found.append((m.start(), m.end() - 1))
    if not found:
        return []
    offsets = [(m.start(), m.end()) for m in _TOKEN_RE.finditer(tokens.text)]
    return [
        Run(a, b, offsets[a][0], offsets[b][1], tokens.words[a : b + 1], offsets[a : b + 1])
        for a, b in found
    ]
