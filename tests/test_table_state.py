"""The worker's state backend: per-rule views over one table, changelog records
deferred until `flush()`, each key pinned to one changelog partition."""

from __future__ import annotations

import json

from flockwatch.worker.table_state import SEP, TableState


def decoded(records):  # type: ignore[no-untyped-def]
    return [(p, json.loads(k), None if v is None else json.loads(v)) for p, k, v in records]


def restored(data: dict, key: str, partition: int, value: object) -> None:
    """What changelog recovery does: the record's raw key and value bytes into the store."""
    data[json.dumps(key).encode()] = json.dumps([partition, value]).encode()


def test_writes_are_visible_at_once_but_changelogged_only_on_flush() -> None:
    data: dict = {}
    state = TableState(data)
    view = state.for_rule("r1")
    state.partition = 2
    view["agent-1"] = {"n": 1}
    assert view["agent-1"] == {"n": 1}  # later events in the batch see it
    assert state.pending == 1
    assert decoded(state.flush()) == [(2, f"r1{SEP}agent-1", [2, {"n": 1}])]
    assert state.flush() == []  # nothing changed since


def test_many_writes_to_one_key_in_a_batch_give_one_record_with_the_last_value() -> None:
    state = TableState({})
    view = state.for_rule("r1")
    for n in range(5):
        view["k"] = n
    assert decoded(state.flush()) == [(0, f"r1{SEP}k", [0, 4])]


def test_a_key_keeps_the_partition_that_first_wrote_it() -> None:
    state = TableState({})
    view = state.for_rule("r1")
    state.partition = 1
    view["k"] = "a"
    state.flush()
    state.partition = 3  # an event from another partition updates the same key
    view["k"] = "b"
    assert decoded(state.flush()) == [(1, f"r1{SEP}k", [1, "b"])]


def test_delete_sends_a_tombstone_to_the_keys_partition() -> None:
    state = TableState({})
    view = state.for_rule("r1")
    state.partition = 3
    view["k"] = 1
    state.flush()
    state.partition = 0
    del view["k"]
    assert "k" not in view and len(view) == 0
    assert state.flush() == [(3, json.dumps(f"r1{SEP}k").encode(), None)]


def test_rules_do_not_see_each_others_keys() -> None:
    state = TableState({})
    a, b = state.for_rule("a"), state.for_rule("b")
    a["x"] = 1
    b["y"] = 2
    assert list(a) == ["x"] and list(b) == ["y"]
    assert "y" not in a and len(a) == 1
    assert state.for_rule("a") is a


def test_restored_keys_reach_the_rules_at_the_next_sync_and_are_not_resent() -> None:
    data: dict = {}
    state = TableState(data)
    view = state.for_rule("r1")
    assert len(view) == 0
    restored(data, f"r1{SEP}restored", 2, {"events": []})  # what changelog recovery does
    restored(data, f"r2{SEP}other", 1, 5)
    assert state.sync() == 2
    assert list(view) == ["restored"] and view["restored"] == {"events": []}
    assert state.for_rule("r2")["other"] == 5
    assert state.pending == 0  # restored keys are not re-sent
    assert data == {}  # taken, so a later recovery cannot bring back older values
    view["restored"] = {"events": [1]}
    assert decoded(state.flush()) == [(2, f"r1{SEP}restored", [2, {"events": [1]}])]  # its restored partition


def test_a_later_recovery_does_not_revive_a_key_deleted_since() -> None:
    data: dict = {}
    restored(data, f"r1{SEP}k", 0, 1)
    state = TableState(data)  # a store that already holds restored keys
    view = state.for_rule("r1")
    assert view["k"] == 1
    del view["k"]
    restored(data, f"r1{SEP}new", 1, 2)  # the next rebalance restores another partition only
    state.sync()
    assert dict(view) == {"new": 2}


def test_keys_restored_after_a_sync_are_taken_by_the_next_one() -> None:
    data: dict = {}
    state = TableState(data)
    view = state.for_rule("r1")
    restored(data, f"r1{SEP}first", 0, 1)  # recovery has begun when a batch runs
    assert state.sync() == 1
    restored(data, f"r1{SEP}second", 0, 2)  # and goes on writing after it
    assert state.sync() == 1 and dict(view) == {"first": 1, "second": 2}
    assert state.sync() == 0


def test_restored_keys_of_a_rule_not_yet_seen_wait_for_it() -> None:
    data: dict = {}
    restored(data, f"late{SEP}k", 3, "v")
    state = TableState(data)
    state.sync()
    assert state.for_rule("late") == {"k": "v"}


