"""Bridge state on SQLite and on PostgreSQL: the ledger that makes emission exactly-once."""

import pytest

from flockwatch.bridge.state import BridgeSnapshot, BridgeState, BridgeTrackedPost, StateChanges


@pytest.fixture(params=["sqlite", "postgresql"])
def state(request, tmp_path):
    if request.param == "sqlite":
        return BridgeState(f"sqlite:///{tmp_path}/bridge.db")
    return BridgeState(request.getfixturevalue("pg_url"))


def test_batch_ledger_commit_marks_seen_and_applies_changes_together(state):
    assert state.pending() is None and state.seen(["post:1"]) == set()
    state.begin("b1", {"offsets": {"0": 7}}, {"post:1": 100.0, "comment:2": 101.0})
    pending = state.pending()
    assert pending.batch_id == "b1" and pending.position == {"offsets": {"0": 7}}
    assert pending.keys == {"post:1": 100.0, "comment:2": 101.0}
    assert state.seen(["post:1"]) == set()  # produced is not yet recorded
    changes = StateChanges(cursors={"c": "123.5"},
                           tracked=[BridgeTrackedPost(post_id="1", created_ts=100.0, next_poll_at=5.0)])
    state.commit("b1", pending.keys, changes)
    assert state.pending() is None
    assert state.seen(["post:1", "comment:2", "post:3"]) == {"post:1", "comment:2"}
    assert state.cursor("c") == "123.5"
    assert [t.post_id for t in state.due_posts(now=10.0, limit=5)] == ["1"]
    assert state.due_posts(now=1.0, limit=5) == []


def test_recovery_commit_of_a_subset_and_idempotent_seen(state):
    state.begin("b2", {"size": 10}, {"post:a": 1.0, "post:b": 2.0})
    state.commit("b2", {"post:a": 1.0})  # only `a` had landed
    state.commit(None, {"post:a": 1.0})  # marking again is harmless
    assert state.seen(["post:a", "post:b"]) == {"post:a"} and state.pending() is None


def test_seen_handles_more_ids_than_one_query_takes(state):
    keys = {f"comment:{i}": float(i) for i in range(1234)}
    state.commit(None, keys)
    assert len(state.seen(list(keys) + ["comment:x"])) == 1234


def test_snapshots_tracked_posts_and_pruning(state):
    state.apply(StateChanges(snapshots=[BridgeSnapshot(kind="community", key="general"),
                                        BridgeSnapshot(kind="agent", key="a-1", name="Stu", digest="d1",
                                                       revision=1, checked_at=50.0)]))
    assert [s.key for s in state.stale_snapshots("community", older_than=0.0, limit=5)] == ["general"]
    assert state.stale_snapshots("agent", older_than=10.0, limit=5) == []
    snap = state.snapshot("agent", "a-1")
    assert (snap.digest, snap.revision, snap.name) == ("d1", 1, "Stu")
    state.apply(StateChanges(tracked=[BridgeTrackedPost(post_id="p", next_poll_at=1.0)]))
    state.apply(StateChanges(untracked=["p"]))
    assert state.tracked(["p"]) == {}
    state.commit(None, {"post:old": 10.0, "post:new": 1000.0, "agent:a:h": 10.0})
    assert state.prune_seen(before_ts=500.0) == 1
    assert state.seen(["post:old", "post:new", "agent:a:h"]) == {"post:new", "agent:a:h"}


def test_state_survives_a_new_connection(tmp_path):
    url = f"sqlite:///{tmp_path}/s.db"
    BridgeState(url).commit(None, {"post:1": 1.0}, StateChanges(cursors={"x": "1"}))
    again = BridgeState(url)
    assert again.seen(["post:1"]) == {"post:1"} and again.cursor("x") == "1"


def test_pruning_a_large_backlog_goes_in_bounded_transactions(state):
    # The first prune after an upgrade may forget millions of ids; in one transaction it
    # held the write lock (and grew PostgreSQL's WAL) for all of them.
    from sqlalchemy import event

    state.commit(None, {**{f"post:{n}": float(n) for n in range(10)}, **{f"comment:{n}": float(n) for n in range(4)},
                        "post:keep": 900.0})
    commits: list[int] = []
    event.listen(state.engine, "commit", lambda conn: commits.append(1))
    assert state.prune_seen(before_ts=500.0, batch=3) == 14
    assert len(commits) == 4 + 2  # posts 3+3+3+1, comments 3+1: no transaction over 3 rows
    assert state.seen([f"post:{n}" for n in range(10)] + ["post:keep", "comment:0"]) == {"post:keep"}
