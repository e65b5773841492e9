"""Errors in rule packs: each one names the file, the line and the rule id."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuleIssue:
    file: str
    line: int
    rule_id: str | None
    message: str
    level: str = "error"  # "error" blocks loading; "warning" is reported only

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        rule = f" [{self.rule_id}]" if self.rule_id else ""
        return f"{where}:{rule} {self.level}: {self.message}"


class PackError(Exception):
    """Raised when a pack cannot be loaded; carries every issue found, not just the first."""

    def __init__(self, issues: list[RuleIssue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))
