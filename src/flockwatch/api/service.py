"""What the alert API and the `alerts` / `silences` CLI do, in one place: list and
show alerts (with history and deliveries), acknowledge, resolve, silences, test
notifications. Every agent-written string leaving here is redacted."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from typing import Any

from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.engine import Engine
from sqlmodel import Session

from flockwatch.notify.config import NotifyConfig
from flockwatch.notify.housekeeping import FINISHED
from flockwatch.alerts.redact import redact_data
from flockwatch.store.alert_store import record_to_alert
from flockwatch.store.database import create_tables, make_engine
from flockwatch.store.lifecycle import STATUSES, AlertNotFound, history, transition
from flockwatch.store.notify_tables import AlertHistoryRecord, NotifyAttempt, NotifyOutbox, NotifyOutboxAlert
from flockwatch.store.queries import rule_filter, tag_filter
from flockwatch.store.silences import SilenceStore
from flockwatch.store.tables import AlertRecord

ALERTS = AlertRecord.__table__
OUTBOX = NotifyOutbox.__table__
OUTBOX_ALERTS = NotifyOutboxAlert.__table__
ATTEMPTS = NotifyAttempt.__table__
MAX_LIMIT = 1000
NOTIFICATION_STATUSES = ("pending", *FINISHED)  # an outbox row's life: pending, then one of FINISHED
MAX_ACTOR: int = AlertHistoryRecord.__table__.c.actor.type.length  # type: ignore[attr-defined]
MAX_OFFSET = 2**63 - 1  # SQL's 64-bit integers; beyond, the database driver fails
MIN_PREFIX = 6


class BadRequest(ValueError):
    pass


class NoConfig(LookupError):
    """The operation needs the notification config, and none was given."""


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dt(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return str(value)


def parse_utc(value: str) -> datetime:
    """A time a person typed (API query or body, CLI option): ISO-8601, and without a
    zone it is UTC like every flockwatch time, never the server's local time. A query
    string's `+02:00` arrives as ` 02:00` and is read back. Raises ValueError."""
    text = value.strip()
    for candidate in (text, re.sub(r" (\d\d:?\d\d)$", r"+\1", text)):
        try:
            dt = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return dt if dt.tzinfo is not None else dt.replace(tzinfo=timezone.utc)
    raise ValueError(f"not an ISO-8601 time: {value!r}")


def _since(value: str) -> str:
    """`since` in the stored form of `last_ts` (RFC 3339 UTC, milliseconds), which the
    query compares as a string: compared as given, `12:05:00Z`, a `+02:00` offset or a
    typo would silently select the wrong alerts."""
    try:
        return parse_utc(value).astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    except (ValueError, OverflowError):
        raise BadRequest(f"since must be an ISO-8601 time such as 2026-01-30T12:00:00Z, not {value!r}") from None


# -- cursors ---------------------------------------------------------------------------
# A cursor is base64url (unpadded) of a small JSON object: {"v": version, "o": order,
# "k": sort key of the last alert returned ([last_ts, fingerprint] for "recent",
# [seq, fingerprint] for "changes"), "f": digest of the filters}. Opaque to
# clients; not signed, so everything in it is validated as if a client wrote it.
CURSOR_VERSION = 1
ORDERS = ("recent", "changes")
MAX_CURSOR = 512
_TS_LEN: int = AlertRecord.__table__.c.last_ts.type.length  # type: ignore[attr-defined]
_FP_LEN: int = AlertRecord.__table__.c.fingerprint.type.length  # type: ignore[attr-defined]


