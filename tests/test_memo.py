"""The two-generation memo, and the text-signature memo built on it: the worker's
second stage asks for a text's MinHash a batch after the first stage computed it."""

from __future__ import annotations

import flockwatch.detect.text_sig as text_sig
from flockwatch.detect.memo import Generations
from flockwatch.detect.text_sig import TextSignatures


def counting() -> tuple[list[str], object]:
    computed: list[str] = []

    def compute(key: str):  # noqa: ANN202
        def run() -> str:
            computed.append(key)
            return key.upper()
        return run

    return computed, compute


def test_a_key_survives_one_full_generation_and_moves_back_when_used() -> None:
    memo = Generations(size=3)
    computed, compute = counting()
    assert memo.fill("a", compute("a")) == "A"
    for k in "bcd":  # "d" finds the young generation full: "a" is now in the old one
        memo.fill(k, compute(k))
    assert "a" not in memo.young and memo.old.get("a") == "A"
    assert memo.fill("a", compute("a")) == "A"  # found in the old generation: not computed again
    assert computed == ["a", "b", "c", "d"]
    assert memo.young.get("a") == "A"  # moved back: it outlives the next rotation


def test_a_key_unused_for_two_generations_is_computed_again() -> None:
    memo = Generations(size=2)
    computed, compute = counting()
    for k in ["x", "p", "q", "r", "s"]:
        memo.fill(k, compute(k))
    assert memo.young.get("x") is None and memo.old.get("x") is None
    memo.fill("x", compute("x"))
    assert computed.count("x") == 2
    assert len(memo.young) <= 2 and len(memo.old) <= 2  # bounded


def test_signatures_of_a_text_seen_a_batch_ago_are_not_computed_again(monkeypatch) -> None:  # noqa: ANN001
    calls: list[str] = []
    real = text_sig.tokens
    monkeypatch.setattr(text_sig, "tokens", lambda t: calls.append(t) or real(t))
    memo = TextSignatures(size=1000)
    first = "Claiming my spot on Moltbook with a CLAW mint, join the token movement today"
    bands, packed = memo.bands(first, 10, 2), memo.packed(first)
    for i in range(1500):  # a batch of other texts in between, as between the worker's two stages
        memo.bands(f"unrelated post number {i} about gardening and libraries", 10, 2)
    assert memo.bands(first, 10, 2) == bands and memo.packed(first) == packed
    assert calls.count(first) == 1
    # ... and what it returns is what a fresh memo computes.
    fresh = TextSignatures()
    assert fresh.bands(first, 10, 2) == bands and fresh.packed(first) == packed
