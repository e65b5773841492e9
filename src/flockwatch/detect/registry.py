"""Rule types register here by name; a pack's `type:` field picks one."""

from __future__ import annotations

from flockwatch.detect.detector import Detector

_TYPES: dict[str, type[Detector]] = {}


def register(cls: type[Detector]) -> type[Detector]:
    if cls.name in _TYPES and _TYPES[cls.name] is not cls:
        raise ValueError(f"rule type {cls.name!r} registered twice")
    _TYPES[cls.name] = cls
    return cls


def rule_type(name: str) -> type[Detector] | None:
    _load_builtin()
    return _TYPES.get(name)


def rule_types() -> tuple[str, ...]:
    _load_builtin()
    return tuple(sorted(_TYPES))


def _load_builtin() -> None:
    # Importing the package registers every built-in type (one module each).
    import flockwatch.detect.rule_types  # noqa: F401
