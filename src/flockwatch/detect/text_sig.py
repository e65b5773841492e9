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

Computing a signature is the expensive step; `TextSignatures` memoises the last
event's so several rules on one event pay once. The signature is computed with the
permutations of a datasketch `MinHash` (the same values datasketch gives: tests hold
them equal) but with far fewer numpy calls, and each word's mixed CRC32 is cached.
Those permutations are written out below instead of drawn from datasketch at import:
importing datasketch loads scipy (~0.5 s on every process start: each CLI call, each
worker), and it is now only the tests' reference implementation.
"""

from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
import zlib
from operator import eq

import numpy as np

from flockwatch.detect.memo import Generations

_WORD = re.compile(r"[^\W\d_]{2,}", re.UNICODE)  # letters only: numbers and emoji vanish
# The same on ASCII text, where a letter is [a-zA-Z]: a character range is cheaper to
# test than _WORD's Unicode categories (-1/3 of the tokenising on the simulated stream).
_ASCII_WORD = re.compile(r"[a-zA-Z]{2,}")
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


_last_normalised: tuple[str, str] = ("", "")


def normalise(text: str) -> str:
    # Memoised for the last text: the template key and the word set of one event
    # both start here.
    global _last_normalised
    if _last_normalised[0] is not text and _last_normalised[0] != text:
        _last_normalised = (text, unicodedata.normalize("NFKC", text[:MAX_TEXT]).casefold())
    return _last_normalised[1]


def template_hash(text: str) -> str:
    """Exact template: same characters after case and whitespace folding."""
    folded = " ".join(normalise(text).split())  # = _SPACE.sub(" ", ...).strip(): both use str.isspace
    return hashlib.blake2b(folded.encode(), digest_size=8).hexdigest()


def tokens(text: str) -> frozenset[str]:
    """Content words: letters only, casefolded, stop words removed."""
    folded = normalise(text)
    return frozenset((_ASCII_WORD if folded.isascii() else _WORD).findall(folded)) - STOP_WORDS


def token_hash(words: frozenset[str]) -> str:
    return hashlib.blake2b(" ".join(sorted(words)).encode(), digest_size=8).hexdigest()


SIG_SIZE = 32  # permutations per signature; every rule uses a prefix of the same one


_MASK32 = 0xFFFFFFFF
EMPTY_HASH = _MASK32  # datasketch's "no value yet" sentinel for affine32
MAX_CACHED_WORDS = 32_768  # permuted hashes kept per word (~250 bytes each); cleared when full


def _fmix32(h: int) -> int:
    """MurmurHash3's 32-bit finaliser: datasketch's affine32 pre-mix of the input hash."""
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK32
    return h ^ (h >> 16)


_SIG_BYTES = struct.Struct(f"<{SIG_SIZE}I")  # a signature as little-endian uint32s
_EMPTY_BYTES = _SIG_BYTES.pack(*[EMPTY_HASH] * SIG_SIZE)
_MINIMUM = np.minimum.reduce  # ndarray.min's Python wrapper cost more than the reduction
_UINT32_LE = np.dtype("<u4")


# datasketch MinHash(num_perm=SIG_SIZE, seed=SEED, scheme="affine32").permutations:
# h -> a*h + b mod 2**32 (a odd). tests/test_text_sig_equivalence.py holds them equal.
PERMUTATION_A = (
    1668181465, 1304251987, 2250841707, 722810179, 900144105, 2437480415, 778143423, 3219588875,
    1743890875, 2486686513, 1366502919, 2456597841, 2518726979, 3122174075, 1240393659,
    3395835191, 2966578615, 1999378105, 2119544501, 515225075, 1482118187, 265945887,
    1296755047, 2246346857, 659633963, 2901946719, 3961439017, 1310758185, 514118281,
    3547627185, 1850525595, 4156682863,
)
PERMUTATION_B = (
    3495815765, 769503216, 4150296507, 3201258025, 2449656880, 1873750383, 1129801005,
    2060815675, 3476401503, 3462948427, 1287904864, 2683495953, 3299238571, 102927344,
    2893770458, 40317408, 2511259829, 1626355785, 3739081494, 786274108, 1161559405, 1244477023,
    3016138140, 4265038392, 3523834326, 2947322136, 1705042144, 3522059117, 1709488923,
    1383512417, 2083221622, 4142411225,
)


class _Hasher:
    """datasketch's affine32 MinHash: seeded permutations h -> a*h + b mod 2**32 of the
    fmix32-mixed CRC32 of each word, the signature their minimum over the words.
    Each word's 32 permuted hashes are cached (as little-endian uint32 bytes; words
    follow Zipf's law, so a bounded cache hits almost always) and a text's signature
    is one numpy minimum over them: the MinHash object's update_batch makes a dozen
    small numpy calls, which cost more than the hashing for the short texts agents post.
    The signature stays bytes (`signature_bytes`): LSH band keys are CRC32s of slices of
    them and the packed signature every 4th byte, with no list of ints in between.
    Not thread-safe: one per process, used from the event loop."""

    def __init__(self) -> None:
        self._a = np.asarray(PERMUTATION_A, dtype=np.uint32)
        self._b = np.asarray(PERMUTATION_B, dtype=np.uint32)
        self._rows: dict[str, bytes] = {}

    def _row(self, word: str) -> bytes:
        r = self._rows.get(word)
        if r is None:
            if len(self._rows) >= MAX_CACHED_WORDS:
                self._rows.clear()
            # uint32 arithmetic wraps: exactly datasketch's a * h + b mod 2**32.
            h = np.uint32(_fmix32(zlib.crc32(word.encode())))
            r = self._rows[word] = (h * self._a + self._b).astype(_UINT32_LE, copy=False).tobytes()
        return r

    def signature_bytes(self, words: frozenset[str]) -> bytes:
        if len(words) <= 1:
            return self._row(next(iter(words))) if words else _EMPTY_BYTES
        rows = list(map(self._rows.get, words))  # cached rows without a Python call per word
        if None in rows:
            rows = [self._row(w) for w in words]
        matrix = np.ndarray((len(rows), SIG_SIZE), _UINT32_LE, b"".join(rows))
        return _MINIMUM(matrix, axis=0).tobytes()  # type: ignore[no-any-return]

    def signature(self, words: frozenset[str]) -> list[int]:
        return list(_SIG_BYTES.unpack(self.signature_bytes(words)))


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
    return _band_keys(struct.pack(f"<{len(sig)}I", *sig), bands, rows)


_BAND_LAYOUTS: dict[tuple[int, int], tuple[struct.Struct, tuple[str, ...]]] = {}


def _band_layout(bands: int, rows: int) -> tuple[struct.Struct, tuple[str, ...]]:
    layout = _BAND_LAYOUTS.get((bands, rows))
    if layout is None:
        cut = struct.Struct(f"{4 * rows}s" * bands)  # each band's bytes, in one call
        layout = _BAND_LAYOUTS[bands, rows] = (cut, tuple(f"{b}:" for b in range(bands)))
    return layout


def _band_keys(sig_bytes: bytes, bands: int, rows: int) -> list[str]:
    # Band b is the CRC32 of the bytes of its `rows` little-endian uint32s, as 8 hex
    # digits: to_bytes(4).hex() is "%08x" at 2/5 of the cost of format(), and one
    # Struct cuts the bands with no slice per band (-40 % per text, 10 bands).
    cut, prefixes = _band_layout(bands, rows)
    crc32 = zlib.crc32
    return [p + crc32(b).to_bytes(4).hex() for p, b in zip(prefixes, cut.unpack_from(sig_bytes))]


def similarity(a: list[int], b: list[int]) -> float:
    """MinHash estimate of the Jaccard similarity of two signatures."""
    if not a or len(a) != len(b):
        return 0.0
    return sum(map(eq, a, b)) / len(a)


# b-bit MinHash (b = 8): a signature packed into one int, 8 bits per permutation. JSON
# holds it as one number, and similarity is a few big-int operations instead of a loop.
_LANE_LOW = int.from_bytes(b"\x01" * SIG_SIZE, "little")


def pack(sig: list[int]) -> int:
    return _pack_bytes(_SIG_BYTES.pack(*sig[:SIG_SIZE]))


def _pack_bytes(sig_bytes: bytes) -> int:
    # Every 4th byte of the little-endian uint32s is a hash's low byte.
    return int.from_bytes(sig_bytes[::4], "little")


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


def lanes_needed(min_similarity: float) -> int:
    """The fewest equal 8-bit lanes for `packed_similarity` to reach `min_similarity`
    (it grows with the lane count, so "similar enough" is one integer comparison)."""
    for lanes in range(SIG_SIZE + 1):
        if max(0.0, (lanes / SIG_SIZE - 1 / 256) / (1 - 1 / 256)) >= min_similarity:
            return lanes
    return SIG_SIZE + 1  # unreachable: nothing is that similar


def equal_lanes(a: int, b: int) -> int:
    """How many of the 8-bit lanes of two packed signatures agree (a zero byte of a ^ b)."""
    return (a ^ b).to_bytes(SIG_SIZE, "little").count(0)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


class TextSignatures:
    """Per-process memo of the fingerprints of recent texts, so rules that look at the
    same event's text compute them once.

    It has to reach back further than the event at hand: the worker observes forwarded
    matches (stage 2) a batch after it computed their band keys (stage 1), and a
    near-duplicate rule needs the same words, signature and band keys again there (the
    record's signature and its buckets' fan). A memo of the last 64 texts, cleared when
    full, made stage 2 compute every MinHash a second time (py-spy: about a third of
    stage 2's observe time; callgrind: near_duplicate_spam -22% in the worker path once
    it stopped). Two generations of `size` texts cover several batches."""

    def __init__(self, size: int = 2048):
        self._words = Generations(size)
        self._sig_bytes = Generations(size)
        self._sigs = Generations(size)
        self._bands = Generations(size)
        self._packed = Generations(size)

    def words(self, text: str) -> frozenset[str]:
        w = self._words.young.get(text)
        if w is None:
            w = self._words.fill(text, lambda: tokens(text))
        return w

    def signature_bytes(self, text: str) -> bytes:
        s = self._sig_bytes.young.get(text)
        if s is None:
            s = self._sig_bytes.fill(text, lambda: _HASHER.signature_bytes(self.words(text)))
        return s

    def signature(self, text: str, num_perm: int = SIG_SIZE) -> list[int]:
        s = self._sigs.young.get(text)
        if s is None:
            s = self._sigs.fill(text, lambda: list(_SIG_BYTES.unpack(self.signature_bytes(text))))
        return s if num_perm == SIG_SIZE else s[:num_perm]  # the same list: buckets share it

    def packed(self, text: str) -> int:
        p = self._packed.young.get(text)
        if p is None:
            p = self._packed.fill(text, lambda: _pack_bytes(self.signature_bytes(text)))
        return p

    def bands(self, text: str, bands: int, rows: int) -> list[str]:
        key = (text, bands, rows)
        b = self._bands.young.get(key)
        if b is None:
            b = self._bands.fill(key, lambda: _band_keys(self.signature_bytes(text), bands, rows))
        return b


MEMO = TextSignatures()
