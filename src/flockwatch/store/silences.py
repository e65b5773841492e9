"""Silences in the SQL store: create, list, show, expire. Expiring never deletes:
the row keeps who made it, why, and who ended it."""

from __future__ import annotations

import math
import time
import uuid
from datetime import datetime, timezone
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from flockwatch.notify.matchers import Matcher
from flockwatch.notify.silence import Silence
from flockwatch.store.notify_tables import NotifyGroup, SilenceRecord

SILENCES = SilenceRecord.__table__
GROUPS = NotifyGroup.__table__
MAX_SILENCE = 366 * 86400.0
MAX_AUTHOR: int = SILENCES.c.created_by.type.length  # type: ignore[attr-defined]
LATEST = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc).timestamp()  # the last time ISO-8601 can show


class SilenceError(ValueError):
    pass


class SilenceNotFound(LookupError):
    pass


def _check_author(author: str) -> None:
    # PostgreSQL refuses a longer one (a 500 in the API); SQLite would keep it.
    if len(author) > MAX_AUTHOR:
        raise SilenceError(f"author is longer than {MAX_AUTHOR} characters")


def silence_state(row: dict[str, Any], now: float) -> str:
    if now < row["starts_at"]:
        return "pending"
    return "active" if now < row["ends_at"] else "expired"


def _public(row: Any, now: float) -> dict[str, Any]:
    d = dict(row)
    d["state"] = silence_state(d, now)
    return d


class SilenceStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    def create(self, matchers: dict[str, Any], *, ends_at: float, created_by: str, comment: str,
               starts_at: float | None = None) -> dict[str, Any]:
        now = time.time()
        try:
            matcher = Matcher.model_validate(matchers)
        except ValidationError as exc:
            raise SilenceError("invalid matchers: " + "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())) from None
        if matcher.is_empty():
            raise SilenceError("a silence needs at least one matcher (an empty one would silence everything)")
        if not created_by.strip():
            raise SilenceError("a silence needs an author")
        _check_author(created_by.strip())
        if not comment.strip():
            raise SilenceError("a silence needs a comment saying why")
        starts = now if starts_at is None else starts_at
        # NaN passes every comparison below; PostgreSQL would store it (an "expired" silence
        # that can never be expired and breaks every listing), SQLite would refuse it (a 500).
        # A time past year 9999 is stored but cannot be shown: it broke every listing too.
        if not (math.isfinite(starts) and math.isfinite(ends_at) and max(starts, ends_at) <= LATEST):
            raise SilenceError("starts_at and ends_at must be finite times up to 9999-12-31T23:59:59Z")
        if ends_at <= max(starts, now):
            raise SilenceError("the silence must end in the future and after it starts")
        if ends_at - starts > MAX_SILENCE:
            raise SilenceError("a silence lasts at most 366 days")
        row = {
            "id": uuid.uuid4().hex, "matchers": matcher.model_dump(exclude_none=True), "starts_at": starts,
            "ends_at": ends_at, "created_by": created_by.strip(), "comment": comment.strip(),
            "created_at": now, "updated_at": now, "expired_by": None,
        }
        with self.engine.begin() as conn:
            conn.execute(SILENCES.insert().values(**row))
        return _public(row, now)

    def get(self, silence_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(SILENCES).where(SILENCES.c.id == silence_id)).mappings().first()
        if row is None:
            raise SilenceNotFound(silence_id)
        return _public(row, time.time())

    def list(self, state: str | None = None) -> list[dict[str, Any]]:
        now = time.time()
        with self.engine.connect() as conn:
            rows = conn.execute(select(SILENCES).order_by(SILENCES.c.created_at.desc())).mappings().all()
        out = [_public(r, now) for r in rows]
        return [s for s in out if state is None or s["state"] == state]

    def expire(self, silence_id: str, actor: str) -> dict[str, Any]:
        _check_author(actor)
        now = time.time()
        with self.engine.begin() as conn:
            row = conn.execute(select(SILENCES).where(SILENCES.c.id == silence_id)).mappings().first()
            if row is None:
                raise SilenceNotFound(silence_id)
            if silence_state(dict(row), now) != "expired":
                conn.execute(update(SILENCES).where(SILENCES.c.id == silence_id)
                             .values(ends_at=now, updated_at=now, expired_by=actor))
                # Groups holding silenced alerts look again now instead of at the old end time.
                conn.execute(update(GROUPS).where(GROUPS.c.silenced > 0).values(next_flush_at=now))
        return self.get(silence_id)

    def active(self, now: float) -> list[Silence]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(SILENCES).where(SILENCES.c.ends_at > now, SILENCES.c.starts_at <= now)
            ).mappings().all()
        return [Silence.from_row(r) for r in rows]
