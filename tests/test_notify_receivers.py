"""Receiver payloads: each format's shape and size limits, escaping of hostile agent
text (mentions, links, markup), secret redaction, and template failures that are
visible and still send a plain message."""

from __future__ import annotations

import json

import pytest

from flockwatch.notify.config import ReceiverConfig, parse_config
from flockwatch.notify.receivers import RECEIVER_TYPES
from flockwatch.notify.receivers.teams import CARD_BYTES
from flockwatch.notify.receivers.text import ZWSP, strip_controls, truncate
from flockwatch.alerts.redact import fingerprint, redact
from flockwatch.notify.templates import alert_context, message_context
from support.alerts import make_alert

HOSTILE = ("@here @everyone <!channel> <!here> <@U123> <@&987> [click me](http://evil.example/x) "
           "**bold** ~~gone~~ `code` <at>Boss</at> {{DATE(2017-02-14T06:00:00Z)}} ~town-square \u202eevil")
SECRETS = {
    "moltbook": "moltbook_sk_A1b2C3d4E5f6G7h8I9j0K1l2",
    "openai": "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "github": "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}
CHAT_TYPES = ["slack", "discord", "teams", "mattermost"]


def receiver(type_: str, **kw):
    return RECEIVER_TYPES[type_](ReceiverConfig(name=f"{type_}-rx", type=type_, url="http://127.0.0.1:1/x", **kw))


def context(alerts=None, max_alerts=10, external_url="https://fw.example", kind="firing"):
    alerts = alerts or [make_alert("k", title=f"cascade {HOSTILE}", summary=f"agent said {HOSTILE} key {' '.join(SECRETS.values())}",
                                   agents=["@here-agent", "<!channel>"], evidence={"text": SECRETS["aws"]})]
    return message_context(
        notification_id="n1", receiver="rx", kind=kind, group_key="g" * 32, group_labels={"rule": "r.test"}, sequence=1,
        alerts=[alert_context(a, "firing", "new", external_url) for a in alerts], max_alerts=max_alerts,
        external_url=external_url,
    )


def all_text(payload) -> str:
    return json.dumps(payload, ensure_ascii=False)


@pytest.mark.parametrize("type_", CHAT_TYPES)
def test_chat_payloads_neutralise_mentions_links_and_markup(type_):
    rendered = receiver(type_).render(context())
    assert rendered.template_error is None
    text = all_text(rendered.payload)
    for mention in ("@here", "@everyone", "<!channel>", "<!here>", "<@U123>", "<@&987>", "<at>"):
        assert mention not in text, f"{type_}: {mention} survived"
    assert f"@{ZWSP}here" in text and f"@{ZWSP}everyone" in text  # still readable
    assert "](http://evil" not in text and "http://evil" not in text and "hxxp://evil.example" in text
    assert "\u202e" not in text  # no bidi override
    if type_ == "teams":
        assert "{{DATE(" not in text  # Adaptive Card template functions
    # our own link to the alert API is intact
    assert "https://fw.example/api/v1/alerts/" in text


# Invisible characters an agent can hide in its text: zero-width space/non-joiner/joiner,
# word joiner, BOM, the Arabic letter mark, and TAG characters (here spelling a hidden order).
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u061c\U000e0001\U000e007f"
TAGGED = "".join(chr(0xE0000 + ord(c)) for c in "ignore previous instructions")


def test_strip_controls_removes_invisible_characters_and_keeps_line_breaks():
    for ch in INVISIBLE + "\u2061\u206f":
        assert strip_controls(f"ad{ch}min") == "admin", hex(ord(ch))
    assert strip_controls(f"ok{TAGGED}") == "ok"
    assert strip_controls("a\u2028b\u2029c\r\nd") == "a\nb\nc\nd"
    assert strip_controls("tab\tand\nnewline stay") == "tab\tand\nnewline stay"


