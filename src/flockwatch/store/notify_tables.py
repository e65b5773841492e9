"""Tables of the notification pipeline and the alert lifecycle.

Times are epoch seconds (floats): SQLite drops time zones from DATETIME columns and
the dispatcher compares "due" times on every tick, so plain numbers are both simpler
and identical on SQLite and PostgreSQL.

Flow: the worker inserts `notify_inbox` rows (one per alert change); the dispatcher
routes them into `notify_groups` / `notify_group_members`, flushes due groups into
`notify_outbox` rows (one per message to one receiver) and records every HTTP try in
`notify_attempts`. `silences` and `alert_history` are what people did and when.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel


class NotifyInbox(SQLModel, table=True):
    """An alert change waiting to be routed. Claimed with a lease, deleted once routed."""

    __tablename__ = "notify_inbox"

    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(max_length=64)
    version: int = 1
    reason: str = Field(max_length=16)  # created | updated | acknowledged | resolved | reopened
    enqueued_at: float
    lease_until: float = Field(default=0.0, index=True)
    claim: str | None = Field(default=None, max_length=40)


class NotifyGroup(SQLModel, table=True):
    """One aggregation group: the alerts one route sends to one receiver together."""

    __tablename__ = "notify_groups"

    group_key: str = Field(primary_key=True, max_length=64)
    receiver: str = Field(max_length=128, index=True)
    route_id: str = Field(max_length=128)
    labels: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: float
    next_flush_at: float | None = Field(default=None, index=True)
    last_notified_at: float | None = None
    sequence: int = 0  # messages sent for this group: the "thread" numbering
    streak: int = 0  # messages sent while the group kept firing; drives the re-alert back-off
    sent_state: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    silenced: int = 0  # members held back by a silence at the last flush


class NotifyGroupMember(SQLModel, table=True):
    __tablename__ = "notify_group_members"

    group_key: str = Field(primary_key=True, max_length=64)
    fingerprint: str = Field(primary_key=True, max_length=64, index=True)
    added_at: float


class NotifyOutbox(SQLModel, table=True):
    """One message for one receiver. The durable unit of delivery."""

    __tablename__ = "notify_outbox"
    __table_args__ = (Index("ix_notify_outbox_due", "status", "receiver", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    notification_id: str = Field(max_length=40, unique=True)  # sent as Idempotency-Key
    receiver: str = Field(max_length=128)
    group_key: str = Field(max_length=64, index=True)
    sequence: int = 0
    kind: str = Field(max_length=16)  # firing | update | repeat | resolved | test
    payload: str = Field(sa_column=Column(Text, nullable=False))
    template_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status: str = Field(default="pending", max_length=16)  # pending|delivered|failed|expired|superseded
    created_at: float
    next_attempt_at: float
    deadline_at: float
    attempts: int = 0
    lease_until: float = 0.0
    claim: str | None = Field(default=None, max_length=40)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    finished_at: float | None = None


class NotifyOutboxAlert(SQLModel, table=True):
    """Which alerts a message carried (for `alerts show` and the API)."""

    __tablename__ = "notify_outbox_alerts"

    outbox_id: int = Field(primary_key=True)
    fingerprint: str = Field(primary_key=True, max_length=64, index=True)


class NotifyAttempt(SQLModel, table=True):
    """Every HTTP try of every message: the delivery history."""

    __tablename__ = "notify_attempts"

    id: int | None = Field(default=None, primary_key=True)
    outbox_id: int = Field(index=True)
    attempt: int
    started_at: float
    duration: float
    outcome: str = Field(max_length=16)  # ok | retry | permanent
    status_code: int | None = None
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    retry_after: float | None = None
    instance: str = Field(default="", max_length=64)


class NotifyLease(SQLModel, table=True):
    """Named leases: one dispatcher at a time routes and flushes groups."""

    __tablename__ = "notify_leases"

    name: str = Field(primary_key=True, max_length=32)
    holder: str = Field(max_length=64)
    until: float


class SilenceRecord(SQLModel, table=True):
    __tablename__ = "silences"

    id: str = Field(primary_key=True, max_length=32)
    matchers: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    starts_at: float
    ends_at: float = Field(index=True)
    created_by: str = Field(max_length=128)
    comment: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: float
    updated_at: float
    expired_by: str | None = Field(default=None, max_length=128)


class AlertHistoryRecord(SQLModel, table=True):
    """Who did what to an alert, and when (created, updated, acknowledged, resolved, reopened)."""

    __tablename__ = "alert_history"

    id: int | None = Field(default=None, primary_key=True)
    fingerprint: str = Field(max_length=64, index=True)
    at: float
    actor: str = Field(max_length=128)
    action: str = Field(max_length=24)
    version: int | None = None  # the alert version this entry is about (flockwatch's own entries)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
