"""Grafana dashboards: well-formed, laid out without overlaps, covering what SREs need,
and querying only metrics flockwatch exports. (That every query parses and returns data
is proven against a real Prometheus in test_prometheus_live.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from support.metric_names import exported_series, metric_names

ROOT = Path(__file__).resolve().parents[1]
BOARDS = sorted((ROOT / "dashboards").glob("*.json"))
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"


def panels(board: dict) -> list[dict]:
    out = []
    for p in board["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def queries(board: dict) -> list[str]:
    return [t["expr"] for p in panels(board) for t in p.get("targets", [])]


def load(name: str) -> dict:
    return json.loads((ROOT / "dashboards" / name).read_text())


def test_there_are_an_overview_and_a_rules_dashboard() -> None:
    assert [b.name for b in BOARDS] == ["flockwatch-overview.json", "flockwatch-rules.json"]


@pytest.mark.parametrize("path", BOARDS, ids=lambda p: p.name)
def test_dashboard_is_well_formed(path: Path) -> None:
    board = json.loads(path.read_text())
    assert board["uid"] and board["title"].startswith("flockwatch")
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    cells: set[tuple[int, int]] = set()
    for p in panels(board):
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not (mine & cells), f"panel {p['title']!r} overlaps another"
        cells |= mine
        if p["type"] == "row":
            continue
        assert p.get("description"), f"panel {p['title']!r} has no description"
        assert p["targets"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${datasource}"
    variables = {v["name"] for v in board["templating"]["list"]}
    assert "datasource" in variables
    for q in queries(board):
        for var in ("$instance", "$pack"):
            if var in q:
                assert var[1:] in variables, f"{q} uses an undefined variable"


@pytest.mark.parametrize("path", BOARDS, ids=lambda p: p.name)
def test_dashboard_queries_only_exported_metrics(path: Path) -> None:
    exported = exported_series()
    pending = {"flockwatch_notifications_total"}  # delivery branch registry
    for q in queries(json.loads(path.read_text())):
        names = metric_names(q)
        assert names, f"query names no flockwatch metric: {q}"
        assert names <= exported | pending, f"unknown metric in {q}"


OVERVIEW_NEEDS = {
    "events/s by type": "flockwatch_events_total",
    "alerts by category and severity": "flockwatch_alerts_stored_total",
    "top rules": "flockwatch_rule_matches_total",
    "active cascades": "flockwatch_active_incidents",
    "processing latency percentiles": "flockwatch_processing_latency_seconds_bucket",
    "consumer lag": "flockwatch_consumer_lag",
    "dead letters": "flockwatch_dead_letters_total",
    "notification outcomes": "flockwatch_notifications_total",
    "rule reloads": "flockwatch_rules_reloads_total",
    "memory per process": "process_resident_memory_bytes",
    "cpu per event": "process_cpu_seconds_total",
}
RULES_NEEDS = {
    "matches per rule and pack": "flockwatch_rule_matches_total",
    "engine time per rule": "flockwatch_rule_engine_seconds_total",
    "engine time per pack": "flockwatch_engine_seconds_total",
}


@pytest.mark.parametrize(("name", "needs"), [("flockwatch-overview.json", OVERVIEW_NEEDS),
                                             ("flockwatch-rules.json", RULES_NEEDS)])
def test_dashboard_covers_what_operators_need(name: str, needs: dict[str, str]) -> None:
    used = set().union(*(metric_names(q) for q in queries(load(name))))
    missing = {what for what, metric in needs.items() if metric not in used}
    assert not missing


def test_latency_panel_shows_percentiles() -> None:
    qs = [q for q in queries(load("flockwatch-overview.json")) if "processing_latency" in q]
    assert {q.split("(", 2)[1].split(",")[0] for q in qs} >= {"0.5", "0.95", "0.99"}


def test_grafana_provisioning_points_at_the_dashboards() -> None:
    ds = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    assert ds["datasources"][0]["type"] == "prometheus"
    prov = yaml.safe_load((PROVISIONING / "dashboards" / "flockwatch.yml").read_text())
    path = prov["providers"][0]["options"]["path"]
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    grafana_volumes = compose["services"]["grafana"]["volumes"]
    assert any(v.startswith("../dashboards:") and v.split(":")[1] == path for v in grafana_volumes), grafana_volumes
