"""Helpers to build rule packs in tests from small YAML snippets."""

from __future__ import annotations

import textwrap

from flockwatch.detect.compiled import CompiledPack
from flockwatch.rules.loader import load_pack_text

HEADER = """\
pack:
  name: {name}
  version: 1.0.0
  requires_engine: ">=1.0,<2"
"""


def pack_text(body: str, name: str = "tp") -> str:
    return HEADER.format(name=name) + textwrap.dedent(body)


def load(body: str, name: str = "tp", file: str = "t.yaml") -> CompiledPack:
    return load_pack_text(pack_text(body, name), file)
