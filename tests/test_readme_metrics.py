"""The README's metrics table lists every series the worker, scan and notifier export, so an
SRE reading it finds each name they see in Prometheus (and no name that does not exist)."""

from __future__ import annotations

import re
from pathlib import Path

from flockwatch.bridge.metrics import BridgeMetrics
from flockwatch.metrics.registry import Metrics

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
_SUFFIX = {"counter": "_total", "info": "_info"}


def documented() -> set[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Metrics", 1)[1].split("\n## ", 1)[0]
    first_cells = re.findall(r"^\| (`.+?) \|", section, re.M)  # a row may name several series
    return {name for cell in first_cells for name in re.findall(r"`([a-z][a-z0-9_]+)`", cell)}


def exported() -> set[str]:
    return {f.name + _SUFFIX.get(f.type, "") for f in Metrics().registry.collect()}


def test_every_exported_metric_is_in_the_readme_table():
    assert exported() - documented() == set()


def test_the_readme_table_names_no_metric_that_does_not_exist():
    assert documented() - exported() == set()


def test_docs_bridge_lists_every_bridge_series():
    # docs/bridge.md writes `flockwatch_bridge_requests_total`, then `..._retries_total`.
    text = (ROOT / "docs" / "bridge.md").read_text(encoding="utf-8")
    section = text.split("### Metrics", 1)[1].split("\n## ", 1)[0]
    listed = {n.replace("...", "flockwatch_bridge") for n in re.findall(r"`((?:flockwatch_bridge|\.\.\.)_[a-z_]+)", section)}
    exported = {f.name + _SUFFIX.get(f.type, "") for f in BridgeMetrics().registry.collect()
                if f.name.startswith("flockwatch_bridge_")}
    assert listed == exported
    assert "process_*" in section
