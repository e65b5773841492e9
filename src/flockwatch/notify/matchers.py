"""Alert matchers shared by routes, inhibit rules and silences.

A matcher is a mapping of label -> value or list of values; every named label must
match (AND), any listed value may (OR). `rule` takes shell-style globs
(`cipher.*`), `tags` matches when the alert has any listed tag and `severity_min`
matches that severity or worse.
"""

from __future__ import annotations

from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from flockwatch.alerts.alert import Alert
from flockwatch.rules.spec import CATEGORIES, SEVERITIES

# The labels of an alert that routing, grouping, inhibition and silences can see.
LABELS = ("rule", "pack", "category", "severity", "fingerprint")


def labels_of(alert: Alert) -> dict[str, Any]:
    return {
        "rule": alert.rule_id, "pack": alert.pack, "category": alert.category,
        "severity": alert.severity, "fingerprint": alert.fingerprint, "tags": list(alert.tags),
    }


def _as_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else list(value)
    if not items or not all(isinstance(v, str) and v for v in items):
        raise ValueError("a matcher value is a non-empty string or a non-empty list of strings")
    return items


class Matcher(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: list[str] | None = None
    pack: list[str] | None = None
    category: list[str] | None = None
    severity: list[str] | None = None
    severity_min: str | None = None
    tags: list[str] | None = None
    fingerprint: list[str] | None = None

    @field_validator("rule", "pack", "category", "severity", "tags", "fingerprint", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> list[str] | None:
        return _as_list(value)

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: list[str] | None) -> list[str] | None:
        for v in value or ():
            if v not in CATEGORIES:
                raise ValueError(f"unknown category {v!r} (one of {', '.join(CATEGORIES)})")
        return value

    @field_validator("severity")
    @classmethod
    def _known_severities(cls, value: list[str] | None) -> list[str] | None:
        for v in value or ():
            if v not in SEVERITIES:
                raise ValueError(f"unknown severity {v!r} (one of {', '.join(SEVERITIES)})")
        return value

    @field_validator("severity_min")
    @classmethod
    def _known_severity(cls, value: str | None) -> str | None:
        if value is not None and value not in SEVERITIES:
            raise ValueError(f"unknown severity {value!r} (one of {', '.join(SEVERITIES)})")
        return value

    def is_empty(self) -> bool:
        return all(getattr(self, f) is None for f in type(self).model_fields)

    def matches(self, labels: Mapping[str, Any]) -> bool:
        for name in ("pack", "category", "severity", "fingerprint"):
            wanted = getattr(self, name)
            if wanted is not None and labels.get(name) not in wanted:
                return False
        if self.rule is not None and not any(fnmatchcase(str(labels.get("rule", "")), p) for p in self.rule):
            return False
        if self.severity_min is not None:
            sev = labels.get("severity")
            if sev not in SEVERITIES or SEVERITIES.index(sev) < SEVERITIES.index(self.severity_min):
                return False
        if self.tags is not None and not set(self.tags) & set(labels.get("tags") or ()):
            return False
        return True

    def describe(self) -> str:
        parts = []
        for name, value in self.model_dump(exclude_none=True).items():
            parts.append(f"{name}={','.join(value) if isinstance(value, list) else value}")
        return " ".join(parts) or "(everything)"
