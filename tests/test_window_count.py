"""`WindowCount`'s similarity test at the boundary of its popcount shortcut: a ^ b
with more than 8 * (SIG_SIZE - lanes) set bits is rejected without counting lanes,
so the test must still count every pair that has enough equal lanes, however many
bits the differing lanes hold."""

from __future__ import annotations

import random

from flockwatch.detect.text_sig import SIG_SIZE, equal_lanes, lanes_needed
from flockwatch.detect.window_count import WindowCount, fan_of, key_hash

MIN_SIMILARITY = 0.6
LANES = lanes_needed(MIN_SIMILARITY)  # 20 of 32


def _lanes_mask(differing: int, byte: int) -> int:
    """A packed-signature XOR mask: the first `differing` lanes flipped by `byte`."""
    return int.from_bytes(bytes([byte]) * differing + bytes(SIG_SIZE - differing), "little")


def _opens(base: int, others: list[int]) -> bool:
    """Does an event with signature `base` open an incident after `others` (threshold:
    all of them and itself)?"""
    wc = WindowCount(600.0, len(others) + 1, distinct=False, min_similarity=MIN_SIMILARITY)
    entry = None
    for i, sig in enumerate([*others, base]):
        entry, incident, _ = wc.add(entry, "k", (float(i), f"e{i}", f"a{i}", f"e{i}", None, None, sig))
    return incident is not None


def test_every_bit_of_the_differing_lanes_set_is_still_similar() -> None:
    base = random.Random(3).getrandbits(8 * SIG_SIZE)
    fully_different = base ^ _lanes_mask(SIG_SIZE - LANES, 0xFF)  # 96 set bits: the most allowed
    assert equal_lanes(base, fully_different) == LANES
    assert _opens(base, [fully_different, fully_different])


def test_one_lane_too_many_is_not_similar_however_few_bits_differ() -> None:
    base = random.Random(4).getrandbits(8 * SIG_SIZE)
    one_bit_each = base ^ _lanes_mask(SIG_SIZE - LANES + 1, 0x01)  # 13 set bits, 19 equal lanes
    assert equal_lanes(base, one_bit_each) == LANES - 1
    assert not _opens(base, [one_bit_each, one_bit_each])
    assert not _opens(base, [base, one_bit_each])


def test_restored_list_records_compare_the_same() -> None:
    # A changelog restores `ev` and its records as JSON lists.
    base = random.Random(5).getrandbits(8 * SIG_SIZE)
    similar = base ^ _lanes_mask(SIG_SIZE - LANES, 0x80)
    wc = WindowCount(600.0, 3, distinct=False, min_similarity=MIN_SIMILARITY)
    entry = {"t": 1.0, "inc": None, "ev": [[0.0, "e0", "a0", "e0", None, None, similar],
                                           [1.0, "e1", "a1", "e1", None, None, similar]]}
    _, incident, measure = wc.add(entry, "k", (2.0, "e2", "a2", "e2", None, None, base))
    assert incident is not None and measure == 3


def test_fan_is_the_sorted_key_hashes() -> None:
    # A bucket defers to a lower one by comparing `key_hash(its key)` with the fan.
    keys = ["3:0badf00d", "0:ffffffff", "https://exämple.org/\x1f1:00000001", ""]
    assert fan_of(keys) == tuple(sorted(key_hash(k) for k in keys))
