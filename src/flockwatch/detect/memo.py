"""A bounded memo that keeps what is still in use when it fills up."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Generations:
    """A memo of the most recent keys in two generations: a key is put in the young
    one; when that is full it becomes the old one (the previous old one is dropped),
    and a key found in the old one moves back to the young one. Lookups read `young`
    directly (a hit costs one dict lookup) and call `fill` on a miss, or check `old`
    themselves and `put` (the changelog encoder, whose keys are ids that can be reused)."""

    __slots__ = ("size", "young", "old")

    def __init__(self, size: int):
        self.size = size
        self.young: dict[Any, Any] = {}
        self.old: dict[Any, Any] = {}

    def fill(self, key: Any, compute: Callable[[], Any]) -> Any:
        value = self.old.get(key)
        if value is None:
            value = compute()
        self.put(key, value)
        return value

    def put(self, key: Any, value: Any) -> None:
        """Into the young generation (turning it over first when it is full)."""
        if len(self.young) >= self.size:
            self.old, self.young = self.young, {}
        self.young[key] = value
