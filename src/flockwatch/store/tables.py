"""SQL tables. One row per incident (fingerprint); `version` counts its updates so
downstream stages (notifications) can tell a grown incident from a replay, and
`seq` orders every change of every alert store-wide (see store/sequence.py)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class AlertRecord(SQLModel, table=True):
    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_seq", "seq", "fingerprint"),)

    alert_id: str = Field(primary_key=True, max_length=64)
    fingerprint: str = Field(index=True, unique=True, max_length=64)
    rule_id: str = Field(index=True, max_length=128)
    pack: str = Field(index=True, max_length=64)
    pack_version: str = Field(max_length=32)
    category: str = Field(index=True, max_length=32)
    severity: str = Field(index=True, max_length=16)
    title: str = Field(sa_column=Column(Text, nullable=False))
    summary: str = Field(sa_column=Column(Text, nullable=False))
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    event_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    agent_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    count: int = 1
    first_ts: str = Field(index=True, max_length=40)
    last_ts: str = Field(index=True, max_length=40)
    evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="firing", index=True, max_length=16)
    version: int = 1
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # The store-wide number of the last change of this alert (0: unchanged since before
    # stores had one). Taken from `alert_sequence` in commit order; the change feed of the
    # API pages by (seq, fingerprint).
    seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))


class AlertSequence(SQLModel, table=True):
    """One counter row per sequence (only "alerts" so far); see store/sequence.py."""

    __tablename__ = "alert_sequence"

    name: str = Field(primary_key=True, max_length=32)
    value: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
