"""Every dashboard query and every alerting rule against a real Prometheus scraping a
real worker that has processed generated traffic (with dead letters, a stateful rule, a
template error and rule reloads in it) and the notifier delivering its alerts to a local
webhook: each must parse, and each dashboard query must return data. Catches a renamed metric, a wrong label or a typo that static checks miss."""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from support.cli import cli_env, run_cli
from support.prometheus import Prometheus, prometheus, prometheus_binary
from support.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
ALERT_RULES = ROOT / "deploy" / "prometheus" / "flockwatch-alerts.yml"
EVENTS = 2500  # past the engine's 2000-event garbage collection, which publishes state keys

# A pack whose rule always fires and whose summary fails at run time on down-votes: rule
# errors must have data too. Its inline test is an up-vote (a fire case whose summary fails
# is a failed test, and the worker would refuse the pack). Rewritten (version bump) during
# the test to record a successful reload.
LIVE_PACK = """\
pack:
  name: livecheck
  version: {version}
  requires_engine: ">=1.0,<2"
rules:
  - id: livecheck.every_vote
    title: Every vote
    description: fires on every vote so the per-rule panels have a second pack
    category: other
    severity: info
    events: [vote]
    condition: {{field: type, equals: vote}}
    summary: "{{{{ 'up-vote' if event.value == 1 else evidence.no_such_key.deeper }}}}"
    tests:
      fire: [{{type: vote, value: 1}}]
      quiet: [{{type: post, text: hi}}]
"""

# The notifier delivers to a local webhook that answers 200, so notification outcomes
# have data (and FlockwatchNotificationFailures stays quiet).
NOTIFY_CONFIG = """\
receivers:
  - name: oncall
    type: webhook
    url_env: FW_LIVE_WEBHOOK_URL
route:
  receiver: oncall
  group_by: [rule]
  group_wait: 0s
  group_interval: 1s
"""


