"""The alert store on SQLite and on the real PostgreSQL server: idempotent upserts,
incident growth, and concurrent writers."""

from __future__ import annotations

import threading

import pytest

from flockwatch.alerts.alert import Alert, alert_id_of, fingerprint_of
from flockwatch.store.alert_store import AlertStore


def make_alert(key: str, event_ids: list[str], last: str = "2026-01-30T12:00:00.000Z", count: int | None = None,
               severity: str = "high") -> Alert:
    fp = fingerprint_of("r.test", key)
    return Alert(
        alert_id=alert_id_of(fp, event_ids[0]), fingerprint=fp, rule_id="r.test", pack="p", pack_version="1.0.0",
        category="other", severity=severity, title="t", summary=f"s {len(event_ids)}", tags=["x"],
        event_ids=event_ids, agent_ids=["a1"], count=count or len(event_ids),
        first_ts="2026-01-30T12:00:00.000Z", last_ts=last, evidence={"k": key},
    )


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "sqlite":
        yield AlertStore(f"sqlite:///{tmp_path}/alerts.db")
    else:
        pg_url = request.getfixturevalue("pg_url")
        yield AlertStore(pg_url)


def test_insert_then_replay_is_a_no_op(store):
    a = make_alert("k1", ["e1"])
    first = store.upsert([a])
    assert [(s.created, s.changed, s.version) for s in first] == [(True, True, 1)]
    again = store.upsert([a])
    assert [(s.created, s.changed, s.version) for s in again] == [(False, False, 1)]
    assert store.count() == 1
    assert store.get(a.fingerprint) == a


def test_growing_incident_updates_one_row(store):
    store.upsert([make_alert("k", ["e1", "e2"])])
    grown = make_alert("k", ["e1", "e2", "e3"], last="2026-01-30T12:05:00.000Z", severity="critical")
    [res] = store.upsert([grown])
    assert (res.created, res.changed, res.version) == (False, True, 2)
    got = store.get(grown.fingerprint)
    assert got.event_ids == ["e1", "e2", "e3"] and got.count == 3
    assert got.last_ts == "2026-01-30T12:05:00.000Z" and got.severity == "critical"
    # an older version arriving late (replay) does not shrink the incident
    store.upsert([make_alert("k", ["e1"])])
    assert store.get(grown.fingerprint).count == 3
    assert store.count() == 1


def test_batch_with_duplicates_and_filters(store):
    res = store.upsert([make_alert("a", ["e1"]), make_alert("b", ["e2"]), make_alert("a", ["e1"])])
    assert len(res) == 2 and store.count() == 2
    assert {a.evidence["k"] for a in store.list(category="other")} == {"a", "b"}
    assert store.list(severity="low") == []
    assert store.counts_by("category", "severity") == [("other", "high", 2)]


def test_concurrent_writers_same_fingerprint(store):
    # Two workers storing the same incident at the same time must end with one row
    # holding the union of what both saw.
    errors: list[Exception] = []

    def write(ids: list[str]) -> None:
        try:
            for i in range(10):
                store.upsert([make_alert("shared", ids + [f"{ids[0]}-{i}"])])
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=write, args=([f"w{n}"],)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.count() == 1
    got = store.get(fingerprint_of("r.test", "shared"))
    assert {"w0", "w1", "w0-9", "w1-9"} <= set(got.event_ids)



