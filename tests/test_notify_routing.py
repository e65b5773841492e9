"""Routing config: matchers, the route tree (Alertmanager semantics), inheritance,
group keys, and config errors that name the problem."""

from __future__ import annotations

import json

import pytest

from flockwatch.notify.config import NotifyConfigError, parse_config
from flockwatch.notify.matchers import Matcher, labels_of
from flockwatch.notify.routing import Router, group_key
from support.alerts import make_alert


def labels(**kw):
    return labels_of(make_alert("k", **kw))


def test_matcher_fields_globs_tags_and_severity_floor():
    m = Matcher.model_validate({"rule": ["cipher.*"], "category": "cipher", "severity_min": "high", "tags": ["dm", "x"]})
    assert m.matches(labels(rule="cipher.rot13", category="cipher", severity="critical"))
    assert not m.matches(labels(rule="spam.copy", category="cipher", severity="critical"))
    assert not m.matches(labels(rule="cipher.rot13", category="cipher", severity="medium"))
    assert not m.matches(labels(rule="cipher.rot13", category="cipher", severity="high", tags=["other"]))
    assert Matcher().matches(labels()) and Matcher().is_empty()
    assert Matcher.model_validate({"pack": ["a", "b"]}).describe() == "pack=a,b"


@pytest.mark.parametrize("bad", [{"category": "nope"}, {"severity": ["loud"]}, {"severity_min": "x"},
                                 {"rule": []}, {"color": "red"}])
def test_matcher_rejects_unknown_values(bad):
    with pytest.raises(ValueError):
        Matcher.model_validate(bad)


CONFIG = {
    "receivers": [{"name": n, "type": "webhook", "url": f"http://127.0.0.1:9/{n}"} for n in ("default", "oncall", "safety", "audit")],
    "route": {
        "receiver": "default", "group_by": ["rule"], "group_wait": "10s",
        "routes": [
            {"name": "audit", "receiver": "audit", "continue": True, "group_by": ["..."]},
            {"match": {"severity_min": "high"}, "receiver": "oncall", "group_interval": "1m",
             "routes": [{"match": {"category": "credential_leak"}, "receiver": "safety", "repeat_interval": "30m"}]},
            {"match": {"category": ["cipher", "spam_cascade"]}, "receiver": "safety"},
        ],
    },
}


def test_route_tree_first_match_continue_and_inheritance():
    router = Router(parse_config(CONFIG).route)
    names = lambda lab: [r.receiver for r in router.routes_for(lab)]  # noqa: E731
    # audit matches everything and continues; then the first matching sibling wins
    assert names(labels(severity="critical", category="cipher")) == ["audit", "oncall"]
    assert names(labels(severity="low", category="cipher")) == ["audit", "safety"]
    # a matching route with no matching child handles the alert itself; nested child wins when it matches
    assert names(labels(severity="high", category="credential_leak")) == ["audit", "safety"]
    # as in Alertmanager: a matching `continue` child still counts as a match, so the
    # root does not also handle the alert
    assert names(labels(severity="low", category="other")) == ["audit"]
    nested = router.routes_for(labels(severity="high", category="credential_leak"))[1]
    # inherited from parents: group_by and group_wait from the root, group_interval from "oncall"
    assert (nested.group_by, nested.group_wait, nested.group_interval, nested.repeat_interval) == (("rule",), 10.0, 60.0, 1800.0)
    assert nested.id == "root.1.0" and router.route("audit").group_by == ("...",)
    assert router.route("gone").id == "root"  # a group made under an older config falls back to the root


def test_without_continue_only_first_match_and_root_fallback():
    cfg = {**CONFIG, "route": {"receiver": "default", "routes": [
        {"match": {"category": "cipher"}, "receiver": "safety"}, {"match": {"category": "cipher"}, "receiver": "oncall"}]}}
    router = Router(parse_config(cfg).route)
    assert [r.receiver for r in router.routes_for(labels(category="cipher"))] == ["safety"]
    assert [r.receiver for r in router.routes_for(labels(category="other"))] == ["default"]


def test_group_keys_follow_group_by():
    router = Router(parse_config(CONFIG).route)
    a, b = labels(rule="r.one", category="cipher", severity="low"), labels(rule="r.one", category="cipher", severity="low")
    b["fingerprint"] = "other"
    ta, tb = router.targets(a), router.targets(b)
    by_receiver = lambda ts: {t.route.receiver: t for t in ts}  # noqa: E731
    # grouped by rule on "safety": same group; per alert ("...") on "audit": different groups
    assert by_receiver(ta)["safety"].key == by_receiver(tb)["safety"].key
    assert by_receiver(ta)["audit"].key != by_receiver(tb)["audit"].key
    assert by_receiver(ta)["safety"].labels == {"rule": "r.one"}
    assert group_key("x", "r", {"rule": "a"}) != group_key("x", "r2", {"rule": "a"})