class _Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def events_file(path: Path) -> Path:
    from flockwatch.simulate.firehose import SyntheticFirehose

    gen = SyntheticFirehose(seed=7, agents=80, attack_share=0.03, prefix="live")
    events = list(gen.events(EVENTS)) + gen._flood()  # noqa: SLF001 - a flood for the stateful rule
    lines = [json.dumps(e) for e in sorted(events, key=lambda e: e["ts"])]
    lines[100:100] = ['{"event_id": "bad-1", "type": "post", "ts": "2026-01-30T12:00:05Z", "agent_id": "a", "text": "tr',
                      '{"event_id": "bad-2", "type": "telepathy", "ts": "2026-01-30T12:00:06Z", "agent_id": "a"}']
    path.write_text("\n".join(lines) + "\n")
    return path


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def wait_until(cond, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def live(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    if prometheus_binary() is None:
        pytest.skip("prometheus not installed (Debian: apt-get install prometheus; .ci/run does it)")
    tmp = tmp_path_factory.mktemp("live")
    rules = tmp / "rules"
    rules.mkdir()
    for pack in (ROOT / "rules").glob("*.yaml"):
        (rules / pack.name).write_text(pack.read_text())
    (rules / "livecheck.yaml").write_text(LIVE_PACK.format(version="1.0.0"))
    topic = f"live-events-{os.getpid()}"
    port, notify_port = free_port(), free_port()
    database_url = f"sqlite:///{tmp / 'alerts.db'}"
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    (tmp / "notify.yaml").write_text(NOTIFY_CONFIG)
    log = (tmp / "worker.log").open("wb")
    notify_log = (tmp / "notify.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "flockwatch", "worker", "--broker", broker, "--rules", str(rules),
         "--topic", topic, "--group", f"live-{os.getpid()}", "--alerts-topic", f"{topic}-alerts",
         "--dead-letter-topic", f"{topic}-dead", "--metrics-port", str(port),
         "--database-url", database_url, "--data-dir", str(tmp / "faust"),
         "--rules-poll-seconds", "0.5"],
        env=cli_env(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    notifier = subprocess.Popen(
        [sys.executable, "-m", "flockwatch", "notify", "run", "--config", str(tmp / "notify.yaml"),
         "--metrics-port", str(notify_port)],
        env=cli_env({"FW_LIVE_WEBHOOK_URL": f"http://127.0.0.1:{hook.server_address[1]}/hook",
                     "FLOCKWATCH_DATABASE_URL": database_url}),
        stdout=notify_log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: http_status(f"http://127.0.0.1:{port}/readyz") == 200 or worker.poll() is not None,
                   90, "the worker to be ready")
        assert worker.poll() is None, (tmp / "worker.log").read_text()[-3000:]
        with prometheus([f"127.0.0.1:{port}", f"127.0.0.1:{notify_port}"], tmp, rule_files=[ALERT_RULES]) as prom:
            assert prom.wait_for('up{job="flockwatch"} == 1', 30), "prometheus never scraped the worker"
            out = run_cli("produce", str(events_file(tmp / "events.jsonl")), "--broker", broker,
                          "--topic", topic, "--raw", timeout=120)
            assert out.returncode == 0, out.stderr.decode()
            # A reload with nothing changed, then a real one.
            worker.send_signal(signal.SIGHUP)
            assert prom.wait_for('flockwatch_rules_reloads_total{outcome="unchanged"} >= 1', 30)
            (rules / "livecheck.yaml").write_text(LIVE_PACK.format(version="1.0.1"))
            assert prom.wait_for('flockwatch_rule_pack_info{pack="livecheck", version="1.0.1"}', 30)
            assert prom.wait_for(f"sum(flockwatch_events_total) >= {EVENTS}", 60), "worker did not process the traffic"
            assert prom.wait_for("flockwatch_state_keys", 30)
            assert prom.wait_for('flockwatch_notifications_total{outcome="delivered"} > 0', 60), \
                (tmp / "notify.log").read_text()[-3000:]
            time.sleep(3)  # a few more scrapes so every rate window holds two samples after the traffic
            yield prom
    finally:
        for proc in (worker, notifier):
            proc.terminate()
        for proc in (worker, notifier):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        hook.shutdown()
        log.close()
        notify_log.close()


def dashboard_queries() -> list[tuple[str, str, str]]:
    out = []
    for path in sorted((ROOT / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for t in panel.get("targets", []):
                out.append((path.stem, panel["title"], t["expr"]))
        for ann in board["annotations"]["list"]:
            if "expr" in ann:
                out.append((path.stem, f"annotation {ann['name']}", ann["expr"]))
    return out


def concrete(expr: str) -> str:
    """What Grafana sends for this dashboard's variables at a short time range."""
    return (expr.replace("$__rate_interval", "10s").replace("$__range", "2m")
            .replace("$instance", ".*").replace("$pack", ".*"))


@pytest.mark.kafka
def test_every_dashboard_query_parses_and_returns_data(live: Prometheus) -> None:
    failures = []
    for board, title, expr in dashboard_queries():
        status, body = live.query(concrete(expr))
        if status != 200 or body.get("status") != "success":
            failures.append(f"{board} / {title}: does not parse: {body.get('error')}")
            continue
        if not body["data"]["result"]:
            failures.append(f"{board} / {title}: no data for {concrete(expr)}")
    assert not failures, "\n".join(failures)


@pytest.mark.kafka
def test_dashboard_variables_have_values(live: Prometheus) -> None:
    for path in sorted((ROOT / "dashboards").glob("*.json")):
        for var in json.loads(path.read_text())["templating"]["list"]:
            if var["type"] != "query":
                continue
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", var["definition"])
            assert m, var["definition"]
            status, body = live.api("series", **{"match[]": m.group(1)})
            assert status == 200 and any(m.group(2) in s for s in body["data"]), var["name"]


@pytest.mark.kafka
def test_every_alerting_rule_parses_and_evaluates_cleanly(live: Prometheus) -> None:
    rules = [r for g in yaml.safe_load(ALERT_RULES.read_text())["groups"] for r in g["rules"]]
    for rule in rules:
        status, body = live.query(rule["expr"])
        assert status == 200 and body["status"] == "success", f"{rule['alert']}: {body.get('error')}"
    status, body = live.api("rules")
    loaded = {r["name"]: r for g in body["data"]["groups"] for r in g["rules"]}
    assert set(loaded) == {r["alert"] for r in rules}
    for name, r in loaded.items():
        assert r["health"] in ("ok", "unknown") and not r.get("lastError"), f"{name}: {r.get('lastError')}"
    # with traffic flowing and the reload fixed, none of them should be firing
    firing = [r["name"] for r in loaded.values() if r["state"] == "firing"]
    assert firing == [], firing
