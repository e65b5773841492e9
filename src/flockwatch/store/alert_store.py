"""Idempotent alert storage.

`upsert` merges each alert into the row with its fingerprint (or inserts it) inside
one transaction. Storing the same alert again changes nothing, so the worker can
replay a batch after a crash without writing duplicates; two workers racing on a
new fingerprint resolve through the unique index (insert-or-ignore, then merge).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session

from flockwatch.alerts.alert import Alert
from flockwatch.alerts.collector import AlertCollector
from flockwatch.store.database import create_tables, make_engine
from flockwatch.store.sequence import stamp
from flockwatch.store.tables import AlertRecord, utcnow

_ALERT_FIELDS = tuple(Alert.model_fields)


@dataclass(frozen=True)
class StoredAlert:
    alert: Alert
    created: bool  # a new incident
    changed: bool  # created, or an existing incident grew/changed
    version: int


def record_to_alert(row: AlertRecord) -> Alert:
    return Alert(**{f: getattr(row, f) for f in _ALERT_FIELDS})


class AlertStore:
    def __init__(self, url: str | None = None, engine: Engine | None = None):
        self.engine = engine or make_engine(url)
        create_tables(self.engine)
        self._insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert

    def upsert(self, alerts: Iterable[Alert]) -> list[StoredAlert]:
        batch = AlertCollector()
        batch.add(alerts)
        merged = batch.alerts()
        if not merged:
            return []
        out: list[StoredAlert] = []
        with Session(self.engine) as session:
            fps = [a.fingerprint for a in merged]
            # Claim new fingerprints first; a concurrent writer's row wins and is merged below.
            # No conflict target: two workers that saw the same first event insert the same
            # alert_id (the primary key) too, and a conflict on a key that is not the target
            # is an error on PostgreSQL, not "do nothing".
            # Rows are inserted and locked in fingerprint order: two writers taking the same
            # rows in different orders (first-seen order differs per batch) deadlock.
            stmt = self._insert(AlertRecord.__table__).values(
                [_row_values(a) for a in sorted(merged, key=lambda a: a.fingerprint)]
            ).on_conflict_do_nothing()
            session.execute(stmt)
            query = select(AlertRecord).where(AlertRecord.fingerprint.in_(fps)).order_by(AlertRecord.fingerprint)
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update()
            rows = {r.fingerprint: r for r in session.execute(query).scalars()}
            changed: list[AlertRecord] = []
            for alert in merged:
                row = rows[alert.fingerprint]
                if row.version == 0:  # inserted by this transaction
                    row.version = 1
                    changed.append(row)
                    out.append(StoredAlert(alert, True, True, 1))
                    continue
                current = record_to_alert(row)
                combined = current.merge(alert)
                if combined == current:
                    out.append(StoredAlert(current, False, False, row.version))
                    continue
                for f in _ALERT_FIELDS:
                    setattr(row, f, getattr(combined, f))
                row.version += 1
                row.updated_at = utcnow()
                changed.append(row)
                out.append(StoredAlert(combined, False, True, row.version))
            if changed:
                # Last, with every row of the batch locked and written: the counter is
                # held from here to the commit (store/sequence.py).
                session.flush()
                stamp(session.connection(), [row.fingerprint for row in changed])
            session.commit()
        return out

    def get(self, fingerprint: str) -> Alert | None:
        with Session(self.engine) as session:
            row = session.execute(
                select(AlertRecord).where(AlertRecord.fingerprint == fingerprint)
            ).scalar_one_or_none()
            return record_to_alert(row) if row else None

    def list(self, *, category: str | None = None, severity: str | None = None, rule_id: str | None = None,
             limit: int = 100, offset: int = 0) -> list[Alert]:
        query = select(AlertRecord).order_by(AlertRecord.last_ts.desc()).limit(limit).offset(offset)
        if category:
            query = query.where(AlertRecord.category == category)
        if severity:
            query = query.where(AlertRecord.severity == severity)
        if rule_id:
            query = query.where(AlertRecord.rule_id == rule_id)
        with Session(self.engine) as session:
            return [record_to_alert(r) for r in session.execute(query).scalars()]

    def count(self) -> int:
        with Session(self.engine) as session:
            return int(session.execute(select(func.count()).select_from(AlertRecord)).scalar_one())

    def fingerprints(self) -> set[str]:
        with Session(self.engine) as session:
            return set(session.execute(select(AlertRecord.fingerprint)).scalars())

    def counts_by(self, *columns: str) -> Sequence[tuple]:
        cols = [getattr(AlertRecord, c) for c in columns]
        with Session(self.engine) as session:
            return list(session.execute(select(*cols, func.count()).group_by(*cols).order_by(*cols)).all())


def _row_values(a: Alert) -> dict:
    now = utcnow()
    values = a.model_dump()
    # version 0 marks "inserted by this transaction"; upsert sets it to 1 before commit.
    values.update(status="firing", version=0, created_at=now, updated_at=now, seq=0)
    return values
