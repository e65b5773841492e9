"""Alert.merge: how two versions of one incident combine (collector, store, replays)."""

from __future__ import annotations

import pytest

from flockwatch.alerts.alert import MAX_IDS, Alert


def alert(**kw: object) -> Alert:
    base: dict[str, object] = dict(
        alert_id="a1", fingerprint="fp", rule_id="r", pack="p", pack_version="1.0.0", category="spam_cascade",
        severity="medium", title="t", summary="3 agents", tags=["x"], event_ids=["e1", "e2", "e3"],
        agent_ids=["a", "b", "c"], count=3, first_ts="2026-01-01T00:00:00.000Z",
        last_ts="2026-01-01T00:01:00.000Z", evidence={"samples": ["s1"]})
    base.update(kw)
    return Alert(**base)  # type: ignore[arg-type]


def test_merging_a_copy_changes_nothing() -> None:
    a = alert()
    assert a.merge(a) == a
    assert a.merge(a.model_copy()).model_dump() == a.model_dump()


def test_a_grown_version_wins_its_fields_and_ids_are_united_in_first_seen_order() -> None:
    old = alert()
    new = alert(event_ids=["e2", "e3", "e4"], agent_ids=["d", "a"], count=4,
                last_ts="2026-01-01T00:02:00.000Z", summary="4 agents", severity="high", evidence={"samples": ["s2"]})
    for m in (old.merge(new), new.merge(old)):  # order of arrival does not matter
        assert m.event_ids[:3] in (["e1", "e2", "e3"], ["e2", "e3", "e4"])
        assert set(m.event_ids) == {"e1", "e2", "e3", "e4"} and len(m.event_ids) == 4
        assert set(m.agent_ids) == {"a", "b", "c", "d"}
        assert m.count == 4 and m.summary == "4 agents" and m.evidence == {"samples": ["s2"]}
        assert m.severity == "high" and m.alert_id == "a1"
        assert m.first_ts == "2026-01-01T00:00:00.000Z" and m.last_ts == "2026-01-01T00:02:00.000Z"
        assert Alert.model_validate(m.model_dump()) == m  # still a valid alert


def test_count_is_at_least_the_distinct_events_seen() -> None:
    a = alert(event_ids=["e1", "e2"], count=2)
    b = alert(event_ids=["e3", "e4"], count=2)
    assert a.merge(b).count == 4


def test_ids_are_capped_but_the_count_is_kept() -> None:
    a = alert(event_ids=[f"a{i}" for i in range(MAX_IDS)], count=MAX_IDS)
    b = alert(event_ids=[f"b{i}" for i in range(10)], count=10, last_ts="2026-01-01T00:09:00.000Z")
    m = a.merge(b)
    assert len(m.event_ids) == MAX_IDS and m.event_ids[0] == "a0"
    assert m.count == MAX_IDS + 10


def test_different_incidents_do_not_merge() -> None:
    with pytest.raises(ValueError):
        alert().merge(alert(fingerprint="other"))


def test_the_earlier_start_keeps_its_alert_id() -> None:
    early = alert(alert_id="early", first_ts="2025-12-31T23:59:00.000Z")
    late = alert(alert_id="late")
    assert early.merge(late).alert_id == late.merge(early).alert_id == "early"
