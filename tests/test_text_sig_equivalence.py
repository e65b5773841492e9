"""The fast text fingerprints give exactly the values of their plain definitions:
datasketch's MinHash, numpy band bytes, the regex whitespace fold and
`packed_similarity`. State written before the speed-ups must still compare equal."""

from __future__ import annotations

import hashlib
import random
import re
import zlib

import numpy as np
import pytest
from datasketch import MinHash

from flockwatch.detect.text_sig import (
    SEED,
    SIG_SIZE,
    STOP_WORDS,
    band_keys,
    equal_lanes,
    lanes_needed,
    normalise,
    pack,
    packed_similarity,
    signature,
    template_hash,
    tokens,
)

_ALPHABET = "abcdefghijklmnopqrstuvwxyzéüßøλжمあ"


def _word_sets(n: int, seed: int = 3) -> list[frozenset[str]]:
    rng = random.Random(seed)
    out = [frozenset(), frozenset({"x" * 300})]
    for _ in range(n):
        size = rng.choice([1, 2, 3, 5, 8, 20, 120])
        out.append(frozenset("".join(rng.choice(_ALPHABET) for _ in range(rng.randint(2, 12))) for _ in range(size)))
    return out


def _datasketch_signature(words: frozenset[str]) -> list[int]:
    m = MinHash(num_perm=SIG_SIZE, seed=SEED, hashfunc=zlib.crc32, scheme="affine32")
    if words:
        m.update_batch([w.encode() for w in sorted(words)])
    return [int(v) for v in m.hashvalues]


def test_permutations_are_datasketch_minhash_ones() -> None:
    from flockwatch.detect.text_sig import PERMUTATION_A, PERMUTATION_B

    a, b = MinHash(num_perm=SIG_SIZE, seed=SEED, hashfunc=zlib.crc32, scheme="affine32").permutations
    assert list(PERMUTATION_A) == [int(x) for x in a] and list(PERMUTATION_B) == [int(x) for x in b]


def test_signature_is_datasketch_minhash() -> None:
    for words in _word_sets(300):
        assert signature(words) == _datasketch_signature(words), sorted(words)[:5]


def test_signature_prefixes_and_cache_overflow(monkeypatch: pytest.MonkeyPatch) -> None:
    from flockwatch.detect import text_sig

    monkeypatch.setattr(text_sig, "MAX_CACHED_WORDS", 8)  # clears the word cache many times over
    for words in _word_sets(60, seed=11):
        full = _datasketch_signature(words)
        assert signature(words) == full
        assert signature(words, 16) == full[:16]


def _numpy_band_keys(sig: list[int], bands: int, rows: int) -> list[str]:
    out = []
    for b in range(bands):
        digest = zlib.crc32(np.asarray(sig[b * rows:(b + 1) * rows], dtype="<u4").tobytes())
        out.append(f"{b}:{digest:08x}")
    return out


@pytest.mark.parametrize(("bands", "rows"), [(10, 2), (8, 2), (16, 2), (8, 4), (1, 32)])
def test_band_keys_are_the_numpy_bytes(bands: int, rows: int) -> None:
    for words in _word_sets(50):
        sig = signature(words)
        assert band_keys(sig, bands, rows) == _numpy_band_keys(sig, bands, rows)


def test_pack_keeps_the_low_byte_of_every_hash() -> None:
    for words in _word_sets(50):
        sig = signature(words)
        assert pack(sig) == int.from_bytes(bytes(h & 0xFF for h in sig), "little")


def test_template_hash_folds_whitespace_like_the_regex() -> None:
    space = re.compile(r"\s+")
    rng = random.Random(5)
    pool = [" ", "\t", "\n", "\u00a0", "\u2003", "\u3000", "\u200b", "a", "B", "é", "1"]
    for _ in range(2000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 15)))
        folded = space.sub(" ", normalise(text)).strip()
        assert template_hash(text) == hashlib.blake2b(folded.encode(), digest_size=8).hexdigest(), repr(text)


def test_lane_count_test_agrees_with_packed_similarity() -> None:
    rng = random.Random(9)
    base = [rng.getrandbits(32) for _ in range(SIG_SIZE)]
    for threshold in (0.0, 0.3, 0.5, 0.6, 0.7, 0.9, 1.0):
        lanes = lanes_needed(threshold)
        for changed in range(SIG_SIZE + 1):
            other = list(base)
            for i in rng.sample(range(SIG_SIZE), changed):
                other[i] ^= rng.randint(1, 255)  # the low byte differs: that lane is unequal
            a, b = pack(base), pack(other)
            assert equal_lanes(a, b) == SIG_SIZE - changed
            assert (equal_lanes(a, b) >= lanes) == (packed_similarity(a, b) >= threshold)


def test_tokens_of_unicode_text() -> None:
    assert tokens("The CLAW mint: Join the WAVE, join!! 42 🦞") == frozenset({"claw", "mint", "join", "wave"})


def test_tokens_of_ascii_text_are_the_unicode_definition() -> None:
    word = re.compile(r"[^\W\d_]{2,}")
    rng = random.Random(7)
    pool = [chr(c) for c in range(128)] + ["the", "and", "Claw", "42", "x_y", "é", "²"]
    for _ in range(3000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 40)))
        expected = frozenset(w for w in word.findall(normalise(text)) if w not in STOP_WORDS)
        assert tokens(text) == expected, repr(text)