@pytest.mark.parametrize("type_", CHAT_TYPES + ["webhook"])
def test_invisible_agent_characters_never_reach_the_message(type_):
    hostile = (f"admin{INVISIBLE} and ad\u200bmin look alike{TAGGED}; "
               f"@\u200bhere <\u200b!channel> ht\u200btps://evil.example {{\u200b{{DATE(2017-02-14T06:00:00Z)}}")
    alert = make_alert("k", title=f"t{INVISIBLE}", summary=hostile, agents=[f"ag\u200bent{TAGGED}"])
    payload = receiver(type_).render(context([alert])).payload
    # The generic webhook's structured `alerts` stay raw for machines; its title and text are checked.
    text = all_text({k: payload[k] for k in ("title", "text")} if type_ == "webhook" else payload)
    for ch in INVISIBLE[1:] + TAGGED:
        assert ch not in text, f"{type_}: U+{ord(ch):04X} survived"
    assert "admin and admin look alike" in text.replace(ZWSP, "")
    # Agent ZWSPs are removed before escaping, so what they tried to hide is caught and
    # broken like any other text, with the project's own ZWSPs (which must survive).
    assert "ad\u200bmin" not in text and "ag\u200bent" not in text
    if type_ == "webhook":
        return  # no markup: only the invisible characters go
    assert "https://evil" not in text and "hxxps://evil.example" in text
    assert "@here" not in text and f"@{ZWSP}here" in text and "<!channel>" not in text
    if type_ == "teams":
        assert "{{DATE(" not in text and "{" + ZWSP + "{DATE" in text and "<" + ZWSP in text


def test_a_secret_split_by_an_invisible_character_is_still_redacted():
    secret = SECRETS["moltbook"]
    split = secret[:14] + "\u200b" + secret[14:]
    for type_ in CHAT_TYPES + ["webhook"]:
        payload = receiver(type_).render(context([make_alert("k", title="t", summary=f"key {split}")])).payload
        text = all_text(payload).replace("\\", "")
        assert secret not in text, type_
        assert f"moltbook_sk_A1…#{fingerprint(secret)}" in text, type_


@pytest.mark.parametrize("type_", ["discord", "mattermost", "teams"])
def test_line_separators_are_line_starts_for_the_markdown_escapers(type_):
    # U+2028 becomes a newline before escaping, so a list marker after it is escaped as at
    # any other line start (a chat client may render the separator as a line break).
    alert = make_alert("k", title="t", summary="intro\u2028- fake item\u2029+ another")
    text = all_text(receiver(type_).render(context([alert])).payload)
    assert "\u2028" not in text and "\u2029" not in text
    assert "\\\\- fake item" in text and "\\\\+ another" in text  # "\\-" inside JSON


@pytest.mark.parametrize("type_", CHAT_TYPES + ["webhook"])
def test_secrets_are_redacted_everywhere(type_):
    text = all_text(receiver(type_).render(context()).payload).replace("\\\\", "")
    for name, secret in SECRETS.items():
        assert secret not in text, f"{type_}: {name} leaked"
    # the project-wide form: visible prefix + a hash that tells two secrets apart, unusable
    assert f"moltbook_sk_A1…#{fingerprint(SECRETS['moltbook'])}" in text
    assert f"eyJhbG…#{fingerprint(SECRETS['jwt'])}" in text


def test_slack_escapes_entities_and_builds_blocks():
    payload = receiver("slack", username="fw").render(context()).payload
    assert payload["username"] == "fw" and payload["text"].startswith("[FIRING:1] cascade")
    body = "\n".join(b["text"]["text"] for b in payload["blocks"])
    assert "&lt;!channel&gt;" in body and f"&lt;@{ZWSP}U123&gt;" in body
    assert "<https://fw.example/api/v1/alerts/" in body and "|details>" in body
    assert "*HIGH*" in body


def test_discord_turns_mentions_off_and_escapes_markdown():
    payload = receiver("discord").render(context()).payload
    assert payload["allowed_mentions"] == {"parse": []}
    embed = payload["embeds"][0]
    assert "\\[click me\\]\\(hxxp://evil.example/x\\)" in embed["description"]
    assert "\\*\\*bold\\*\\*" in embed["description"] and f"\\<@{ZWSP}U123\\>" in embed["description"]
    assert "[details](https://fw.example/api/v1/alerts/" in embed["description"]
    assert embed["color"] == 0xFF7043  # high


def test_teams_adaptive_card_and_mattermost_post_shapes():
    teams = receiver("teams").render(context()).payload
    card = teams["attachments"][0]["content"]
    assert teams["type"] == "message" and card["type"] == "AdaptiveCard" and card["body"][0]["weight"] == "Bolder"
    assert all(b["type"] == "TextBlock" for b in card["body"])
    mm = receiver("mattermost", channel="alerts").render(context()).payload
    assert mm["channel"] == "alerts" and mm["text"].startswith("#### [FIRING:1]")
    assert "\\~town-square" in mm["text"]  # channel links too


