"""Changelog values: the memoising encoder writes exactly what pydantic-core writes."""

from __future__ import annotations

import json
import random

import pytest
from pydantic_core import to_json

from flockwatch.worker.state_encoding import StateEncoder


def record(i: int, rng: random.Random) -> tuple:
    fan = tuple(rng.getrandbits(32) for _ in range(10))
    return (1.7e9 + i, f"e{i}", f"agent-{i}", None, fan, f"sample «{i}» ✓", rng.getrandbits(256))


VALUES = [
    {"t": 1.5, "ev": (record(1, random.Random(1)), record(2, random.Random(2))), "inc": None},
    {"t": 2.0, "ev": (record(3, random.Random(3)),), "inc": {"n": 2, "agents": ["a", "b"]}, "d": 1.25},
    {"t": 3.0, "ev": ()},  # an empty tuple: nothing to memoise
    {"ev": ((1, 2), [3, 4])},  # a list among the tuples (a record restored from a changelog)
    {1: "int key"},  # written with a string key by to_json, so left to it
    {"n": 3, "last": [1, 2]},
    [1, (2, 3)],
    "text",
    7,
    None,
]


@pytest.mark.parametrize("value", VALUES)
def test_entries_are_byte_for_byte_what_to_json_writes(value) -> None:  # type: ignore[no-untyped-def]
    enc = StateEncoder()
    assert enc.entry(5, value) == to_json([5, value])
    assert enc.entry(5, value) == to_json([5, value])  # again, from the memo
    assert json.loads(enc.entry(5, value))[1] == json.loads(to_json(value))


def test_a_shared_record_is_encoded_once() -> None:
    enc = StateEncoder()
    shared = record(1, random.Random(1))
    enc.value({"ev": (shared,)})
    first = enc._memo.young[id(shared)][1]
    enc.value({"ev": (record(2, random.Random(2)), shared)})
    assert enc._memo.young[id(shared)][1] is first and len(enc._memo.young) == 2


def test_the_memo_is_bounded() -> None:
    enc = StateEncoder(memo_size=4)
    rng = random.Random(0)
    records = tuple(record(i, rng) for i in range(10))
    assert enc.value({"ev": records}) == to_json({"ev": records})
    assert len(enc._memo.young) <= 4 and len(enc._memo.old) <= 4


def test_a_record_still_in_use_survives_the_memo_turning_over() -> None:
    enc = StateEncoder(memo_size=4)
    rng = random.Random(0)
    busy = record(0, rng)
    for i in range(1, 30):  # a busy bucket re-sent among a stream of new records
        enc.value({"ev": (busy, record(i, rng))})
        assert id(busy) in enc._memo.young or id(busy) in enc._memo.old
    assert enc.value({"ev": (busy,)}) == to_json({"ev": (busy,)})
