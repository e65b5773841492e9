"""Typed models of a rule pack file, validated with pydantic.

The condition tree is kept as raw YAML here and compiled by `conditions.py`, because
its shape (one operator key per predicate) reads better parsed by hand than declared.
Rule types (`match`, `threshold`, ...) each add their own fields; they register by
name in `flockwatch.detect.rule_types`.
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from flockwatch.ingest.event import EVENT_TYPES, EventType

Severity = Literal["info", "low", "medium", "high", "critical"]
SEVERITIES: tuple[str, ...] = get_args(Severity)  # ordered, lowest first
Category = Literal[
    "cipher",
    "spam_cascade",
    "feedback_loop",
    "social_engineering",
    "prompt_injection",
    "credential_leak",
    "other",
]
CATEGORIES: tuple[str, ...] = get_args(Category)

_SEMVER = re.compile(r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$")
_RULE_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,127}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PackMeta(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,63}$")
    version: str
    requires_engine: str = Field(description="PEP 440-style specifier set, e.g. '>=1.0,<2'")
    description: str = ""

    @field_validator("version")
    @classmethod
    def _semver(cls, v: str) -> str:
        if not _SEMVER.match(v):
            raise ValueError(f"version {v!r} is not semver (MAJOR.MINOR.PATCH)")
        return v


class ExceptionSpec(_Strict):
    """Falco-style structured exception: when every field of one value tuple matches,
    the rule does not fire for that event."""

    name: str
    fields: list[str]
    comps: list[str] | None = None  # one comparison per field; default `equals`
    values: list[list[Any]]
    comment: str = ""

    @field_validator("fields", mode="before")
    @classmethod
    def _one_field(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("values", mode="before")
    @classmethod
    def _flat_values(cls, v: Any) -> Any:
        # `values: [a, b]` with one field is shorthand for `[[a], [b]]`.
        if isinstance(v, list) and v and not all(isinstance(x, list) for x in v):
            return [[x] for x in v]
        return v


class RuleTests(_Strict):
    fire: list[dict[str, Any]] = Field(default_factory=list)
    quiet: list[dict[str, Any]] = Field(default_factory=list)


class RuleSpec(_Strict):
    """Fields every rule has, whatever its type. Type-specific fields are in `params`."""

    model_config = ConfigDict(extra="allow")

    id: str
    type: str = "match"
    title: str
    description: str = ""
    category: Category
    severity: Severity
    tags: list[str] = Field(default_factory=list)
    enabled: bool = True
    events: list[EventType] = Field(
        default_factory=lambda: list(EVENT_TYPES),
        min_length=1,  # `events: []` would load a rule that never sees an event
    )
    condition: Any = None
    exceptions: list[ExceptionSpec] = Field(default_factory=list)
    summary: str = "{{ rule.title }}"
    fingerprint_by: list[str] | None = None
    tests: RuleTests = Field(default_factory=RuleTests)

    @field_validator("id")
    @classmethod
    def _id_shape(cls, v: str) -> str:
        if not _RULE_ID.match(v):
            raise ValueError(f"rule id {v!r}: use 3-128 chars of a-z 0-9 _ . -")
        return v

    @property
    def params(self) -> dict[str, Any]:
        """Type-specific fields (e.g. `window`, `threshold`, `group_by`)."""
        return dict(self.model_extra or {})


class PackFile(_Strict):
    pack: PackMeta
    lists: dict[str, list[Any]] = Field(default_factory=dict)
    macros: dict[str, Any] = Field(default_factory=dict)
    rules: list[dict[str, Any]] = Field(default_factory=list)
    # Changes to other packs' rules, lists and macros; applied before compiling (overrides.py).
    overrides: list[Any] = Field(default_factory=list)