def _race(store, batches: list[list[list[Alert]]]) -> list[Exception]:
    """Writer n stores batches[n][r] in round r, all writers at the same moment."""
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time")
    errors: list[Exception] = []
    barrier = threading.Barrier(len(batches))

    def write(mine: list[list[Alert]]) -> None:
        for batch in mine:
            barrier.wait()
            try:
                store.upsert(batch)
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

    threads = [threading.Thread(target=write, args=(mine,)) for mine in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_writers_same_new_alert(store):
    # Workers that saw the same first event build the very same alert (same alert_id, the
    # primary key): the losers of the insert race must merge into the row, not fail on the key.
    rounds = [[make_alert(f"same-{r}", [f"e{r}"])] for r in range(300)]
    errors = _race(store, [rounds] * 4)
    assert errors == []
    assert store.count() == 300


def test_concurrent_writers_batches_in_different_orders(store):
    # Batches holding the same new incidents in other orders must not deadlock.
    import random

    def batches(n: int) -> list[list[Alert]]:
        out = []
        for r in range(200):
            batch = [make_alert(f"b{r}-{k}", [f"b{r}-{k}-w{n}"]) for k in range(6)]
            random.Random(n * 1000 + r).shuffle(batch)
            out.append(batch)
        return out

    errors = _race(store, [batches(n) for n in range(4)])
    assert errors == []
    assert store.count() == 1200


# -- the change sequence ---------------------------------------------------------------

def _seqs(store) -> dict[str, int]:
    from sqlalchemy import text

    with store.engine.connect() as conn:
        return {r.fingerprint: r.seq for r in conn.execute(text("SELECT fingerprint, seq FROM alerts"))}


def test_every_change_of_an_alert_takes_the_next_sequence_number(store):
    # `seq` is what `GET /api/v1/alerts?order=changes` pages by: every committed change of
    # an alert (stored, grown, acknowledged, resolved, reopened) gives it a number above
    # every number committed before; a replay that changes nothing keeps its number.
    from flockwatch.notify.notifier import Notifier
    from flockwatch.store.lifecycle import transition

    notifier = Notifier(engine=store.engine)
    a, b = make_alert("a", ["e1"]), make_alert("b", ["e2"])
    notifier.enqueue(store.upsert([a]))
    assert _seqs(store) == {a.fingerprint: 1}
    notifier.enqueue(store.upsert([a]))  # replay: nothing changed
    assert _seqs(store) == {a.fingerprint: 1}
    notifier.enqueue(store.upsert([make_alert("a", ["e1", "e3"], last="2026-01-30T12:01:00.000Z"), b]))
    assert _seqs(store) == {a.fingerprint: 2, b.fingerprint: 2}  # one number per transaction
    transition(store.engine, b.fingerprint, "acknowledged", "ana")
    transition(store.engine, b.fingerprint, "acknowledged", "ana")  # no-op: no number
    assert _seqs(store) == {a.fingerprint: 2, b.fingerprint: 3}
    transition(store.engine, a.fingerprint, "resolved", "ana")
    assert _seqs(store)[a.fingerprint] == 4
    notifier.enqueue(store.upsert([make_alert("a", ["e1", "e3", "e4"], last="2026-01-30T12:02:00.000Z")]))
    assert _seqs(store)[a.fingerprint] == 6  # grown (5), then reopened by the notifier (6)
    with store.engine.connect() as conn:
        from sqlalchemy import text

        assert conn.execute(text("SELECT status FROM alerts WHERE fingerprint = :f"),
                            {"f": a.fingerprint}).scalar_one() == "firing"


def test_sequence_numbers_are_taken_in_commit_order(store):
    # A reader that has seen number N must never later find a change numbered below N
    # committed after it looked, or a feed paging by number would skip it for good. A
    # database sequence (nextval) does not promise that: two writers take 10 and 11,
    # 11 commits first, a reader pages past 11, then 10 commits. The counter row is
    # locked until the taking transaction ends, so numbers are handed out in commit order.
    from flockwatch.store.sequence import next_seq

    first = store.engine.connect()
    tx = first.begin()
    n = next_seq(first)
    got: list[int] = []

    def second() -> None:
        with store.engine.begin() as conn:
            got.append(next_seq(conn))

    t = threading.Thread(target=second)
    t.start()
    t.join(0.5)
    assert t.is_alive() and got == []  # waits for the first transaction to end
    tx.commit()
    t.join(10)
    first.close()
    assert got == [n + 1]
    # A rolled-back number is handed out again: no gap a reader could wait on.
    with store.engine.connect() as conn:
        with conn.begin() as tx:
            assert next_seq(conn) == n + 2
            tx.rollback()
    with store.engine.begin() as conn:
        assert next_seq(conn) == n + 2


def test_a_store_created_before_the_sequence_is_upgraded_in_place(store):
    # Stores already in production have an alerts table without `seq`: opening one adds
    # the column (0 for the alerts already there, which sort first in the change feed)
    # and its index, and changes from then on are numbered.
    from sqlalchemy import inspect, text

    old = make_alert("old", ["e1"])
    store.upsert([old])
    with store.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_alerts_seq"))
        conn.execute(text("ALTER TABLE alerts DROP COLUMN seq"))
        conn.execute(text("DROP TABLE alert_sequence"))
    assert "seq" not in {c["name"] for c in inspect(store.engine).get_columns("alerts")}
    reopened = AlertStore(engine=store.engine)
    AlertStore(engine=store.engine)  # again: nothing left to do, no error
    assert "seq" in {c["name"] for c in inspect(store.engine).get_columns("alerts")}
    assert "ix_alerts_seq" in {i["name"] for i in inspect(store.engine).get_indexes("alerts")}
    new = make_alert("new", ["e2"])
    reopened.upsert([new])
    assert _seqs(reopened) == {old.fingerprint: 0, new.fingerprint: 1}
    assert reopened.get(old.fingerprint) == old
    # Should the counter row ever go missing, numbering goes on above every number in use.
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM alert_sequence"))
    reopened.upsert([make_alert("newer", ["e3"])])
    assert _seqs(reopened)[fingerprint_of("r.test", "newer")] == 2


def test_opening_an_up_to_date_store_needs_no_write_lock(tmp_path):
    # A worker starting while another process holds a long write (the crash test holds
    # BEGIN EXCLUSIVE) must still open the store; seeding the change counter on every
    # open made it fail with "database is locked".
    import sqlite3

    path = tmp_path / "a.db"
    AlertStore(f"sqlite:///{path}").upsert([make_alert("x", ["e1"])])
    lock = sqlite3.connect(path, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        reopened = AlertStore(f"sqlite:///{path}")
    finally:
        lock.rollback()
        lock.close()
    assert reopened.count() == 1
