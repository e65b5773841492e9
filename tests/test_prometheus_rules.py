"""flockwatch's own alerting rules and scrape config pass Prometheus' own checks, and
the promtool unit tests fire every alert (a new alert without a test fails here)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from support.metric_names import exported_series, metric_names

ROOT = Path(__file__).resolve().parents[1]
PROM = ROOT / "deploy" / "prometheus"
RULES = PROM / "flockwatch-alerts.yml"
RULE_TESTS = PROM / "flockwatch-alerts.test.yml"


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool not installed (Debian: apt-get install prometheus; .ci/run does it)")
    return path


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=60, cwd=PROM)


def alert_rules() -> list[dict]:
    return [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r]


def test_promtool_check_rules() -> None:
    out = run_promtool("check", "rules", RULES.name)
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_check_config() -> None:
    out = run_promtool("check", "config", "prometheus.yml")
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_unit_tests_pass() -> None:
    out = run_promtool("test", "rules", RULE_TESTS.name)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_has_a_unit_test_that_fires_it_and_one_that_does_not() -> None:
    fired: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {r["alert"] for r in alert_rules()}
    assert names - fired == set(), "alerts no unit test fires"
    assert names - quiet == set(), "alerts no unit test checks for silence"


REQUIRED = {
    "FlockwatchNoEventsProcessed", "FlockwatchDeadLetterRate", "FlockwatchNotificationFailures",
    "FlockwatchConsumerLagGrowing", "FlockwatchRuleReloadFailed", "FlockwatchLatencyAboveTarget",
}


def test_the_required_alerts_exist_with_severity_and_runbook() -> None:
    rules = {r["alert"]: r for r in alert_rules()}
    assert REQUIRED <= set(rules)
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("critical", "warning"), name
        anchor = rule["annotations"]["runbook"].split("#", 1)[1]
        assert anchor == name.lower(), name


def test_rules_use_metrics_flockwatch_exports() -> None:
    """Every flockwatch_* metric named in an alert exists in the metrics registry (or is
    one of the delivery metrics listed here until that registry lands)."""
    exported = exported_series()
    pending = {"flockwatch_notifications_total"}  # delivery branch
    for rule in alert_rules():
        for name in metric_names(rule["expr"]):
            assert name in exported or name in pending, f"{rule['alert']}: {name} is not a flockwatch metric"