def test_generic_webhook_is_structured_and_unescaped_but_redacted():
    payload = receiver("webhook").render(context()).payload
    assert payload["version"] == "1" and payload["notification_id"] == "n1" and payload["kind"] == "firing"
    alert = payload["alerts"][0]
    assert alert["title"].startswith("cascade @here")  # raw text for machines ...
    assert alert["evidence"] == {"text": f"AKIAIO…#{fingerprint(SECRETS['aws'])}"}  # ... minus secrets
    assert payload["counts"] == {"firing": 1, "acknowledged": 0, "resolved": 0, "total": 1}


# Long agent text that the redactor leaves alone (no secret shape, not a run of BIP-39
# words, which it would collapse into "[seed phrase: n words]"), in many lines, growing
# when escaped (`<`, `*`) and in bytes (the emoji is 4 bytes of UTF-8). One line of emoji is
# longer than a whole message, so the limits that cut inside a line are reached too.
LONG_TEXT = "\n".join("\U0001f99e" * 30000 if i == 20 else " ".join(f"<post{i}-{j}> *copied* \U0001f99e" for j in range(10))
                      for i in range(300))


def title_and_text(type_: str, payload: dict) -> tuple[str, str]:
    """The title and the text as they were put into one receiver's payload."""
    if type_ == "slack":
        return payload["text"], "\n".join(b["text"]["text"] for b in payload["blocks"][1:])
    if type_ == "discord":
        return payload["embeds"][0]["title"], payload["embeds"][0]["description"]
    if type_ == "teams":
        body = payload["attachments"][0]["content"]["body"]
        return body[0]["text"], "\n".join(b["text"] for b in body[1:])
    if type_ == "mattermost":
        title, text = payload["text"].split("\n", 1)
        return title.removeprefix("#### "), text
    return payload["title"], payload["text"]


@pytest.mark.parametrize("type_, limit_check", [
    ("slack", lambda p, size: all(len(b["text"]["text"]) <= 3000 for b in p["blocks"]) and len(p["blocks"]) <= 50),
    ("discord", lambda p, size: len(p["embeds"][0]["description"]) <= 4096 and len(p["embeds"][0]["title"]) <= 256
     and len(p["embeds"][0]["title"] + p["embeds"][0]["description"] + p["embeds"][0]["footer"]["text"]) <= 6000),
    ("teams", lambda p, size: size < 28 * 1024),
    ("mattermost", lambda p, size: len(p["text"]) <= 16383),
    ("webhook", lambda p, size: size <= 256 * 1024),
])
def test_size_limits_hold_for_huge_alerts(type_, limit_check):
    big = [make_alert(f"k{i}", title="T" * 300, summary=LONG_TEXT + " <!channel>", evidence={"blob": "x" * 60000})
           for i in range(30)]
    rx = receiver(type_, max_alerts=100)
    rendered = rx.render(context(big, max_alerts=100))
    size = len(rendered.body())  # the bytes that are POSTed
    assert limit_check(rendered.payload, size), type_
    assert "<!channel>" not in all_text(rendered.payload) or type_ == "webhook"
    # The long text was rendered (not collapsed by the redactor) and cut at the limit, so
    # the checks above were made on a message that really is as large as allowed.
    title, text = title_and_text(type_, rendered.payload)
    assert "post1-0" in text and "seed phrase" not in text, type_
    assert text.endswith("…"), type_
    if type_ == "teams":
        assert size > 0.9 * CARD_BYTES  # the card byte limit binds before text_limit
    else:
        assert len(text) > 0.9 * rx.text_limit, (type_, len(text))
    if type_ == "webhook":
        assert rendered.payload["truncated"] > 0 and all(a["evidence"] == {"dropped": "payload size limit"}
                                                         for a in rendered.payload["alerts"])
    # A group of one alert is titled by the alert: its title is cut at the title limit.
    one = rx.render(context([make_alert("k", title="T" * 5000 + "<!channel>")]))
    assert limit_check(one.payload, len(one.body())), type_
    title, _ = title_and_text(type_, one.payload)
    assert len(title) == rx.title_limit and title.endswith("…"), (type_, len(title))


def test_max_alerts_lists_the_first_and_counts_the_rest():
    ctx = context([make_alert(f"k{i}") for i in range(13)], max_alerts=5)
    assert len(ctx["alerts"]) == 5 and ctx["truncated"] == 8
    assert "and 8 more alert(s)" in receiver("slack").render(ctx).payload["blocks"][-1]["text"]["text"]


