"""The seeded agent-society generator (`flockwatch simulate`): determinism, validity,
time order, and that every injected incident has the shape its label claims. The
evaluations and the demo rely on these labels being true."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from flockwatch.ingest.decode import DecodeFailure, decode_object
from flockwatch.simulate.incidents import BENIGN, MALICIOUS
from flockwatch.simulate.stream import DEFAULT_MIX, SimConfig, Simulation


def run(**kw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    sim = Simulation(SimConfig(**{"seed": 7, "agents": 400, "events": 6000, **kw}))
    events = list(sim.stream())
    return events, sim.labels


@pytest.fixture(scope="module")
def stream() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return run(incidents_per_50k=20)  # 6000 events -> 2 rounds of every kind


def epoch(ev: dict[str, Any]) -> float:
    return datetime.fromisoformat(ev["ts"].replace("Z", "+00:00")).timestamp()


def by_id(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["event_id"]: e for e in events}


def test_same_seed_same_stream_other_seed_other_stream() -> None:
    a, la = run(seed=3, events=1500)
    b, lb = run(seed=3, events=1500)
    c, _ = run(seed=4, events=1500)
    assert a == b and la == lb
    assert a != c


def test_every_event_is_a_valid_canonical_event_with_a_unique_id(stream) -> None:
    events, _ = stream
    failures = [(e["event_id"], d.message) for e in events if isinstance(d := decode_object(e), DecodeFailure)]
    assert failures == []
    ids = Counter(e["event_id"] for e in events)
    assert [i for i, n in ids.items() if n > 1] == []
    assert set(Counter(e["type"] for e in events)) >= {"post", "comment", "vote", "follow", "dm"}


def test_events_come_in_event_time_order(stream) -> None:
    times = [epoch(e) for e in stream[0]]
    assert times == sorted(times)


def test_background_count_and_every_kind_injected(stream) -> None:
    events, labels = stream
    injected = sum(len(lab["event_ids"]) for lab in labels)
    assert len(events) == 6000 + injected
    kinds = Counter(lab["kind"] for lab in labels)
    assert set(kinds) == set(MALICIOUS) | set(BENIGN) == set(DEFAULT_MIX)
    assert kinds["campaign"] == 2 * DEFAULT_MIX["campaign"]


def test_labels_point_at_real_events_and_agents(stream) -> None:
    events, labels = stream
    index = by_id(events)
    for lab in labels:
        assert lab["event_ids"], lab["kind"]
        evs = [index[i] for i in lab["event_ids"]]  # KeyError: a label names an event not in the stream
        assert {e["agent_id"] for e in evs} <= set(lab["agent_ids"]) or not lab["agent_ids"]
        assert lab["benign"] == (lab["kind"] in BENIGN)
        assert bool(lab["expect_rules"]) == (not lab["benign"])


def test_no_event_belongs_to_two_incidents(stream) -> None:
    owners = Counter(i for lab in stream[1] for i in lab["event_ids"])
    assert [i for i, n in owners.items() if n > 1] == []


def test_expected_rules_exist_in_the_shipped_packs(stream) -> None:
    from flockwatch.rules.loader import load_packs

    ids = {r.id for p in load_packs([Path(__file__).resolve().parents[1] / "rules"]) for r in p.rules}
    expected = {r for lab in stream[1] for r in lab["expect_rules"]}
    assert expected - ids == set()


def incidents(stream, kind: str) -> list[list[dict[str, Any]]]:
    events, labels = stream
    index = by_id(events)
    return [[index[i] for i in lab["event_ids"]] for lab in labels if lab["kind"] == kind]


def test_campaigns_are_five_or_more_agents_within_ten_minutes(stream) -> None:
    for evs in incidents(stream, "campaign"):
        assert len({e["agent_id"] for e in evs}) >= 5
        times = [epoch(e) for e in evs]
        assert max(times) - min(times) <= 600


def test_link_wave_is_one_site_from_many_agents_within_a_minute(stream) -> None:
    for evs in incidents(stream, "link_wave"):
        assert len({e["agent_id"] for e in evs}) >= 6
        hosts = {w.split("/")[2] for e in evs for w in e["text"].split() if w.startswith("https://")}
        assert len(hosts) == 1
        times = [epoch(e) for e in evs]
        assert max(times) - min(times) <= 60


def test_popular_link_instances_are_slow_and_each_has_its_own_link(stream) -> None:
    urls = []
    for evs in incidents(stream, "popular_link"):
        links = {w for e in evs for w in e["text"].split() if w.startswith("https://")}
        assert len(links) == 1
        urls.append(links.pop())
        times = sorted(epoch(e) for e in evs)
        assert times[-1] - times[0] > 1800  # spread over hours, not a burst
    assert len(set(urls)) == len(urls)


def test_ping_pong_alternates_between_two_agents(stream) -> None:
    for evs in incidents(stream, "ping_pong"):
        evs = sorted(evs, key=epoch)
        replies = [e for e in evs if e["type"] == "comment"]
        assert len({e["agent_id"] for e in replies}) == 2
        turns = sum(a["agent_id"] != b["agent_id"] for a, b in zip(replies, replies[1:]))
        assert turns >= 4


def test_reply_cycle_closes_a_loop_of_three_or_more(stream) -> None:
    for evs in incidents(stream, "reply_cycle"):
        edges = {(e["agent_id"], e["target_agent_id"]) for e in evs if e.get("target_agent_id")}
        graph = defaultdict(set)
        for a, b in edges:
            graph[a].add(b)
        # some agent reaches itself again through at least two others
        def back(start: str) -> bool:
            frontier, seen = {(start, 0)}, set()
            while frontier:
                node, depth = frontier.pop()
                for nxt in graph[node]:
                    if nxt == start and depth >= 2:
                        return True
                    if (nxt, depth + 1) not in seen and depth < 6:
                        seen.add((nxt, depth + 1))
                        frontier.add((nxt, depth + 1))
            return False
        assert any(back(a) for a in graph)


def test_echo_chain_replies_answer_their_parent_in_one_thread(stream) -> None:
    for evs in incidents(stream, "echo_chain"):
        post = [e for e in evs if e["type"] == "post"]
        assert len(post) == 1
        comments = [e for e in evs if e["type"] == "comment"]
        assert len(comments) >= 3
        assert {e["post_id"] for e in comments} == {post[0]["event_id"]}


def test_self_repetition_is_one_agent(stream) -> None:
    for evs in incidents(stream, "self_repetition"):
        assert len({e["agent_id"] for e in evs}) == 1 and len(evs) >= 5


def test_benign_debate_has_distinct_messages(stream) -> None:
    for evs in incidents(stream, "lively_debate"):
        texts = [e["text"] for e in evs]
        assert len(set(texts)) == len(texts)
        assert len({e["agent_id"] for e in evs}) == 2


def test_no_incidents_gives_a_benign_stream() -> None:
    cfg = SimConfig(seed=2, agents=200, events=1000)
    cfg.mix = {}
    sim = Simulation(cfg)
    events = list(sim.stream())
    assert len(events) == 1000 and sim.labels == []


def test_cli_writes_events_and_labels(tmp_path: Path) -> None:
    out = tmp_path / "sim.jsonl"
    r = subprocess.run([sys.executable, "-m", "flockwatch", "simulate", "--seed", "9", "--agents", "100",
                        "--events", "800", "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    labels = [json.loads(x) for x in (tmp_path / "sim.labels.jsonl").read_text().splitlines()]
    ids = {json.loads(x)["event_id"] for x in lines}
    assert len(lines) == 800 + sum(len(lab["event_ids"]) for lab in labels)
    assert labels and all(set(lab["event_ids"]) <= ids for lab in labels)
