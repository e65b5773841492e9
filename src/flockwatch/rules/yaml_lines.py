"""A YAML loader that remembers where each mapping came from.

Rule authors need errors that name the file and line; PyYAML's composed nodes know
the line, so the safe loader copies it into each mapping under `LINE_KEY`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

LINE_KEY = "__line__"


class _LineLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        mapping = super().construct_mapping(node, deep=deep)
        mapping[LINE_KEY] = node.start_mark.line + 1
        return mapping


# Duplicate keys silently override in PyYAML; in a rule file that hides mistakes.
def _no_duplicate_keys(loader: _LineLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key]})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line + 1
    return _LineLoader.construct_mapping(loader, node, deep)


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicate_keys)


def load_with_lines(text: str) -> Any:
    return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass


def load_file(path: Path) -> Any:
    return load_with_lines(path.read_text(encoding="utf-8"))


def strip_lines(obj: Any) -> Any:
    """A copy without line markers (for data handed to user templates or events)."""
    if isinstance(obj, dict):
        return {k: strip_lines(v) for k, v in obj.items() if k != LINE_KEY}
    if isinstance(obj, list):
        return [strip_lines(v) for v in obj]
    return obj


def line_of(obj: Any, default: int = 0) -> int:
    return obj.get(LINE_KEY, default) if isinstance(obj, dict) else default
