"""The alert API over real HTTP (aiohttp server in a thread) and the matching CLI."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from contextlib import contextmanager

import pytest
from aiohttp import web

from flockwatch.api.app import ROUTES, make_app, openapi_document
from flockwatch.api.service import AlertService
from flockwatch.notify.config import parse_config
from flockwatch.notify.notifier import Notifier
from flockwatch.store.alert_store import AlertStore
from support.alerts import make_alert
from support.cli import run_cli
from support.servers import free_port
from support.webhook import WebhookReceiver

SECRET = "sk-proj-abcdefghijklmnopqrstuvwxyz012345"


@contextmanager
def serve(service: AlertService, token: str = ""):
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(make_app(service, token))
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(5)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def call(base: str, method: str, path: str, body=None, token: str | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def world(tmp_path):
    rx = WebhookReceiver().start()
    url = f"sqlite:///{tmp_path}/fw.db"
    store = AlertStore(url)
    Notifier(engine=store.engine).enqueue(store.upsert([
        make_alert("one", rule="spam.copy", category="spam_cascade", severity="critical", tags=["dm"],
                   summary=f"agent pasted {SECRET}", last="2026-01-30T12:05:00.000Z"),
        make_alert("two", rule="spam.vote", category="spam_cascade", severity="low"),
        make_alert("three", rule="cipher.rot13", category="cipher", severity="high", last="2026-01-30T11:00:00.000Z"),
    ]))
    cfg = parse_config({"receivers": [{"name": "hook", "type": "webhook", "url": rx.url}], "route": {"receiver": "hook"}})
    service = AlertService(engine=store.engine, config=cfg)
    yield service, rx, url
    rx.stop()


def test_openapi_document_matches_the_routes():
    doc = openapi_document()
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    served = {(m, p) for m, p, _ in ROUTES}
    assert documented == served
    for path, ops in doc["paths"].items():
        for op in ops.values():
            assert op["responses"] and op["summary"], path


def test_alerts_list_show_ack_resolve(world):
    service, _, _ = world
    with serve(service) as base:
        status, body = call(base, "GET", "/api/v1/alerts")
        assert status == 200 and body["count"] == 3
        assert [a["rule_id"] for a in body["alerts"]] == ["spam.copy", "spam.vote", "cipher.rot13"]  # newest first
        assert SECRET not in json.dumps(body) and "sk-proj-ab…#" in body["alerts"][0]["summary"]
        for query, rules in [("?rule=spam.*", {"spam.copy", "spam.vote"}), ("?category=cipher", {"cipher.rot13"}),
                             ("?severity=critical", {"spam.copy"}), ("?tag=dm", {"spam.copy"}),
                             ("?since=2026-01-30T12:01:00.000Z", {"spam.copy"}), ("?rule=spam.*&limit=1", {"spam.copy"})]:
            assert {a["rule_id"] for a in call(base, "GET", "/api/v1/alerts" + query)[1]["alerts"]} == rules, query
        assert call(base, "GET", "/api/v1/alerts?status=sleeping")[0] == 400
        assert call(base, "GET", "/api/v1/alerts?limit=x")[0] == 400
        assert call(base, "GET", "/api/v1/alerts?offset=3")[1] == {  # past the last page
            "alerts": [], "returned": 0, "count": 0, "has_more": False, "next": None}
        for offset in ("9223372036854775808", "99999999999999999999999"):  # beyond SQL's 64-bit integers
            assert call(base, "GET", "/api/v1/alerts?offset=" + offset)[0] == 400

        fp = body["alerts"][0]["fingerprint"]
        status, alert = call(base, "GET", f"/api/v1/alerts/{fp[:8]}")
        assert status == 200 and alert["fingerprint"] == fp and alert["event_ids"] == ["one-e1"]
        assert [h["action"] for h in alert["history"]] == ["created"] and alert["deliveries"] == []
        assert call(base, "GET", "/api/v1/alerts/ffffffffff")[0] == 404
        assert call(base, "GET", "/api/v1/alerts/ab")[0] == 400
        one = call(base, "GET", "/api/v1/alerts?category=cipher")[1]["alerts"][0]["fingerprint"]
        for wild in (one[:2] + "____", one[:2] + "%%%%", one[:2] + "%25%25%25%25"):  # LIKE wildcards are characters
            assert call(base, "GET", f"/api/v1/alerts/{wild}")[0] == 404, wild

        assert call(base, "POST", f"/api/v1/alerts/{fp}/ack", {"comment": "who?"})[0] == 400  # no author
        assert call(base, "POST", f"/api/v1/alerts/{fp}/ack", {"author": None})[0] == 400  # not an actor named "None"
        status, t = call(base, "POST", f"/api/v1/alerts/{fp}/ack", {"author": "ana", "comment": "on it"})
        assert status == 200 and t == {"fingerprint": fp, "previous": "firing", "status": "acknowledged", "changed": True}
        assert call(base, "POST", f"/api/v1/alerts/{fp}/ack", {"author": "ana"})[1]["changed"] is False
        assert call(base, "POST", f"/api/v1/alerts/{fp}/resolve", {"author": "bo", "comment": "removed"})[1]["status"] == "resolved"
        status, err = call(base, "POST", f"/api/v1/alerts/{fp}/ack", {"author": "ana"})
        assert status == 409 and "resolved" in err["error"]
        assert {a["fingerprint"] for a in call(base, "GET", "/api/v1/alerts?status=resolved")[1]["alerts"]} == {fp}
        history = call(base, "GET", f"/api/v1/alerts/{fp}")[1]["history"]
        assert [(h["action"], h["actor"]) for h in history] == [("created", "flockwatch"), ("acknowledged", "ana"),
                                                                 ("resolved", "bo")]
        assert history[2]["detail"] == {"comment": "removed", "from": "acknowledged"}
        assert call(base, "POST", f"/api/v1/alerts/{fp}/ack", None)[0] == 400  # no JSON body


def test_alerts_since_is_a_point_in_time(world):
    # last_ts of spam.copy is 2026-01-30T12:05:00.000Z; `since` is compared as a time,
    # whatever ISO-8601 spelling it comes in.
    service, _, url = world
    with serve(service) as base:
        for since in ("2026-01-30T12:05:00Z", "2026-01-30T12:05:00.000Z", "2026-01-30T12:05:00+00:00",
                      "2026-01-30T14:05:00%2B02:00", "2026-01-30T14:05:00+02:00",  # '+' arrives as a space
                      "2026-01-30T07:05:00-05:00", "2026-01-30T12:05:00"):  # no zone: UTC
            status, body = call(base, "GET", "/api/v1/alerts?since=" + since)
            assert status == 200 and {a["rule_id"] for a in body["alerts"]} == {"spam.copy"}, since
        assert call(base, "GET", "/api/v1/alerts?since=2026-01-30T14:05:00.001%2B02:00")[1]["alerts"] == []
        for bad in ("yesterday", "2026-13-01", "1700000000"):
            status, err = call(base, "GET", "/api/v1/alerts?since=" + bad)
            assert status == 400 and "since" in err["error"], bad
    res = run_cli("alerts", "list", "--database", url, "--since", "2026-01-30T12:05:00Z")
    assert res.returncode == 0 and b"spam.copy" in res.stdout and b"spam.vote" not in res.stdout
    res = run_cli("alerts", "list", "--database", url, "--since", "last tuesday")
    assert res.returncode == 2 and b"since" in res.stderr


def test_silences_crud(world):
    service, _, _ = world
    with serve(service) as base:
        status, s = call(base, "POST", "/api/v1/silences", {"matchers": {"rule": "spam.*"}, "duration": "2h",
                                                             "author": "ana", "comment": "campaign being removed"})
        assert status == 201 and s["state"] == "active" and s["matchers"] == {"rule": ["spam.*"]}
        assert s["ends_at"].endswith("Z") and s["created_by"] == "ana"
        status, future = call(base, "POST", "/api/v1/silences", {
            "matchers": {"category": "cipher"}, "starts_at": "2999-01-01T00:00:00Z", "ends_at": "2999-01-02T00:00:00Z",
            "author": "ana", "comment": "maintenance"})
        assert status == 201 and future["state"] == "pending"
        for bad in ({"matchers": {}, "duration": "1h", "author": "a", "comment": "c"},
                    {"matchers": {"rule": "x"}, "duration": "1h", "author": "a", "comment": ""},
                    {"matchers": {"rule": "x"}, "duration": "1h", "author": "a", "comment": None},
                    {"matchers": {"rule": "x"}, "duration": "1h", "author": None, "comment": "c"},
                    {"matchers": {"colour": "x"}, "duration": "1h", "author": "a", "comment": "c"},
                    {"matchers": {"rule": "x"}, "author": "a", "comment": "c"},
                    {"matchers": {"rule": "x"}, "ends_at": "2000-01-01T00:00:00Z", "author": "a", "comment": "c"}):
            assert call(base, "POST", "/api/v1/silences", bad)[0] == 400, bad
        # JSON parsers take NaN: a silence stored with it failed on SQLite (500) and, on
        # PostgreSQL, broke every later silence listing and could not be expired.
        # Nor can one end after year 9999: it could not be shown, and broke every listing too.
        for times in ({"ends_at": float("nan")}, {"starts_at": float("nan"), "duration": "1h"},
                      {"starts_at": "9999-12-31T23:30:00Z", "duration": "1h"}, {"starts_at": 1e15, "ends_at": 1e15 + 60}):
            status, err = call(base, "POST", "/api/v1/silences", {"matchers": {"rule": "x"}, "author": "a",
                                                                 "comment": "c", **times})
            assert status == 400 and "9999" in err["error"], times
        assert [x["id"] for x in call(base, "GET", "/api/v1/silences?state=active")[1]["silences"]] == [s["id"]]
        assert call(base, "GET", f"/api/v1/silences/{s['id']}")[1]["comment"] == "campaign being removed"
        assert call(base, "DELETE", f"/api/v1/silences/{s['id']}")[0] == 400  # who?
        assert call(base, "DELETE", f"/api/v1/silences/{s['id']}", {"author": None})[0] == 400
        status, expired = call(base, "DELETE", f"/api/v1/silences/{s['id']}?author=bo")
        assert status == 200 and expired["state"] == "expired" and expired["expired_by"] == "bo"
        assert call(base, "GET", "/api/v1/silences/nope")[0] == 404


def test_silence_times_without_zone_are_utc(world, monkeypatch):
    # As in the CLI (`silences add --start/--until`): not the API server's local time.
    import time

    service, _, _ = world
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        with serve(service) as base:
            status, s = call(base, "POST", "/api/v1/silences", {
                "matchers": {"rule": "x"}, "starts_at": "2999-01-01T00:00:00", "ends_at": "2999-01-01T06:00:00",
                "author": "ana", "comment": "maintenance"})
    finally:
        monkeypatch.undo()
        time.tzset()
    assert status == 201 and (s["starts_at"], s["ends_at"]) == ("2999-01-01T00:00:00.000Z", "2999-01-01T06:00:00.000Z")


@pytest.fixture(params=["sqlite", "postgres"])
def one_alert(request, tmp_path):
    """(store URL, store, fingerprint) of a store holding one alert, on each backend:
    the API must answer the same on both."""
    url = f"sqlite:///{tmp_path}/fw.db" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    store = AlertStore(url)
    [stored] = store.upsert([make_alert("one")])
    return url, store, stored.alert.fingerprint


def test_author_longer_than_the_column_is_a_400(one_alert):
    # PostgreSQL enforces the 128-character actor columns (a 500 there); SQLite does not.
    url, store, fp = one_alert
    service = AlertService(engine=store.engine)
    long = "a" * 129
    with serve(service) as base:
        for action in ("ack", "resolve"):
            status, err = call(base, "POST", f"/api/v1/alerts/{fp}/{action}", {"author": long})
            assert status == 400 and "128" in err["error"], action
        status, err = call(base, "POST", "/api/v1/silences", {"matchers": {"rule": "x"}, "duration": "1h",
                                                               "author": long, "comment": "c"})
        assert status == 400 and "128" in err["error"]
        status, s = call(base, "POST", "/api/v1/silences", {"matchers": {"rule": "x"}, "duration": "1h",
                                                             "author": "a" * 128, "comment": "c"})
        assert status == 201
        assert call(base, "DELETE", f"/api/v1/silences/{s['id']}?author={long}")[0] == 400
        assert call(base, "GET", f"/api/v1/alerts/{fp}")[1]["status"] == "firing"
    res = run_cli("alerts", "ack", fp, "--database", url, "--author", long)
    assert res.returncode == 2 and b"128" in res.stderr


def test_nul_characters_are_a_400(one_alert):
    # PostgreSQL text cannot hold NUL: the driver raised (a 500). Same answer on both stores.
    _url, store, fp = one_alert
    with serve(AlertService(engine=store.engine)) as base:
        for path in ("/api/v1/alerts?category=%00", "/api/v1/alerts?rule=a%00", f"/api/v1/alerts/{fp[:8]}%00",
                     "/api/v1/silences/%00", "/api/v1/notifications/%00", "/api/v1/notifications?receiver=%00"):
            status, err = call(base, "GET", path)
            assert status == 400 and "NUL" in err["error"], path
        for path, body in ((f"/api/v1/alerts/{fp}/ack", {"author": "a\x00b"}),
                           (f"/api/v1/alerts/{fp}/resolve", {"author": "ana", "comment": "\x00"}),
                           ("/api/v1/silences", {"matchers": {"rule": "x"}, "duration": "1h", "author": "a",
                                                 "comment": "c\x00"})):
            status, err = call(base, "POST", path, body)
            assert status == 400 and "NUL" in err["error"], path
        assert call(base, "GET", f"/api/v1/alerts/{fp}")[1]["status"] == "firing"


def test_receivers_and_test_notifications(world):
    service, rx, _ = world
    with serve(service) as base:
        status, body = call(base, "GET", "/api/v1/receivers")
        assert body == {"receivers": [{"name": "hook", "type": "webhook", "send_resolved": True}]}
        assert "secret-token" not in json.dumps(body)
        status, result = call(base, "POST", "/api/v1/receivers/hook/test", {"author": "ana"})
        assert status == 200 and result["outcome"] == "ok"
        [req] = rx.snapshot()
        assert req.body["kind"] == "test" and "Requested by ana" in req.body["alerts"][0]["summary"]
        rx.set("reject")
        status, result = call(base, "POST", "/api/v1/receivers/hook/test", {"author": "ana"})
        assert status == 502 and result["status_code"] == 400
        assert call(base, "POST", "/api/v1/receivers/nobody/test", {"author": "ana"})[0] == 404
        notes = call(base, "GET", "/api/v1/notifications?receiver=hook")[1]["notifications"]
        assert [(n["kind"], n["status"]) for n in notes] == [("test", "failed"), ("test", "delivered")]
        one = call(base, "GET", f"/api/v1/notifications/{notes[1]['notification_id']}")[1]
        assert json.loads(one["payload"])["notification_id"] == notes[1]["notification_id"]
        assert one["attempt_log"][0]["status_code"] == 200
        assert call(base, "GET", "/healthz")[1]["outbox"] == {"hook": {"delivered": 1, "failed": 1}}
    without_config = AlertService(engine=service.engine)
    with serve(without_config) as base:
        assert call(base, "POST", "/api/v1/receivers/hook/test", {"author": "ana"})[0] == 503


def test_notifications_limit_out_of_range_is_a_400_like_the_alerts_limit(world):
    # It was clamped silently: ?limit=5000 answered 1000 rows, ?limit=0 or -3 one row.
    service = world[0]
    with serve(service) as base:
        for limit in ("0", "-3", "1001", "99999999999999999999999"):
            for path in ("/api/v1/notifications", "/api/v1/alerts"):
                status, body = call(base, "GET", f"{path}?limit={limit}")
                assert status == 400 and "limit must be 1..1000" in body["error"], (path, limit, body)
        assert call(base, "GET", "/api/v1/notifications?limit=x") == (400, {"error": "limit must be an integer"})
        for _ in range(2):
            assert call(base, "POST", "/api/v1/receivers/hook/test", {"author": "ana"})[0] == 200
        assert [len(call(base, "GET", f"/api/v1/notifications?limit={n}")[1]["notifications"]) for n in (1, 1000)] == [1, 2]


def test_an_unknown_notification_status_is_a_400_not_an_empty_list(world):
    # `?status=deliverd` answered [] as if nothing had been delivered.
    service = world[0]
    with serve(service) as base:
        assert call(base, "POST", "/api/v1/receivers/hook/test", {"author": "ana"})[0] == 200
        status, body = call(base, "GET", "/api/v1/notifications?status=deliverd")
        assert status == 400 and body["error"] == (
            "status must be one of pending, delivered, failed, expired, superseded"), body
        listed = [call(base, "GET", f"/api/v1/notifications?status={s}")[1]["notifications"]
                  for s in ("pending", "delivered", "failed", "expired", "superseded")]
        assert sum(map(len, listed)) == 1  # each real status is accepted, and the message is in one of them


def test_unknown_query_parameters_are_a_400_not_ignored(world):
    # A misspelt filter used to be ignored: the caller got every alert back as if filtered.
    service = world[0]
    with serve(service) as base:
        status, body = call(base, "GET", "/api/v1/alerts?severty=critical")
        assert status == 400 and "severty" in body["error"] and "severity" in body["error"]
        assert call(base, "GET", "/api/v1/alerts?severity=critical")[0] == 200
        assert call(base, "GET", "/api/v1/silences?status=active")[0] == 400
        assert call(base, "GET", "/api/v1/notifications?rule=x")[0] == 400


def test_errors_from_routing_are_json_too(world):
    # The documented error body, also for a mistyped path or method and a body too large.
    service, _, _ = world
    with serve(service) as base:
        assert call(base, "GET", "/api/v1/alert") == (404, {"error": "Not Found"})
        req = urllib.request.Request(base + "/api/v1/alerts", method="DELETE")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=10)
        assert err.value.code == 405 and "GET" in err.value.headers["Allow"]
        assert json.loads(err.value.read()) == {"error": "Method Not Allowed"}
        status, body = call(base, "POST", "/api/v1/silences", {"comment": "x" * 70_000})
        assert status in (400, 413) and "error" in body


def test_cli_alerts_list_pages_with_a_cursor(world):
    service, _, url = world
    every = [a["fingerprint"] for a in service.list_alerts(limit=1000)]
    assert len(every) >= 3
    seen: list[str] = []
    args = ["alerts", "list", "--database", url, "--limit", "2", "--json"]
    cursor: list[str] = []
    for _ in range(len(every)):
        res = run_cli(*args, *cursor)
        assert res.returncode == 0, res.stderr
        seen += [a["fingerprint"] for a in json.loads(res.stdout)]  # stdout stays one JSON document
        tail = res.stderr.decode().strip().splitlines()[-1]
        if "more: --cursor " not in tail:
            break
        cursor = ["--cursor", tail.split("more: --cursor ", 1)[1]]
    assert seen == every and tail == f"{len(every) % 2 or 2} alert(s)"  # the last page says nothing more


def test_bearer_token(world):
    service, _, _ = world
    with serve(service, token="s3cret") as base:
        assert call(base, "GET", "/api/v1/alerts")[0] == 401
        assert call(base, "GET", "/api/v1/alerts", token="wrong")[0] == 401
        assert call(base, "GET", "/api/v1/alerts", token="s3cret")[0] == 200
        assert call(base, "GET", "/openapi.json")[0] == 200 and call(base, "GET", "/healthz")[0] == 200


def test_cli_alerts_and_silences(world, tmp_path):
    service, rx, url = world
    fp = service.list_alerts(rule="cipher.rot13")[0]["fingerprint"]
    res = run_cli("alerts", "list", "--database", url, "--category", "cipher")
    assert res.returncode == 0 and fp[:12].encode() in res.stdout and b"cipher.rot13" in res.stdout
    res = run_cli("alerts", "ack", fp[:10], "--database", url, "--author", "ana", "--comment", "mine")
    assert res.returncode == 0 and b"firing -> acknowledged" in res.stdout, res.stderr
    res = run_cli("alerts", "show", fp, "--database", url, "--json")
    shown = json.loads(res.stdout)
    assert shown["status"] == "acknowledged" and shown["history"][-1]["actor"] == "ana"
    res = run_cli("silences", "add", "--database", url, "--match", "rule=spam.copy,spam.vote", "--match", "severity_min=low",
                  "--duration", "1h", "--author", "ana", "--comment", "cleanup running", "--json")
    assert res.returncode == 0, res.stderr
    added = json.loads(res.stdout)
    silence_id = added["id"]
    assert added["matchers"] == {"rule": ["spam.copy", "spam.vote"], "severity_min": "low"} and added["state"] == "active"
    assert [s["id"] for s in service.silences.list("active")] == [silence_id]
    res = run_cli("silences", "expire", silence_id, "--database", url, "--author", "bo")
    assert res.returncode == 0 and b"expired" in res.stdout
    cfg = tmp_path / "n.yaml"
    cfg.write_text(json.dumps({"receivers": [{"name": "hook", "type": "slack", "url": rx.url}], "route": {"receiver": "hook"}}))
    res = run_cli("notify", "test", "hook", "--config", str(cfg), "--database", url, "--author", "ana")
    assert res.returncode == 0 and json.loads(res.stdout)["outcome"] == "ok"
    assert rx.snapshot()[-1].body["text"].startswith("[FIRING:1] flockwatch test notification")


def test_api_serve_command(tmp_path):
    import os
    import subprocess
    import sys
    import time

    from support.cli import ROOT, cli_env

    db = f"sqlite:///{tmp_path}/fw.db"
    refused = run_cli("api", "serve", "--database", db, "--host", "0.0.0.0", env={"FLOCKWATCH_API_TOKEN": ""})
    assert refused.returncode == 2 and b"FLOCKWATCH_API_TOKEN" in refused.stderr
    port = free_port()
    env = cli_env({"FLOCKWATCH_API_TOKEN": "t0ken"})
    proc = subprocess.Popen([sys.executable, "-m", "flockwatch", "api", "serve", "--database", db, "--port", str(port)],
                            env=env, cwd=ROOT, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                status, body = call(base, "GET", "/healthz")
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "api serve did not come up"
                time.sleep(0.1)
        assert status == 200 and body["status"] == "ok"
        assert call(base, "GET", "/api/v1/alerts")[0] == 401
        assert call(base, "GET", "/api/v1/alerts", token="t0ken") == (
            200, {"alerts": [], "returned": 0, "count": 0, "has_more": False, "next": None})
        assert call(base, "GET", "/openapi.json")[1]["openapi"].startswith("3.1")
    finally:
        proc.terminate()
        proc.wait(10)
    assert os.path.exists(f"{tmp_path}/fw.db")
