"""Names of the series flockwatch exports, as PromQL sees them (counter `_total`,
histogram `_bucket`/`_sum`/`_count`), whether or not a labelled child exists yet."""

from __future__ import annotations

import re

from flockwatch.metrics.registry import Metrics

_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
    "info": ("_info",),
    "gauge": ("",),
}

# flockwatch's own series, and the process collector's it registers beside them.
METRIC_NAME = re.compile(r"\b(?:flockwatch|process)_[a-z0-9_]+")


def exported_series() -> set[str]:
    out: set[str] = set()
    for family in Metrics().registry.collect():
        out.update(family.name + s for s in _SUFFIXES.get(family.type, ("",)))
    return out


def metric_names(promql: str) -> set[str]:
    return set(METRIC_NAME.findall(promql))
