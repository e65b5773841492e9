"""The SQL side of routing and grouping: inbox -> groups -> outbox messages.

`Aggregator.tick()` runs two rounds, each as read -> compute -> one short write
transaction, so the database write lock (all of SQLite, or the touched rows on
PostgreSQL) is held only for the bulk writes, never while templates render:

1. route: read inbox rows, find each alert's groups (routing.py), then add members,
   create groups and schedule each touched group's flush (group_wait, group_interval,
   back-off), and delete the routed inbox rows;
2. flush: read the due groups, apply inhibition and silences, decide what is new
   (dedup.py, group.py) and render each receiver's message (templates, escaping,
   redaction); then write the messages to the outbox, superseding older unsent
   messages of a group that the new one fully covers, and save the group state.

Only the holder of the `router` lease runs this (renewed inside every write
transaction as a fence), and it is the only writer of groups and members, so
reading outside the write transaction is safe: everything else reaches it through
new inbox rows.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, delete, select, tuple_, update
from sqlalchemy.engine import Connection, Engine

from flockwatch.alerts.alert import Alert
from flockwatch.metrics.registry import Metrics
from flockwatch.notify import leader
from flockwatch.notify.config import NotifyConfig
from flockwatch.notify.dedup import escalated
from flockwatch.notify.group import FlushPlan, GroupState, Member, change_flush_at, plan_flush
from flockwatch.notify.housekeeping import Housekeeper
from flockwatch.notify.inhibit import Inhibitor
from flockwatch.notify.matchers import labels_of
from flockwatch.notify.outbox import NewMessage, insert_messages, new_notification_id, supersede, unsent_for_groups
from flockwatch.notify.receivers import RECEIVER_TYPES, ReceiverType
from flockwatch.notify.routing import Router
from flockwatch.notify.silence import Silence, SilenceSet
from flockwatch.notify.templates import alert_context, message_context
from flockwatch.store.alert_store import record_to_alert
from flockwatch.store.notify_tables import NotifyGroup, NotifyGroupMember, NotifyInbox, SilenceRecord
from flockwatch.store.tables import AlertRecord

log = logging.getLogger(__name__)

INBOX = NotifyInbox.__table__
GROUPS = NotifyGroup.__table__
MEMBERS = NotifyGroupMember.__table__
ALERTS = AlertRecord.__table__
SILENCES = SilenceRecord.__table__
LEASE = "router"


class LostLease(RuntimeError):
    """Another dispatcher took the router lease while this one was computing."""


@dataclass
class TickReport:
    routed: int = 0
    flushed: int = 0
    messages: int = 0
    queued: Counter[str] = field(default_factory=Counter)  # receiver -> messages written
    superseded: Counter[str] = field(default_factory=Counter)
    suppressed: Counter[str] = field(default_factory=Counter)
    template_errors: Counter[str] = field(default_factory=Counter)
    leader: bool = True
    resolved: int = 0  # alerts resolved by resolve_timeout

    def count(self, metrics: Metrics | None) -> None:
        if metrics is None:
            return
        for receiver, n in self.queued.items():
            metrics.notifications.labels(receiver, "queued").inc(n)
        for receiver, n in self.superseded.items():
            metrics.notifications.labels(receiver, "superseded").inc(n)
        for reason, n in self.suppressed.items():
            metrics.notifications_suppressed.labels(reason).inc(n)
        for receiver, n in self.template_errors.items():
            metrics.notification_template_errors.labels(receiver).inc(n)


def build_receivers(config: NotifyConfig) -> dict[str, ReceiverType]:
    return {r.name: RECEIVER_TYPES[r.type](r) for r in config.receivers}


class Aggregator:
    def __init__(self, config: NotifyConfig, engine: Engine, *, instance: str, metrics: Metrics | None = None,
                 receivers: dict[str, ReceiverType] | None = None, clock: Callable[[], float] | None = None):
        self.config = config
        self.engine = engine
        self.instance = instance
        self.metrics = metrics
        self.router = Router(config.route)
        self.receivers = receivers or build_receivers(config)
        self.clock = clock or time.time
        self._lease_until = 0.0
        self.housekeeper = Housekeeper(engine, resolve_timeout=config.dispatcher.resolve_timeout,
                                       retention=config.dispatcher.retention, clock=self.clock)
        with engine.begin() as conn:
            leader.ensure_lease(conn, LEASE)

    def tick(self) -> TickReport:
        now = self.clock()
        report = TickReport()
        if not self._hold(now):
            report.leader = False
            return report
        try:
            if self.housekeeper.due():
                # before routing, so the inbox rows of auto-resolved alerts go out in this tick
                report.resolved = self.housekeeper.run().resolved
            self._route(now, report)
            self._flush(now, report)
        except LostLease:
            log.warning("lost the router lease to another dispatcher; it routes and groups from now on")
            self._lease_until = 0.0
            report.leader = False
        report.count(self.metrics)
        return report

    # -- the lease ------------------------------------------------------------------------
    def _hold(self, now: float) -> bool:
        ttl = self.config.dispatcher.leader_lease
        if self._lease_until - now > ttl / 2:
            return True  # renewed by a recent write transaction; no write needed to stay leader
        with self.engine.begin() as conn:
            held = leader.hold(conn, LEASE, self.instance, now, ttl)
        self._lease_until = now + ttl if held else 0.0
        return held

    def _write(self, now: float, apply: Callable[[Connection], None]) -> None:
        ttl = self.config.dispatcher.leader_lease
        with self.engine.begin() as conn:
            if not leader.hold(conn, LEASE, self.instance, now, ttl):
                raise LostLease()  # rolls the transaction back
            apply(conn)
        self._lease_until = now + ttl

    # -- 1. route -------------------------------------------------------------------------
    def _route(self, now: float, report: TickReport) -> None:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(INBOX.c.id, INBOX.c.fingerprint).order_by(INBOX.c.id).limit(self.config.dispatcher.batch)
            ).all()
            if not rows:
                return
            fps = list(dict.fromkeys(fp for _, fp in rows))
            labels = {lab["fingerprint"]: lab for lab in _labels(conn, ALERTS.c.fingerprint.in_(fps))}
            wanted: dict[str, set[str]] = {}
            targets = {}
            for fp in fps:
                if fp not in labels:
                    report.suppressed["unknown_alert"] += 1
                    log.warning("notification for unknown alert %s dropped (not in the alert store)", fp)
                    continue
                for t in self.router.targets(labels[fp]):
                    wanted.setdefault(fp, set()).add(t.key)
                    targets[t.key] = t
            existing = {
                g.group_key: g for g in conn.execute(
                    select(GROUPS.c.group_key, GROUPS.c.created_at, GROUPS.c.last_notified_at, GROUPS.c.streak,
                           GROUPS.c.next_flush_at, GROUPS.c.sent_state).where(GROUPS.c.group_key.in_(list(targets))))
            } if targets else {}
            member_of: dict[str, set[str]] = {}
            if wanted:
                for key, fp in conn.execute(select(MEMBERS.c.group_key, MEMBERS.c.fingerprint)
                                            .where(MEMBERS.c.fingerprint.in_(list(wanted)))):
                    member_of.setdefault(fp, set()).add(key)

        new_groups = [
            {"group_key": key, "receiver": t.route.receiver, "route_id": t.route.id, "labels": t.labels,
             "created_at": now, "next_flush_at": now + t.route.group_wait, "sent_state": {}, "sequence": 0,
             "streak": 0, "silenced": 0}
            for key, t in targets.items() if key not in existing
        ]
        # Groups where an alert is now worse than the group last told: they flush without the back-off.
        escalated_in = {key for fp, keys in wanted.items() for key in keys if key in existing
                        and escalated((existing[key].sent_state or {}).get(fp), labels[fp]["severity"])}
        reschedule = []
        for key, g in existing.items():
            due = change_flush_at(targets[key].route, created_now=False, created_at=g.created_at,
                                  last_notified_at=g.last_notified_at, streak=g.streak, now=now,
                                  escalated=key in escalated_in)
            if due < (g.next_flush_at if g.next_flush_at is not None else math.inf):
                reschedule.append({"k": key, "due": due})
        add = [{"group_key": key, "fingerprint": fp, "added_at": now}
               for fp, keys in wanted.items() for key in keys - member_of.get(fp, set())]
        # An alert whose labels changed (e.g. escalated) leaves the groups it no longer routes to.
        leave = [(key, fp) for fp, keys in member_of.items() for key in keys - wanted.get(fp, set())]
        inbox_ids = [i for i, _ in rows]

        def apply(conn: Connection) -> None:
            if new_groups:
                conn.execute(GROUPS.insert(), new_groups)
            if reschedule:
                conn.execute(update(GROUPS).where(GROUPS.c.group_key == bindparam("k"))
                             .values(next_flush_at=bindparam("due")), reschedule)
            if add:
                conn.execute(MEMBERS.insert(), add)
            if leave:
                conn.execute(delete(MEMBERS).where(tuple_(MEMBERS.c.group_key, MEMBERS.c.fingerprint).in_(leave)))
            conn.execute(delete(INBOX).where(INBOX.c.id.in_(inbox_ids)))

        self._write(now, apply)
        report.routed = len(rows)

    # -- 2. flush -------------------------------------------------------------------------
    def _flush(self, now: float, report: TickReport) -> None:
        with self.engine.connect() as conn:
            groups = conn.execute(
                select(GROUPS).where(GROUPS.c.next_flush_at <= now).order_by(GROUPS.c.next_flush_at)
                .limit(self.config.dispatcher.batch)
            ).mappings().all()
            if not groups:
                return
            keys = [g["group_key"] for g in groups]
            members: dict[str, list[str]] = {k: [] for k in keys}
            for key, fp in conn.execute(select(MEMBERS.c.group_key, MEMBERS.c.fingerprint)
                                        .where(MEMBERS.c.group_key.in_(keys))):
                members[key].append(fp)
            all_fps = {fp for fps in members.values() for fp in fps}
            alerts = {row[0].fingerprint: row for row in _alert_rows(conn, all_fps)} if all_fps else {}
            silences = SilenceSet(_active_silences(conn, now), now)
            inhibitor = (Inhibitor(self.config.inhibit_rules, _labels(conn, ALERTS.c.status != "resolved"))
                         if self.config.inhibit_rules else None)
            unsent = unsent_for_groups(conn, keys, now)

        messages: list[NewMessage] = []
        group_updates: list[dict[str, Any]] = []
        drop_groups: list[str] = []
        drop_members: list[tuple[str, str]] = []
        for g in groups:
            key = g["group_key"]
            receiver = self.receivers.get(g["receiver"])
            if receiver is None:
                report.suppressed["unknown_receiver"] += 1
                log.warning("group %s names receiver %r, which is no longer configured: dropped", key, g["receiver"])
                drop_groups.append(key)
                continue
            group_members: list[Member] = []
            missing: list[str] = []
            for fp in members[key]:
                if fp not in alerts:
                    missing.append(fp)
                    continue
                alert, status, version = alerts[fp]
                lab = labels_of(alert)
                silence = silences.silenced_by(lab)
                group_members.append(Member(
                    alert, status, version, silenced_until=silence.ends_at if silence else None,
                    inhibited=bool(inhibitor and status != "resolved" and inhibitor.inhibited(lab)),
                ))
            state = GroupState(dict(g["sent_state"] or {}), g["last_notified_at"], g["sequence"], g["streak"])
            plan = plan_flush(state, group_members, self.router.route(g["route_id"]), now=now,
                              send_resolved=receiver.cfg.send_resolved)
            report.suppressed.update(plan.suppressed)
            report.flushed += 1
            if plan.kind is not None:
                messages.append(self._render(receiver, g, plan, report))
            gone = plan.remove_members + missing
            drop_members += [(key, fp) for fp in gone]
            if len(gone) == len(members[key]) and not plan.state.sent_state:
                drop_groups.append(key)  # every alert of the group is over: the next incident starts a new thread
                continue
            group_updates.append({
                "k": key, "sent_state": plan.state.sent_state, "last_notified_at": plan.state.last_notified_at,
                "sequence": plan.state.sequence, "streak": plan.state.streak, "next_flush_at": plan.next_flush_at,
                "silenced": plan.silenced,
            })
        covered = {(m.group_key, m.receiver): set(m.fingerprints) for m in messages}
        replaced = [u.id for u in unsent if u.fingerprints <= covered.get((u.group_key, u.receiver), set())]

        superseded: list[str] = []

        def apply(conn: Connection) -> None:
            superseded[:] = supersede(conn, replaced, now)
            insert_messages(conn, messages, now=now, deadline=self.config.retry.deadline)
            if group_updates:
                conn.execute(update(GROUPS).where(GROUPS.c.group_key == bindparam("k")).values(
                    sent_state=bindparam("sent_state"), last_notified_at=bindparam("last_notified_at"),
                    sequence=bindparam("sequence"), streak=bindparam("streak"),
                    next_flush_at=bindparam("next_flush_at"), silenced=bindparam("silenced")), group_updates)
            if drop_members:
                conn.execute(delete(MEMBERS).where(tuple_(MEMBERS.c.group_key, MEMBERS.c.fingerprint).in_(drop_members)))
            if drop_groups:
                conn.execute(delete(MEMBERS).where(MEMBERS.c.group_key.in_(drop_groups)))
                conn.execute(delete(GROUPS).where(GROUPS.c.group_key.in_(drop_groups)))

        self._write(now, apply)
        report.superseded.update(superseded)
        report.messages = len(messages)
        for m in messages:
            report.queued[m.receiver] += 1

    def _render(self, receiver: ReceiverType, g: Any, plan: FlushPlan, report: TickReport) -> NewMessage:
        nid = new_notification_id()
        ext = self.config.external_url
        context = message_context(
            notification_id=nid, receiver=receiver.cfg.name, kind=plan.kind or "firing", group_key=g["group_key"],
            group_labels=dict(g["labels"] or {}), sequence=plan.state.sequence,
            alerts=[alert_context(m.alert, m.status, change, ext) for m, change in plan.listed],
            max_alerts=receiver.cfg.max_alerts, external_url=ext,
        )
        rendered = receiver.render(context)
        if rendered.template_error:
            report.template_errors[receiver.cfg.name] += 1
        return NewMessage(
            notification_id=nid, receiver=receiver.cfg.name, group_key=g["group_key"], sequence=plan.state.sequence,
            kind=plan.kind or "firing", payload=rendered.body().decode("utf-8"), template_error=rendered.template_error,
            fingerprints=[a["fingerprint"] for a in context["alerts"]],
        )


class _Row:
    """Attribute access over a row mapping, for `record_to_alert`."""

    def __init__(self, mapping: Any):
        self._m = mapping

    def __getattr__(self, name: str) -> Any:
        return self._m[name]


def _alert_rows(conn: Connection, fps: set[str]) -> list[tuple[Alert, str, int]]:
    return [(record_to_alert(_Row(row)), row["status"], row["version"])  # type: ignore[arg-type]
            for row in conn.execute(select(ALERTS).where(ALERTS.c.fingerprint.in_(list(fps)))).mappings()]


def _active_silences(conn: Connection, now: float) -> list[Silence]:
    rows = conn.execute(select(SILENCES).where(SILENCES.c.ends_at > now, SILENCES.c.starts_at <= now)).mappings()
    return [Silence.from_row(r) for r in rows]


def _labels(conn: Connection, where: Any) -> list[dict[str, Any]]:
    """The routing labels (matchers.labels_of) of the alerts selected by `where`, without loading them whole."""
    rows = conn.execute(select(ALERTS.c.fingerprint, ALERTS.c.rule_id, ALERTS.c.pack, ALERTS.c.category,
                               ALERTS.c.severity, ALERTS.c.tags).where(where))
    return [{"rule": r.rule_id, "pack": r.pack, "category": r.category, "severity": r.severity,
             "fingerprint": r.fingerprint, "tags": list(r.tags or [])} for r in rows]
