"""A small run of eval/cascades_eval.py's simulated part: seeded agent-society streams
with injected incidents and benign look-alikes, through every shipped pack. Every kind
of incident must be found and the benign background must stay (almost) quiet. The
full evaluation (4 seeds x 100k events, figures in the README) is the script; this
slice needs no reference data."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "eval"))

import cascades_eval  # noqa: E402

from flockwatch.rules.loader import load_packs  # noqa: E402


@pytest.fixture(scope="module")
def result() -> dict:
    packs = load_packs([ROOT / "rules"])
    # 2 seeds x 15k background events, 10 rounds per 50k -> 3 rounds of every kind per seed.
    # 20k agents as in the full evaluation: with far fewer, the busiest simulated agents
    # post faster than the platform allows and baseline.post_flood rightly fires.
    return cascades_eval.simulated(packs, seeds=2, events=15_000, agents=20_000, incidents=10)


def test_every_injected_kind_is_found(result: dict) -> None:
    recall = result["recall"]
    assert set(recall) >= {"campaign", "link_wave", "self_repetition", "ping_pong", "reply_cycle", "echo_chain",
                           "propagation", "rot13_injection", "operator_dm_scam", "credential_leak"}
    assert result["campaign_recall"] >= 0.9
    missed = {kind: r for kind, r in recall.items() if r < 0.8}
    assert missed == {}


def test_benign_background_and_look_alikes_stay_quiet(result: dict) -> None:
    # Target: at most 1 false cascade or loop alert per 100k benign events; a ~30k-event
    # slice allows none, and one would already be 3 per 100k.
    assert result["benign_events"] > 25_000
    assert result["false_alerts"] == 0
