"""`flockwatch bridge moltbook` as a process: the key stays secret, SIGTERM stops it
cleanly, and SIGKILL at any moment loses and repeats nothing after a restart."""

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest

from support.cli import ROOT, cli_env, run_cli
from support.moltbook_scenario import Scenario, read_topic, recent_t0
from support.moltbook_server import MoltbookServer

SECRET = "moltbook_sk_cli_SECRET_do_not_print"


def bridge_args(server, tmp_path, *extra):
    return ["bridge", "moltbook", "--base-url", server.base_url, "--db", f"sqlite:///{tmp_path}/state.db",
            "--page-limit", "5", "--backfill-pages", "100", "--lookback", "0", "--detail-min-interval", "0",
            "--detail-max-interval", "0", "--community-refresh", "0", "--interval", "0.2", "--timeout", "0.5",
            "--retry-base", "0.01", *extra]


@pytest.fixture
def scenario():
    s = Scenario(t0=recent_t0())  # the CLI runs on the wall clock
    with MoltbookServer(s.platform).running() as server:
        s.server = server
        yield s


def test_cli_polls_to_jsonl_without_ever_printing_the_key(scenario, tmp_path):
    server, out, dead = scenario.server, tmp_path / "events.jsonl", tmp_path / "dead.jsonl"
    server.fault("/posts", "429s", retry_after=0.2)
    server.fault("/posts/p-2", "500", times=2)
    server.platform.raw_list_items = ["not a post"]
    res = run_cli("--log-level", "DEBUG", *bridge_args(server, tmp_path, "--out", str(out), "--dead-letter",
                                                        str(dead), "--cycles", "2"),
                  env={"MOLTBOOK_API_KEY": SECRET})
    err = res.stderr.decode()
    assert res.returncode == 0, err
    assert SECRET not in err and SECRET not in res.stdout.decode()
    assert "429 rate limited" in err  # the logs were on, so the test could have caught a leak
    assert all(r.authorization == f"Bearer {SECRET}" for r in server.requests)
    ids = [json.loads(line)["event_id"] for line in out.read_text().splitlines()]
    assert len(ids) == len(set(ids)) and set(ids) == scenario.expected_ids()
    assert [json.loads(line)["reason"] for line in dead.read_text().splitlines()] == ["not_an_object"]
    assert "bridge: 2 cycles" in err and "1 dead letters" in err


def test_cli_refuses_a_wrong_key_clearly(scenario, tmp_path):
    server = scenario.server
    server.respond = lambda path, query: (401, b'{"success": false, "error": "Invalid API key"}', {})
    res = run_cli(*bridge_args(server, tmp_path, "--out", str(tmp_path / "o.jsonl"), "--cycles", "1"),
                  env={"MOLTBOOK_API_KEY": SECRET})
    assert res.returncode == 1
    err = res.stderr.decode()
    assert "check the API key" in err and "MOLTBOOK_API_KEY" in err and SECRET not in err


def _start(args, env):
    return subprocess.Popen([sys.executable, "-m", "flockwatch", *args], cwd=ROOT, env=cli_env(env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _after_requests(server, n):
    reached = threading.Event()
    server.on_request = lambda req: len(server.requests) >= n and reached.set()
    return reached


def test_sigterm_stops_cleanly(scenario, tmp_path):
    server = scenario.server
    reached = _after_requests(server, 3)
    proc = _start(bridge_args(server, tmp_path, "--out", str(tmp_path / "o.jsonl")), {"MOLTBOOK_API_KEY": SECRET})
    try:
        assert reached.wait(30), proc.stderr.read().decode() if proc.poll() is not None else "no requests"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    assert "bridge:" in err.decode()


@pytest.mark.kafka
@pytest.mark.parametrize("kill_after", [6, 19])
def test_sigkill_and_restart_with_kafka_repeats_and_loses_nothing(scenario, tmp_path, broker, kill_after):
    server = scenario.server
    topic = f"bridge-kill-{kill_after}-{int(time.time() * 1000) % 100000}"
    args = bridge_args(server, tmp_path, "--bootstrap", broker, "--topic", topic, "--partitions", "3")
    reached = _after_requests(server, kill_after)
    proc = _start(args, {"MOLTBOOK_API_KEY": SECRET})
    try:
        assert reached.wait(60), "bridge made too few requests"
    finally:
        proc.kill()  # SIGKILL: no cleanup, wherever it was
        proc.communicate(timeout=20)
    server.on_request = None
    scenario.grow()
    res = run_cli(*args, "--cycles", "2", env={"MOLTBOOK_API_KEY": SECRET})
    assert res.returncode == 0, res.stderr.decode()
    ids = [m["event_id"] for m in read_topic(broker, topic)]
    dupes = [i for i, n in Counter(ids).items() if n > 1]
    assert not dupes, dupes
    content = {i for i in ids if i.startswith(("post:", "comment:"))}
    assert content == scenario.content_ids()
    # a profile first read after it changed has only its new version to report
    assert scenario.current_profile_ids() <= set(ids) <= scenario.expected_ids()


def test_cli_a_redirect_is_refused_and_named(scenario, tmp_path):
    # The bare domain redirects to www. The redirect used to be followed with the key
    # (leaked to wherever it pointed), and a target answering 401 gave only "check the
    # API key", hiding that a redirect happened at all.
    target = scenario.server
    target.respond = lambda path, query: (401, b'{"success": false, "error": "Invalid API key"}', {})
    with MoltbookServer(scenario.platform).running() as front:
        front.redirect_to = target.origin
        res = run_cli(*bridge_args(front, tmp_path, "--out", str(tmp_path / "o.jsonl"), "--cycles", "1"),
                      env={"MOLTBOOK_API_KEY": SECRET})
    err = res.stderr.decode()
    assert not [r for r in target.requests if r.authorization], "the key followed the redirect"
    assert res.returncode == 1, err
    assert "redirect" in err and f"--base-url {target.base_url}" in err and SECRET not in err
