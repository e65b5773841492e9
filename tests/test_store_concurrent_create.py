"""Several processes opening one empty PostgreSQL store at once (a Helm rollout of three
workers, the notifier and the API on a new database) must all succeed."""

from __future__ import annotations

import threading

from flockwatch.store.alert_store import AlertStore


def test_processes_opening_an_empty_store_together_all_succeed(pg_url: str) -> None:
    # Before: they raced on CREATE TABLE / CREATE INDEX, and the losers failed with
    # UniqueViolation (pg_type / pg_class) tracebacks; a worker then crash-looped once.
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def open_store() -> None:
        try:
            start.wait()
            AlertStore(pg_url).engine.dispose()
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    for _ in range(3):  # the race is timing-dependent: three rounds on fresh tables
        with AlertStore(pg_url).engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alerts, alert_sequence, alert_history, notify_inbox, "
                                 "notify_groups, notify_group_members, notify_outbox, notify_outbox_alerts, "
                                 "notify_attempts, notify_leases, silences CASCADE")
        threads = [threading.Thread(target=open_store) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert AlertStore(pg_url).count() == 0