def _filters_digest(**filters: str | None) -> str:
    """What the listing was filtered by, so a cursor is only used with the same filters:
    without them a walk would go on over other alerts without a word."""
    canonical = json.dumps([[k, filters[k] or None] for k in sorted(filters)], ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _encode_cursor(order: str, key: list[Any], filters: str) -> str:
    raw = json.dumps({"v": CURSOR_VERSION, "o": order, "k": key, "f": filters}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, filters: str) -> tuple[str, tuple[Any, str]]:
    """(order, sort key after which the page starts). BadRequest unless it is a cursor
    this API could have given out for these filters."""
    bad = BadRequest("cursor is not one this API gave out: pass back `next` of the previous page unchanged")
    if len(cursor) > MAX_CURSOR or not re.fullmatch(r"[A-Za-z0-9_-]+", cursor):
        raise bad
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise bad from None
    if not isinstance(data, dict) or set(data) != {"v", "o", "k", "f"} or data["v"] != CURSOR_VERSION:
        raise bad
    order, key = data["o"], data["k"]
    if order not in ORDERS or not isinstance(key, list) or len(key) != 2:
        raise bad
    first, fingerprint = key
    if not isinstance(fingerprint, str) or "\x00" in fingerprint or len(fingerprint) > _FP_LEN:
        raise bad
    if order == "recent" and not (isinstance(first, str) and "\x00" not in first and len(first) <= _TS_LEN):
        raise bad
    if order == "changes" and not (type(first) is int and 0 <= first <= MAX_OFFSET):  # not bool, not float
        raise bad
    if data["f"] != filters:
        raise BadRequest("this cursor belongs to a listing with other filters: repeat that listing's filters "
                         "(status, category, severity, rule, pack, tag, since) with it")
    return order, (first, fingerprint)


class AlertService:
    def __init__(self, url: str | None = None, *, engine: Engine | None = None, config: NotifyConfig | None = None):
        self.engine = engine or make_engine(url)
        create_tables(self.engine)
        self.config = config
        self.silences = SilenceStore(self.engine)

    # -- alerts -----------------------------------------------------------------------
    def list_alerts(self, *, status: str | None = None, category: str | None = None, severity: str | None = None,
                    rule: str | None = None, pack: str | None = None, tag: str | None = None,
                    since: str | None = None, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        return self.list_page(status=status, category=category, severity=severity, rule=rule, pack=pack, tag=tag,
                              since=since, limit=limit, offset=offset)["alerts"]

    def list_page(self, *, status: str | None = None, category: str | None = None, severity: str | None = None,
                  rule: str | None = None, pack: str | None = None, tag: str | None = None,
                  since: str | None = None, limit: int = 100, offset: int = 0,
                  cursor: str | None = None, order: str | None = None) -> dict[str, Any]:
        """One page of alerts: {"alerts", "has_more", "next"}. Pass `next` back as
        `cursor`, with the same filters, to go on after this page's last alert.

        order "recent" (default): most recent activity first (last_ts descending, then
        fingerprint); `next` is None on the last page. A walk returns no alert twice but
        cannot see an alert that grew behind the cursor.
        order "changes": by the store-wide number of each alert's last change, oldest
        first (seq, then fingerprint); nothing that changes during a walk is missed, and
        `next` is never None: it is where to ask again for what changed since.
        See docs/notifications.md, "Listing alerts"."""
        if status is not None and status not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
        if not 1 <= limit <= MAX_LIMIT or not 0 <= offset <= MAX_OFFSET:
            raise BadRequest(f"limit must be 1..{MAX_LIMIT} and offset 0..{MAX_OFFSET}")
        if tag and "\x00" in tag:  # the API refuses it up front; no stored tag can be matched by one
            raise BadRequest("NUL characters are not allowed")
        since_ts = _since(since) if since else None
        filters = _filters_digest(status=status, category=category, severity=severity, rule=rule, pack=pack,
                                  tag=tag, since=since_ts)
        if order and order not in ORDERS:
            raise BadRequest(f"order must be {' or '.join(ORDERS)}")
        after = None
        if cursor:
            cursor_order, after = _decode_cursor(cursor, filters)
            if order and order != cursor_order:
                raise BadRequest(f"this cursor continues an order={cursor_order} listing, not order={order}")
            order = cursor_order
            if offset:
                raise BadRequest("give cursor or offset, not both: the cursor already says where the page starts")
        order = order or "recent"
        if order == "recent":
            query = select(AlertRecord).order_by(AlertRecord.last_ts.desc(), AlertRecord.fingerprint)
        else:
            query = select(AlertRecord).order_by(AlertRecord.seq, AlertRecord.fingerprint)
        for column, value in (("status", status), ("category", category), ("severity", severity), ("pack", pack)):
            if value:
                query = query.where(getattr(AlertRecord, column) == value)
        if since_ts:
            query = query.where(AlertRecord.last_ts >= since_ts)
        if after is not None and order == "recent":
            last_ts, fingerprint = after
            # Rows after (last_ts, fingerprint) in "last_ts descending, fingerprint
            # ascending". `last_ts <= ?` on its own is what lets the last_ts index start
            # the scan at the cursor instead of at the newest alert.
            query = query.where(AlertRecord.last_ts <= last_ts,
                                or_(AlertRecord.last_ts < last_ts, AlertRecord.fingerprint > fingerprint))
        elif after is not None:
            seq, fingerprint = after  # (seq, fingerprint) ascending: the ix_alerts_seq index
            query = query.where(tuple_(AlertRecord.seq, AlertRecord.fingerprint) > tuple_(seq, fingerprint))
        dialect = self.engine.dialect.name
        # `rule` and `tag` are filtered by the database; `checks` are the exact Python
        # predicates for the few rows SQL can only narrow down (a glob's [classes], a tag
        # list holding an escaped NUL), applied to the rows the query returns.
        checks: list[Callable[[AlertRecord], bool]] = []
        if rule:
            condition, exact = rule_filter(rule, dialect)
            query = query.where(condition)
            if not exact:
                checks.append(lambda r: fnmatchcase(r.rule_id, rule))
        if tag:
            query = query.where(tag_filter(tag, dialect))
            checks.append(lambda r: tag in (r.tags or []))
        want = limit + 1  # one more than the page tells whether another page follows
        with Session(self.engine) as session:
            if not checks:
                rows = list(session.execute(query.limit(want).offset(offset)).scalars())
            else:
                rows = []
                skip = offset
                # Streamed in pages of the size asked for: the SQL filter is exact for
                # almost every row, so the first page is nearly always the only one read.
                for row in session.execute(query.execution_options(yield_per=want)).scalars():
                    if not all(check(row) for check in checks):
                        continue
                    if skip:
                        skip -= 1
                        continue
                    rows.append(row)
                    if len(rows) == want:
                        break
            has_more = len(rows) > limit
            rows = rows[:limit]
            if order == "recent":
                following = _encode_cursor(order, [rows[-1].last_ts, rows[-1].fingerprint], filters) if has_more \
                    else None
            elif rows:
                following = _encode_cursor(order, [rows[-1].seq, rows[-1].fingerprint], filters)
            else:  # nothing (more) yet: ask again from where this page started
                following = cursor or _encode_cursor(order, [0, ""], filters)
            return {"alerts": [self._alert_summary(r) for r in rows], "has_more": has_more, "next": following}

    def resolve_ref(self, ref: str) -> str:
        """A fingerprint, an alert id, or a unique prefix of either (at least 6 characters)."""
        ref = ref.strip().lower()
        if len(ref) < MIN_PREFIX:
            raise BadRequest(f"give at least {MIN_PREFIX} characters of a fingerprint or alert id")
        with self.engine.connect() as conn:
            exact = conn.execute(select(ALERTS.c.fingerprint).where(
                or_(ALERTS.c.fingerprint == ref, ALERTS.c.alert_id == ref))).scalars().first()
            if exact:
                return exact
            # Escaped, not stripped: stripping made "______" (6 characters) the pattern "%".
            found = conn.execute(select(ALERTS.c.fingerprint).where(
                or_(ALERTS.c.fingerprint.startswith(ref, autoescape=True),
                    ALERTS.c.alert_id.startswith(ref, autoescape=True))).limit(2)).scalars().all()
        if not found:
            raise AlertNotFound(ref)
        if len(found) > 1:
            raise BadRequest(f"{ref!r} matches several alerts; give more characters")
        return found[0]

    def show(self, ref: str) -> dict[str, Any]:
        fp = self.resolve_ref(ref)
        with Session(self.engine) as session:
            row = session.execute(select(AlertRecord).where(AlertRecord.fingerprint == fp)).scalar_one_or_none()
            if row is None:
                raise AlertNotFound(ref)
            out = self._alert_full(row)
            conn = session.connection()
            out["history"] = [
                {"at": iso(h["at"]), "actor": h["actor"], "action": h["action"], "detail": h["detail"]}
                for h in history(conn, fp)
            ]
            out["deliveries"] = self._deliveries(conn, fp)
        return out

    def acknowledge(self, ref: str, actor: str, comment: str = "") -> dict[str, Any]:
        return self._transition(ref, "acknowledged", actor, comment)

    def resolve(self, ref: str, actor: str, comment: str = "") -> dict[str, Any]:
        return self._transition(ref, "resolved", actor, comment)

    def _transition(self, ref: str, to: str, actor: str, comment: str) -> dict[str, Any]:
        if not actor or not actor.strip():
            raise BadRequest("say who you are (author)")
        if len(actor.strip()) > MAX_ACTOR:  # PostgreSQL refuses longer (a 500); SQLite would keep it
            raise BadRequest(f"author is longer than {MAX_ACTOR} characters")
        fp = self.resolve_ref(ref)
        t = transition(self.engine, fp, to, actor.strip(), comment)
        return {"fingerprint": fp, "previous": t.previous, "status": t.status, "changed": t.changed}

    # -- notifications -----------------------------------------------------------------
    def notification(self, notification_id: str) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(select(OUTBOX).where(OUTBOX.c.notification_id == notification_id)).mappings().first()
            if row is None:
                raise LookupError(notification_id)
            out = self._delivery(conn, row)
            out["payload"] = row["payload"]
            out["alerts"] = list(conn.execute(
                select(OUTBOX_ALERTS.c.fingerprint).where(OUTBOX_ALERTS.c.outbox_id == row["id"])).scalars())
        return out

    def notifications(self, *, status: str | None = None, receiver: str | None = None,
                      limit: int = 100) -> list[dict[str, Any]]:
        if not 1 <= limit <= MAX_LIMIT:  # like list_alerts: a clamped limit answered another question silently
            raise BadRequest(f"limit must be 1..{MAX_LIMIT}")
        if status is not None and status not in NOTIFICATION_STATUSES:
            # Like the alerts' status: a typo must not read as "there are none".
            raise BadRequest(f"status must be one of {', '.join(NOTIFICATION_STATUSES)}")
        query = select(OUTBOX).order_by(OUTBOX.c.id.desc()).limit(limit)
        if status:
            query = query.where(OUTBOX.c.status == status)
        if receiver:
            query = query.where(OUTBOX.c.receiver == receiver)
        with self.engine.connect() as conn:
            return [self._delivery(conn, r, with_attempts=False) for r in conn.execute(query).mappings()]

    def outbox_counts(self) -> dict[str, dict[str, int]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(OUTBOX.c.receiver, OUTBOX.c.status, func.count())
                                .group_by(OUTBOX.c.receiver, OUTBOX.c.status)).all()
        out: dict[str, dict[str, int]] = {}
        for receiver, status, n in rows:
            out.setdefault(receiver, {})[status] = int(n)
        return out

    def receivers(self) -> list[dict[str, Any]]:
        if self.config is None:
            return []
        return [{"name": r.name, "type": r.type, "send_resolved": r.send_resolved} for r in self.config.receivers]

    async def send_test(self, receiver: str, actor: str) -> dict[str, Any]:
        from flockwatch.notify.test_message import send_test

        if self.config is None:
            raise NoConfig("start the API with --config to send test notifications")
        if not actor or not actor.strip():
            raise BadRequest("say who you are (author)")
        return await send_test(self.config, self.engine, receiver, actor.strip())

    # -- rendering ------------------------------------------------------------------------
    @staticmethod
    def _alert_summary(r: AlertRecord) -> dict[str, Any]:
        return redact_data({
            "fingerprint": r.fingerprint, "alert_id": r.alert_id, "status": r.status, "rule_id": r.rule_id,
            "pack": r.pack, "category": r.category, "severity": r.severity, "title": r.title, "summary": r.summary,
            "tags": list(r.tags or []), "count": r.count, "agents": len(r.agent_ids or []),
            "first_ts": r.first_ts, "last_ts": r.last_ts, "version": r.version,
        })

    @staticmethod
    def _alert_full(r: AlertRecord) -> dict[str, Any]:
        out = record_to_alert(r).model_dump()
        out.update(status=r.status, version=r.version, created_at=_dt(r.created_at), updated_at=_dt(r.updated_at))
        return redact_data(out)

    def _deliveries(self, conn: Any, fingerprint: str) -> list[dict[str, Any]]:
        rows = conn.execute(
            select(OUTBOX).join(OUTBOX_ALERTS, OUTBOX_ALERTS.c.outbox_id == OUTBOX.c.id)
            .where(OUTBOX_ALERTS.c.fingerprint == fingerprint).order_by(OUTBOX.c.id)
        ).mappings().all()
        return [self._delivery(conn, r) for r in rows]

    @staticmethod
    def _delivery(conn: Any, row: Any, with_attempts: bool = True) -> dict[str, Any]:
        out = {
            "notification_id": row["notification_id"], "receiver": row["receiver"], "kind": row["kind"],
            "sequence": row["sequence"], "status": row["status"], "attempts": row["attempts"],
            "created_at": iso(row["created_at"]), "next_attempt_at": iso(row["next_attempt_at"])
            if row["status"] == "pending" else None,
            "finished_at": iso(row["finished_at"]), "last_status_code": row["last_status_code"],
            "last_error": row["last_error"], "template_error": row["template_error"],
        }
        if with_attempts:
            out["attempt_log"] = [
                {"attempt": a["attempt"], "at": iso(a["started_at"]), "duration": round(a["duration"], 4),
                 "outcome": a["outcome"], "status_code": a["status_code"], "error": a["error"],
                 "retry_after": a["retry_after"]}
                for a in conn.execute(select(ATTEMPTS).where(ATTEMPTS.c.outbox_id == row["id"])
                                      .order_by(ATTEMPTS.c.id)).mappings()
            ]
        return out