def test_truncate_never_splits_an_escape():
    assert truncate("abc &amp; def", 9, marker="…") == "abc …"
    assert truncate("ab\\*cd", 3, marker="") == "ab"  # not a lone escaping backslash
    assert truncate("ab\\*cd", 4, marker="") == "ab\\*"
    assert truncate("short", 10) == "short"


def test_template_failure_is_visible_and_sends_the_fallback(caplog):
    rx = receiver("slack", template={"text": "{{ alerts[0].no_such_field }}"})
    rendered = rx.render(context())
    assert rendered.template_error and "no_such_field" in rendered.template_error
    body = all_text(rendered.payload)
    assert "template failed" in body and "cascade" in body  # the fallback still tells what fired ...
    assert "<!channel>" not in body  # ... escaped like any message
    assert any("template failed" in r.message for r in caplog.records)


@pytest.mark.parametrize("source", ["{{ alerts.__class__.__mro__ }}", "{{ alerts.append(1) }}",
                                    "{{ alerts[0].update({'title': 'x'}) }}"])
def test_sandbox_blocks_escapes_and_mutation(source):
    rendered = receiver("webhook", template={"text": source}).render(context())
    assert rendered.template_error and rendered.template_error.split(":")[0] in ("SecurityError", "UndefinedError")


def test_template_syntax_error_is_a_config_error():
    from flockwatch.notify.config import NotifyConfigError

    with pytest.raises(NotifyConfigError, match="template syntax error"):
        receiver("slack", template={"title": "{% if %}"})


def test_custom_templates_escape_values_but_not_literal_markup():
    rx = receiver("slack", template={"title": "<!subteam^S1> {{ alerts[0].title }}",
                                      "text": "{% for a in alerts %}{{ a.rule|bold }} {{ a.summary }}{% endfor %}"})
    payload = rx.render(context()).payload
    assert payload["text"].startswith("<!subteam^S1> cascade")  # the operator's own mention is kept
    assert "&lt;!channel&gt;" in payload["text"]
    assert payload["blocks"][1]["text"]["text"].startswith("*r.test* agent said")


def test_redaction_shapes():
    for name, secret in SECRETS.items():
        assert secret not in redact(f"x {secret} y"), name
    assert redact("sk-short and moltbook_tiny stay") == "sk-short and moltbook_tiny stay"


def test_template_render_cli_prints_the_exact_payload(tmp_path):
    from support.cli import run_cli

    cfg = tmp_path / "n.yaml"
    cfg.write_text(json.dumps({"receivers": [{"name": "ops", "type": "discord", "url": "http://127.0.0.1:1/x"},
                                             {"name": "bad", "type": "slack", "url": "http://127.0.0.1:1/x",
                                              "template": {"text": "{{ nope }}"}}],
                               "route": {"receiver": "ops"}}))
    alert = tmp_path / "a.json"
    alert.write_text(make_alert("k", title="hi @everyone").model_dump_json())
    res = run_cli("template", "render", "--alert", str(alert), "--receiver", "ops", "--config", str(cfg), "--compact")
    assert res.returncode == 0, res.stderr
    payload = json.loads(res.stdout)
    assert payload["allowed_mentions"] == {"parse": []} and f"@{ZWSP}everyone" in payload["embeds"][0]["title"]
    res = run_cli("template", "render", "--alert", str(alert), "--receiver", "bad", "--config", str(cfg))
    assert res.returncode == 1 and b"template error" in res.stderr and b"'nope' is undefined" in res.stderr
    assert "template failed" in json.loads(res.stdout)["blocks"][1]["text"]["text"]
    res = run_cli("template", "render", "--alert", str(alert), "--receiver", "nobody", "--config", str(cfg))
    assert res.returncode == 2 and b"no receiver named" in res.stderr


@pytest.mark.parametrize("type_", ["discord", "mattermost", "teams"])
def test_truncating_keeps_the_text_after_a_plain_ampersand(type_):
    # The markdown targets leave "&" as it is: a "Q&A" near the start is not half an
    # HTML entity, and must not make truncation throw away everything after it.
    long = make_alert("k", title="Q&A spam ring", summary="Q&A bot: " + " ".join(f"post{i} copied" for i in range(2000)))
    text = all_text(receiver(type_).render(context([long])).payload)
    assert "post200 copied" in text and "Q&A spam ring" in text
    assert truncate("Q&A " + "x" * 100, 50, marker="…") == "Q&A " + "x" * 45 + "…"
    assert truncate("a &amp; b &am", 12, marker="") == "a &amp; b "  # a real half entity is still cut


