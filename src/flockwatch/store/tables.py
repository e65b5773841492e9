"""SQL tables. One row per incident (fingerprint); `version` counts its updates so
downstream stages (notifications) can tell a grown incident from a replay."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class AlertRecord(SQLModel, table=True):
    __tablename__ = "alerts"

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