def test_every_writing_method_is_changelogged() -> None:
    state = TableState({})
    view = state.for_rule("r1")
    view.update({"a": 1}, b=2)
    view.setdefault("c", 3)
    assert view.setdefault("c", 9) == 3
    assert view.pop("a") == 1 and view.pop("missing", None) is None
    assert decoded(state.flush()) == [(0, f"r1{SEP}a", None), (0, f"r1{SEP}b", [0, 2]), (0, f"r1{SEP}c", [0, 3])]
    assert view.popitem() == ("c", 3)
    view.clear()
    assert view == {} and decoded(state.flush()) == [(0, f"r1{SEP}c", None), (0, f"r1{SEP}b", None)]


def test_each_writer_flushes_only_its_own_changes() -> None:
    state = TableState({})
    view = state.for_rule("r1")
    view["mine"] = 1
    state.writer = "keyed"
    view["theirs"] = 2
    later = state.for_rule("r2")  # a view made while "keyed" writes belongs to it too
    later["x"] = 3
    state.writer = ""
    assert decoded(state.flush()) == [(0, f"r1{SEP}mine", [0, 1])]
    assert decoded(state.flush("keyed")) == [(0, f"r1{SEP}theirs", [0, 2]), (0, f"r2{SEP}x", [0, 3])]


def test_garbage_collection_can_delete_while_iterating() -> None:
    state = TableState({})
    view = state.for_rule("r1")
    for i in range(10):
        view[f"k{i}"] = i
    for k in list(view):
        if view[k] % 2:
            del view[k]
    assert sorted(view) == [f"k{i}" for i in range(0, 10, 2)]


def test_revoked_partitions_are_forgotten_without_changelog_records() -> None:
    state = TableState({})
    view = state.for_rule("r1")
    state.partition = 0
    view["mine"] = 1
    state.partition = 2
    view["theirs"] = 2
    state.flush()
    view["theirs"] = 3  # a change made by a batch that was not committed before the rebalance
    assert state.drop_partitions({2}) == 1
    assert list(view) == ["mine"] and "theirs" not in view
    assert state.flush() == []  # no tombstone, no stale value for the new owner's key


def test_get_reads_one_rules_value_and_defaults_for_missing_keys() -> None:
    state = TableState({})
    a, b = state.for_rule("r1"), state.for_rule("r2")
    a["k"] = {"n": 1}
    assert a.get("k") == {"n": 1} and a.get("missing") is None and a.get("missing", 7) == 7
    assert b.get("k") is None  # another rule's key of the same name
    del a["k"]
    assert a.get("k", "gone") == "gone"


def test_items_are_one_rules_own() -> None:
    state = TableState({})
    a, b = state.for_rule("r1"), state.for_rule("r2")
    a["x"], a["y"], b["x"] = 1, 2, 3
    assert sorted(a.items()) == [("x", 1), ("y", 2)] and list(b.items()) == [("x", 3)]
    del a["x"]
    assert dict(a.items()) == {"y": 2}


def test_what_one_worker_flushes_another_restores_exactly() -> None:
    # Recovery puts the changelog's raw bytes into the store (the table is raw, see
    # state_encoding); sync decodes them. A near-duplicate record's 256-bit MinHash
    # signature must come back an int, equal: read as a float (orjson's way), the first
    # comparison after a restart raised.
    sig = (1 << 255) + 12345
    record = (1769774400.015, "ev1", "agent-1", None, (3, 1, 2), "sample «ü»", sig)
    writer = TableState({})
    writer.partition = 3
    writer.for_rule("cascades.near_duplicate_spam")["minhash:0:abc"] = {"t": 1769774400.015, "ev": (record,),
                                                                          "inc": None}
    writer.for_rule("baseline.post_flood")["agent-1"] = {"t": 1.5, "ev": (), "inc": {"n": 2}}
    store: dict = {key: value for _, key, value in writer.flush()}
    assert all(type(k) is bytes and type(v) is bytes for k, v in store.items())
    reader = TableState(store)
    assert reader.sync() == 2
    got = reader.for_rule("cascades.near_duplicate_spam")["minhash:0:abc"]
    restored = got["ev"][0]
    assert restored[6] == sig and type(restored[6]) is int
    assert restored[0] == record[0] and restored[5] == record[5]
    assert reader.for_rule("baseline.post_flood")["agent-1"]["inc"] == {"n": 2}
    reader.for_rule("baseline.post_flood")["agent-1"] = 1
    assert [p for p, _, _ in reader.flush()] == [3]  # a restored key keeps its partition