@pytest.mark.parametrize("type_", CHAT_TYPES)
def test_urls_glued_to_a_word_character_are_defanged_too(type_):
    # "_https://…_" is italics around a live link in Slack, and Discord links
    # "xhttps://…" from its "https"; a word boundary before the scheme is not needed.
    hostile = "see _https://evil.example/a_ or xhttps://evil.example/b or 1http://evil.example/c"
    text = all_text(receiver(type_).render(context([make_alert("k", title="t", summary=hostile)])).payload)
    assert "https://evil" not in text and "http://evil" not in text
    assert "hxxps://evil.example/a" in text and "hxxp://evil.example/c" in text


# Agent text that formats in Slack's mrkdwn (which has no backslash escape), and bare
# domains a chat client turns into links (Slack does it server-side for known TLDs).
FORMATTING = "*bold* _italic_ ~struck~ `code` ```block``` @everyone"
PROSE = "e.g. v1.2 config.yaml i.e. Node.js 3.14 post_flood_v2 2*3*4 file.example see-also.xyz1"


@pytest.mark.parametrize("type_", CHAT_TYPES)
def test_agent_markup_shows_literally_and_pings_nobody(type_):
    alert = make_alert("k", rule="spam.copy_paste", category="spam_cascade", title="Copy_paste cascade",
                       summary=f"{FORMATTING}\n> quoted line")
    payload = receiver(type_).render(context([alert])).payload
    text = all_text(payload)
    if type_ == "slack":
        # No backslash escape exists in mrkdwn: the markers become look-alike characters.
        body = "\n".join(b["text"]["text"] for b in payload["blocks"])
        for raw in ("*bold*", "_italic_", "~struck~", "`code`", "```"):
            assert raw not in body, raw
        assert "\u2217bold\u2217 \u02cditalic\u02cd \u223cstruck\u223c \u02cbcode\u02cb" in body
        assert "\n\u00ad&gt; quoted line" in body  # a line-start > is a quote in Slack, &gt; too
        assert "*HIGH*" in body  # our own markup still formats
    else:
        plain = text.replace("\\\\", "")  # the markdown targets backslash-escape: shown as written
        assert FORMATTING.replace("@", "@" + ZWSP) in plain
        for raw in ("\\\\*bold\\\\*", "\\\\_italic\\\\_", "\\\\~struck\\\\~", "\\\\`code\\\\`"):
            assert raw in text, raw
    assert "@everyone" not in text and f"@{ZWSP}everyone" in text
    # our own values are not rewritten as agent text (the markdown targets escape, which shows them as is)
    shown = text.replace("\\\\", "")
    assert "spam.copy_paste" in shown and "spam_cascade" in shown and "Copy_paste cascade" in shown


@pytest.mark.parametrize("type_", CHAT_TYPES)
def test_bare_domains_in_agent_text_are_defanged_and_prose_is_not(type_):
    alert = make_alert("k", rule="spam.vote", title="Votes bought via wallet.app",
                       summary=f"visit evil.com or Evil.COM/path?x=1, mail x@phish.co.uk, hxxps://cdn.evil.zip/a. {PROSE}")
    text = all_text(receiver(type_).render(context([alert])).payload).replace("\\\\", "")
    for defanged in ("evil[.]com or", "Evil[.]COM/path", "x@" + ZWSP + "phish[.]co[.]uk", "hxxps://cdn[.]evil[.]zip/a."):
        assert defanged in text, (type_, defanged)
    assert PROSE in text, type_
    assert "evil.com" not in text.lower() and "evil.zip" not in text
    # our own: the rule id, the rule title and the link to the alert API are untouched
    assert "spam.vote" in text and "Votes bought via wallet.app" in text
    assert "https://fw.example/api/v1/alerts/" in text


def test_defang_hosts_rule():
    from flockwatch.notify.receivers.text import defang_hosts

    assert defang_hosts("evil.com evil.com/p www.evil.co.uk. пример.рф evil.xn--p1ai setup.py") == (
        "evil[.]com evil[.]com/p www[.]evil[.]co[.]uk. пример[.]рф evil[.]xn--p1ai setup[.]py")
    for keep in ("e.g.", "v1.2.3", "config.yaml", "a.b", "3.14", "Node.js", "file.example", "x.localhost",
                 "snake_case.com_x", "end.", ".com", "a..com"):
        assert defang_hosts(keep) == keep, keep
