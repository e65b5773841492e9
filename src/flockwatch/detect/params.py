"""Reading a rule's type-specific settings with messages that say what is wrong."""

from __future__ import annotations

from typing import Any

from flockwatch.detect.detector import DetectorConfigError
from flockwatch.detect.durations import parse_duration
from flockwatch.detect.keys import KeySpec, KeySpecError, parse_group_by


class Params:
    def __init__(self, type_name: str, params: dict[str, Any], allowed: set[str]):
        unknown = set(params) - allowed
        if unknown:
            raise DetectorConfigError(
                f"unknown {type_name} settings {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}"
            )
        self.type_name = type_name
        self.raw = params

    def duration(self, name: str, default: Any = None) -> float:
        value = self.raw.get(name, default)
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise DetectorConfigError(f"{name}: {exc}") from None

    def integer(self, name: str, default: int | None = None, minimum: int = 1) -> int:
        value = self.raw.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise DetectorConfigError(f"{name} must be a whole number of at least {minimum}, got {value!r}")
        return value

    def number(self, name: str, default: float, low: float, high: float) -> float:
        value = self.raw.get(name, default)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
            raise DetectorConfigError(f"{name} must be a number in [{low}, {high}], got {value!r}")
        return float(value)

    def group_by(self, default: list[str] | None = None, name: str = "group_by") -> list[KeySpec]:
        try:
            return parse_group_by(self.raw.get(name), default)
        except KeySpecError as exc:
            raise DetectorConfigError(f"{name}: {exc}") from None

    def choice(self, name: str, default: str, options: tuple[str, ...]) -> str:
        value = self.raw.get(name, default)
        if value not in options:
            raise DetectorConfigError(f"{name} must be one of {', '.join(options)}, got {value!r}")
        return str(value)
