"""Content fingerprints shared by every collective detector.

Three levels of "the same text", cheapest first:

- `template_hash`: exact after case and whitespace folding (copy-paste templates);
- `token_hash`: the *set* of content words, with numbers, emoji, punctuation and a
  few stop words dropped, so case, numbering, emoji and reordered words do not matter;
- `signature` + `band_keys`: a MinHash signature over that word set (datasketch,
  affine32 scheme) cut into LSH bands, so texts with small edits still share a band.

The MinHash uses one fixed permutation set for the whole process (seeded), and a
CRC32 token hash, so every worker computes the same bands for the same text. Word
sets are order-free by design: reordered words are a stated evasion to resist.

Computing a signature is the expensive step (~50 µs); `TextSignatures` memoises the
last event's so several rules on one event pay once.
"""

from __future__ import annotations

import hashlib
from operator import eq
import re
import unicodedata
import zlib
import numpy as np
from datasketch import MinHash

_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)  # letters only: numbers and emoji vanish
_SPACE = re.compile(r"\s+")
# Function words that make unrelated short texts look alike; content words stay.
STOP_WORDS: frozenset[str] = frozenset(
    "a an the and or but if of to in on at by for with from as is are was were be been am "
    "it its this that these those i me my we our you your he she they them their his her "
    "not no so do does did have has had will would can could should just than then there "
    "what which who how all any some more most very too also about into over out up".split()
)
MAX_TEXT = 4000  # characters fingerprinted; longer texts are cut (bounded cost per event)
SEED = 20260130


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text[:MAX_TEXT]).casefold()


def template_hash(text: str) -> str:
    """Exact template: same characters after case and whitespace folding."""
    folded = _SPACE.sub(" ", normalise(text)).strip()
    return hashlib.blake2b(folded.encode(), digest_size=8).hexdigest()


def tokens(text: str) -> frozenset[str]:
    """Content words: letters only, casefolded, stop words removed."""
    return frozenset(w for w in _WORD.findall(normalise(text)) if w not in STOP_WORDS)


def token_hash(words: frozenset[str]) -> str:
    return hashlib.blake2b(" ".join(sorted(words)).encode(), digest_size=8).hexdigest()


SIG_SIZE = 32  # permutations per signature; every rule uses a prefix of the same one


class _Hasher:
    """One reusable datasketch MinHash (constructing one per text costs more than
    hashing the text). Not thread-safe: one per process, used from the event loop."""

    def __init__(self) -> None:
        self._m = MinHash(num_perm=SIG_SIZE, seed=SEED, hashfunc=zlib.crc32, scheme="affine32")

    def signature(self, words: frozenset[str]) -> list[int]:
        m = self._m
        m.clear()
        if words:
            m.update_batch([w.encode() for w in sorted(words)])
        return m.hashvalues.tolist()


_HASHER = _Hasher()


def signature(words: frozenset[str], num_perm: int = SIG_SIZE) -> list[int]:
    """MinHash signature of a word set (plain ints: JSON-serialisable state). Smaller
    signatures are prefixes of the full one, so all rules share one computation."""
    if not 1 <= num_perm <= SIG_SIZE:
        raise ValueError(f"num_perm must be 1..{SIG_SIZE}")
    sig = _HASHER.signature(words)
    return sig if num_perm == SIG_SIZE else sig[:num_perm]


def band_keys(sig: list[int], bands: int, rows: int) -> list[str]:
    """LSH band keys `"<band>:<hash>"`; two texts collide in a band with probability
    about J**rows (J = Jaccard similarity of their word sets)."""
    out = []
    for b in range(bands):
        chunk = sig[b * rows:(b + 1) * rows]
        digest = zlib.crc32(np.asarray(chunk, dtype=np.uint32).tobytes())
        out.append(f"{b}:{digest:08x}")
    return out


def similarity(a: list[int], b: list[int]) -> float:
    """MinHash estimate of the Jaccard similarity of two signatures."""
    if not a or len(a) != len(b):
        return 0.0
    return sum(map(eq, a, b)) / len(a)


# b-bit MinHash (b = 8): a signature packed into one int, 8 bits per permutation. JSON
# holds it as one number, and similarity is a few big-int operations instead of a loop.
_LANE_LOW = int.from_bytes(b"\x01" * SIG_SIZE, "little")


def pack(sig: list[int]) -> int:
    return int.from_bytes(bytes(h & 0xFF for h in sig[:SIG_SIZE]), "little")


def packed_similarity(a: int, b: int) -> float:
    """Estimated Jaccard similarity of two packed signatures: the share of equal
    8-bit lanes, corrected for the 1/256 chance that unrelated lanes agree."""
    x = a ^ b
    x |= x >> 4
    x |= x >> 2
    x |= x >> 1
    differing = (x & _LANE_LOW).bit_count()
    equal = (SIG_SIZE - differing) / SIG_SIZE
    return max(0.0, (equal - 1 / 256) / (1 - 1 / 256))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


class TextSignatures:
    """Per-process memo of the fingerprints of the most recent texts, so rules that
    look at the same event's text compute them once."""

    def __init__(self, size: int = 64):
        self._size = size
        self._words: dict[str, frozenset[str]] = {}
        self._sigs: dict[str, list[int]] = {}
        self._bands: dict[tuple[str, int, int], list[str]] = {}
        self._packed: dict[str, int] = {}

    def words(self, text: str) -> frozenset[str]:
        w = self._words.get(text)
        if w is None:
            if len(self._words) >= self._size:
                self._words.clear()
            w = self._words[text] = tokens(text)
        return w

    def signature(self, text: str, num_perm: int = SIG_SIZE) -> list[int]:
        s = self._sigs.get(text)
        if s is None:
            if len(self._sigs) >= self._size:
                self._sigs.clear()
            s = self._sigs[text] = signature(self.words(text))
        return s if num_perm == SIG_SIZE else s[:num_perm]  # the same list: buckets share it

    def packed(self, text: str) -> int:
        p = self._packed.get(text)
        if p is None:
            if len(self._packed) >= self._size:
                self._packed.clear()
            p = self._packed[text] = pack(self.signature(text))
        return p

    def bands(self, text: str, bands: int, rows: int) -> list[str]:
        key = (text, bands, rows)
        b = self._bands.get(key)
        if b is None:
            if len(self._bands) >= self._size:
                self._bands.clear()
            b = self._bands[key] = band_keys(self.signature(text), bands, rows)
        return b


MEMO = TextSignatures()