@pytest.mark.parametrize("change, message", [
    ({"route": {"receiver": "nobody"}}, "not defined"),
    ({"route": {"routes": []}}, "root route needs a receiver"),
    ({"receivers": [{"name": "a", "type": "carrier-pigeon", "url": "http://x"}], "route": {"receiver": "a"}}, "unknown type"),
    ({"receivers": [{"name": "a", "type": "slack"}], "route": {"receiver": "a"}}, "exactly one of url or url_env"),
    ({"receivers": [{"name": "a", "type": "slack", "url": "http://x"}] * 2, "route": {"receiver": "a"}}, "duplicate receiver"),
    ({"route": {"receiver": "default", "group_by": ["agent"]}}, "cannot group by"),
    ({"route": {"receiver": "default", "group_wait": "soon"}}, "duration"),
    ({"inhibit_rules": [{"source": {"severity": "critical"}, "target": {}, "equal": ["colour"]}]}, "unknown label"),
    ({"route": {"receiver": "default", "routes": [{"name": "x"}, {"name": "x"}]}}, "two routes share the name 'x'"),
])
def test_config_errors_say_what_is_wrong(change, message):
    with pytest.raises(NotifyConfigError) as err:
        parse_config({**CONFIG, **change}, "notify.yaml")
    assert "notify.yaml" in str(err.value) and message in str(err.value)


def test_url_from_environment_and_missing_secret(monkeypatch):
    cfg = parse_config({"receivers": [{"name": "s", "type": "slack", "url_env": "FW_TEST_SLACK"}], "route": {"receiver": "s"}})
    monkeypatch.delenv("FW_TEST_SLACK", raising=False)
    assert cfg.check_secrets() == ["receiver 's': environment variable FW_TEST_SLACK is not set"]
    monkeypatch.setenv("FW_TEST_SLACK", "https://hooks.example/T/B/x")
    assert cfg.check_secrets() == [] and cfg.receivers[0].resolve_url() == "https://hooks.example/T/B/x"


def test_environment_variables_in_headers_and_urls(monkeypatch):
    # An unset ${VAR} was sent as is: `Authorization: Bearer ${FW_TEST_TOKEN}` went to the
    # receiver, and a URL naming one was called literally.
    cfg = parse_config({"receivers": [
        {"name": "archive", "type": "webhook", "url": "https://hooks.example/${FW_TEST_PATH}/in",
         "headers": {"Authorization": "Bearer ${FW_TEST_TOKEN}", "X-Team": "$FW_TEST_TEAM", "X-Price": "5$ and $$5"}},
    ], "route": {"receiver": "archive"}})
    for name in ("FW_TEST_PATH", "FW_TEST_TOKEN", "FW_TEST_TEAM"):
        monkeypatch.delenv(name, raising=False)
    r = cfg.receivers[0]
    assert cfg.check_secrets() == [
        "receiver 'archive': url: environment variable FW_TEST_PATH is not set",
        "receiver 'archive': header Authorization: environment variable FW_TEST_TOKEN is not set",
        "receiver 'archive': header X-Team: environment variable FW_TEST_TEAM is not set",
    ]
    with pytest.raises(NotifyConfigError, match="header Authorization: environment variable FW_TEST_TOKEN is not set"):
        r.resolve_headers()
    with pytest.raises(NotifyConfigError, match="url: environment variable FW_TEST_PATH is not set"):
        r.resolve_url()
    monkeypatch.setenv("FW_TEST_TOKEN", "")  # empty is as good as unset, like url_env
    assert "receiver 'archive': header Authorization: environment variable FW_TEST_TOKEN is not set" in cfg.check_secrets()
    monkeypatch.setenv("FW_TEST_PATH", "T/B")
    monkeypatch.setenv("FW_TEST_TOKEN", "s3cr$t")
    monkeypatch.setenv("FW_TEST_TEAM", "safety")
    assert cfg.check_secrets() == []
    assert r.resolve_url() == "https://hooks.example/T/B/in"
    assert r.resolve_headers() == {"Authorization": "Bearer s3cr$t", "X-Team": "safety", "X-Price": "5$ and $5"}


def test_shipped_example_config_is_valid(repo_root):
    from flockwatch.notify.config import load_config

    cfg = load_config(repo_root / "deploy" / "notify.example.yaml")
    assert {r.type for r in cfg.receivers} == {"slack", "discord", "teams", "mattermost", "webhook"}
    Router(cfg.route)


def test_template_syntax_error_names_the_config_file(tmp_path):
    from support.cli import run_cli

    cfg = tmp_path / "notify-prod.yaml"
    cfg.write_text(json.dumps({"receivers": [{"name": "ops", "type": "slack", "url": "http://127.0.0.1:1/x",
                                              "template": {"text": "hello\n{{ alerts | nosuchfilter }}"}}],
                               "route": {"receiver": "ops"}}))
    res = run_cli("notify", "run", "--once", "--config", str(cfg), env={"FLOCKWATCH_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert res.returncode == 2 and b"Traceback" not in res.stderr
    assert str(cfg).encode() in res.stderr and b"receiver 'ops': template syntax error line 2" in res.stderr
