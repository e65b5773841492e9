"""Where stateful detectors keep their state.

`DictState` is the file-mode backend: plain dicts, one per rule. The worker supplies
a backend over a Faust table instead (`flockwatch.worker.table_state`). Detectors only
ever see a `MutableMapping[str, Any]` for their own rule.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any, Protocol


class StateBackend(Protocol):
    def for_rule(self, rule_id: str) -> MutableMapping[str, Any]: ...


class DictState:
    def __init__(self) -> None:
        self._rules: dict[str, dict[str, Any]] = {}

    def for_rule(self, rule_id: str) -> MutableMapping[str, Any]:
        return self._rules.setdefault(rule_id, {})

    def drop_rule(self, rule_id: str) -> None:
        """Forget a rule's state (a reload removed the rule or changed its type)."""
        self._rules.pop(rule_id, None)
