"""The bridge's persisted state, in the same SQL database as the alert store.

Exactly-once emission rests on four tables:
- `bridge_seen`: every event id (and dead-letter key) already emitted; a restart or a
  growing comment tree re-reads objects, and this set makes re-reading harmless;
- `bridge_batch` + `bridge_pending`: the batch being produced right now and where the
  sink ended before it. A crash between "produced" and "recorded as seen" leaves a
  pending batch; on restart the sink is asked which of its ids actually landed
  (`sinks.EventSink.landed`) and only the rest are produced again;
- `bridge_cursor`: how far the `sort=new` walk got (newest post time), plus
  `bridge_tracked_post` (posts whose comment trees are re-polled, with their schedule)
  and `bridge_snapshot` (last seen hash of each agent profile / community description).

A batch's "seen" rows and its cursor/schedule/snapshot changes commit in ONE
transaction, so the cursor never moves past events that were not recorded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Field, Session, SQLModel

from flockwatch.store.database import make_engine  # same URL, default and pragmas as the alert store
from flockwatch.store.tables import utcnow

_CHUNK = 500  # ids per IN (...) query: well under SQLite's and PostgreSQL's limits
PRUNE_BATCH = _CHUNK  # ids forgotten per transaction (see BridgeState.prune_seen)


class BridgeSeen(SQLModel, table=True):
    __tablename__ = "bridge_seen"

    key: str = Field(primary_key=True, max_length=320)
    ts: float = Field(default=0.0, index=True)  # event time (epoch s), for pruning
    emitted_at: datetime = Field(default_factory=utcnow)


class BridgeBatch(SQLModel, table=True):
    __tablename__ = "bridge_batch"

    batch_id: str = Field(primary_key=True, max_length=64)
    position: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    changes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    started_at: datetime = Field(default_factory=utcnow)


class BridgePending(SQLModel, table=True):
    __tablename__ = "bridge_pending"

    key: str = Field(primary_key=True, max_length=320)
    batch_id: str = Field(index=True, max_length=64)
    ts: float = 0.0


class BridgeCursor(SQLModel, table=True):
    __tablename__ = "bridge_cursor"

    name: str = Field(primary_key=True, max_length=128)
    value: str = Field(max_length=512)
    updated_at: datetime = Field(default_factory=utcnow)


class BridgeTrackedPost(SQLModel, table=True):
    __tablename__ = "bridge_tracked_post"

    post_id: str = Field(primary_key=True, max_length=128)
    created_ts: float = 0.0  # post time (epoch s); tracking ends a fixed time after it
    community: str | None = Field(default=None, max_length=128)
    comment_count: int = 0  # comments emitted so far
    next_poll_at: float = Field(default=0.0, index=True)  # wall clock (epoch s)
    interval: float = 0.0
    polls: int = 0


class BridgeSnapshot(SQLModel, table=True):
    __tablename__ = "bridge_snapshot"

    kind: str = Field(primary_key=True, max_length=16)  # agent | community
    key: str = Field(primary_key=True, max_length=256)  # agent id | community name
    name: str | None = Field(default=None, max_length=256)  # agent name (profiles are fetched by name)
    digest: str = Field(default="", max_length=64)  # "" = known to exist, not yet fetched
    revision: int = 0  # versions emitted so far
    checked_at: float = 0.0  # wall clock of the last fetch


TABLES = [t.__table__ for t in (BridgeSeen, BridgeBatch, BridgePending, BridgeCursor,  # type: ignore[attr-defined]
                                BridgeTrackedPost, BridgeSnapshot)]


@dataclass
class StateChanges:
    """What a batch changes besides the seen set; committed with it atomically."""

    cursors: dict[str, str] = field(default_factory=dict)
    tracked: list[BridgeTrackedPost] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)
    snapshots: list[BridgeSnapshot] = field(default_factory=list)
    # snapshot (kind, key) -> id of the event announcing it: after a crash the snapshot
    # may only be recorded if that event really was produced
    announced_by: dict[tuple[str, str], str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.cursors or self.tracked or self.untracked or self.snapshots)

    def to_json(self) -> dict[str, Any]:
        return {
            "cursors": self.cursors,
            "tracked": [t.model_dump() for t in self.tracked],
            "untracked": self.untracked,
            "snapshots": [{**s.model_dump(), "event_id": self.announced_by.get((s.kind, s.key))}
                          for s in self.snapshots],
        }

    @classmethod
    def landed_part(cls, doc: dict[str, Any], landed: set[str]) -> StateChanges:
        """The changes of an interrupted batch that its landed events justify."""
        snapshots = [s for s in doc.get("snapshots", []) if s.pop("event_id", None) in landed | {None}]
        return cls(
            cursors=dict(doc.get("cursors", {})),
            tracked=[BridgeTrackedPost(**t) for t in doc.get("tracked", [])],
            untracked=list(doc.get("untracked", [])),
            snapshots=[BridgeSnapshot(**s) for s in snapshots],
        )


@dataclass
class PendingBatch:
    batch_id: str
    position: dict[str, Any]
    keys: dict[str, float]  # key -> event time
    changes: dict[str, Any]  # StateChanges.to_json()


class BridgeState:
    def __init__(self, engine: Engine | str | None = None):
        self.engine = engine if isinstance(engine, Engine) else make_engine(engine)
        SQLModel.metadata.create_all(self.engine, tables=TABLES)
        self._insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert

    # -- seen set -------------------------------------------------------------------
    def seen(self, keys: Iterable[str]) -> set[str]:
        keys = list(dict.fromkeys(keys))
        found: set[str] = set()
        with Session(self.engine) as s:
            for i in range(0, len(keys), _CHUNK):
                chunk = keys[i:i + _CHUNK]
                found.update(s.execute(select(BridgeSeen.key).where(BridgeSeen.key.in_(chunk))).scalars())
        return found

    def _mark_seen(self, s: Session, keys: dict[str, float]) -> None:
        rows = [{"key": k, "ts": ts, "emitted_at": utcnow()} for k, ts in keys.items()]
        for i in range(0, len(rows), _CHUNK):
            stmt = self._insert(BridgeSeen.__table__).values(rows[i:i + _CHUNK])  # type: ignore[attr-defined]
            s.execute(stmt.on_conflict_do_nothing(index_elements=["key"]))

    # -- batches ----------------------------------------------------------------------
    def begin(self, batch_id: str, position: dict[str, Any], keys: dict[str, float],
              changes: StateChanges | None = None) -> None:
        """Record the batch about to be produced (before the first message is sent)."""
        with Session(self.engine) as s:
            s.add(BridgeBatch(batch_id=batch_id, position=position, changes=changes.to_json() if changes else {}))
            s.add_all(BridgePending(key=k, batch_id=batch_id, ts=ts) for k, ts in keys.items())
            s.commit()

    def commit(self, batch_id: str | None, keys: dict[str, float], changes: StateChanges | None = None) -> None:
        """The batch is durably produced: mark its keys seen and apply its changes."""
        with Session(self.engine) as s:
            if keys:
                self._mark_seen(s, keys)
            if batch_id is not None:
                s.execute(delete(BridgePending).where(BridgePending.batch_id == batch_id))  # type: ignore[arg-type]
                s.execute(delete(BridgeBatch).where(BridgeBatch.batch_id == batch_id))  # type: ignore[arg-type]
            if changes:
                self._apply(s, changes)
            s.commit()

    def pending(self) -> PendingBatch | None:
        with Session(self.engine) as s:
            batch = s.execute(select(BridgeBatch).order_by(BridgeBatch.started_at)).scalars().first()
            if batch is None:
                return None
            rows = s.execute(select(BridgePending).where(BridgePending.batch_id == batch.batch_id)).scalars()
            return PendingBatch(batch.batch_id, dict(batch.position), {r.key: r.ts for r in rows},
                                dict(batch.changes or {}))

    # -- cursor, tracked posts, snapshots --------------------------------------------------
    def cursor(self, name: str) -> str | None:
        with Session(self.engine) as s:
            row = s.get(BridgeCursor, name)
            return row.value if row else None

    def apply(self, changes: StateChanges) -> None:
        with Session(self.engine) as s:
            self._apply(s, changes)
            s.commit()

    def _apply(self, s: Session, changes: StateChanges) -> None:
        for name, value in changes.cursors.items():
            s.merge(BridgeCursor(name=name, value=value, updated_at=utcnow()))
        for row in changes.tracked:
            s.merge(row)
        if changes.untracked:
            s.execute(delete(BridgeTrackedPost).where(BridgeTrackedPost.post_id.in_(changes.untracked)))  # type: ignore[attr-defined]
        for snap in changes.snapshots:
            s.merge(snap)

    def tracked(self, post_ids: Sequence[str]) -> dict[str, BridgeTrackedPost]:
        out: dict[str, BridgeTrackedPost] = {}
        with Session(self.engine) as s:
            for i in range(0, len(post_ids), _CHUNK):
                q = select(BridgeTrackedPost).where(BridgeTrackedPost.post_id.in_(post_ids[i:i + _CHUNK]))  # type: ignore[attr-defined]
                for row in s.execute(q).scalars():
                    s.expunge(row)
                    out[row.post_id] = row
        return out

    def due_posts(self, now: float, limit: int) -> list[BridgeTrackedPost]:
        with Session(self.engine) as s:
            q = (select(BridgeTrackedPost).where(BridgeTrackedPost.next_poll_at <= now)
                 .order_by(BridgeTrackedPost.next_poll_at).limit(limit))
            rows = list(s.execute(q).scalars())
            for row in rows:
                s.expunge(row)
            return rows

    def count_tracked(self) -> int:
        with Session(self.engine) as s:
            return s.execute(select(func.count()).select_from(BridgeTrackedPost)).scalar_one()

    def snapshot(self, kind: str, key: str) -> BridgeSnapshot | None:
        with Session(self.engine) as s:
            row = s.get(BridgeSnapshot, (kind, key))
            if row is not None:
                s.expunge(row)
            return row

    def stale_snapshots(self, kind: str, older_than: float, limit: int) -> list[BridgeSnapshot]:
        with Session(self.engine) as s:
            q = (select(BridgeSnapshot).where(BridgeSnapshot.kind == kind, BridgeSnapshot.checked_at <= older_than)
                 .order_by(BridgeSnapshot.checked_at).limit(limit))
            rows = list(s.execute(q).scalars())
            for row in rows:
                s.expunge(row)
            return rows

    def prune_seen(self, before_ts: float, prefixes: tuple[str, ...] = ("post:", "comment:", "dead:"),
                   batch: int = PRUNE_BATCH) -> int:
        """Forget post/comment ids older than any walk or re-poll can reach again.

        In transactions of at most `batch` rows: the first prune after an upgrade (or
        after a long stop) may have millions of ids to forget, and one transaction
        would hold SQLite's write lock (and bloat PostgreSQL's WAL) for all of them,
        stalling the emitter's own writes meanwhile."""
        total = 0
        for prefix in prefixes:
            old = (select(BridgeSeen.key).where(BridgeSeen.ts < before_ts,  # type: ignore[arg-type]
                                                BridgeSeen.key.startswith(prefix))  # type: ignore[attr-defined]
                   .limit(batch))
            while True:
                with Session(self.engine) as s:
                    keys = list(s.execute(old).scalars())
                    if keys:
                        s.execute(delete(BridgeSeen).where(BridgeSeen.key.in_(keys)))  # type: ignore[attr-defined]
                        s.commit()
                total += len(keys)
                if len(keys) < batch:
                    break
        return total
