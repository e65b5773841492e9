"""Predicates, boolean trees, macros, lists and exceptions, evaluated through the engine."""

from __future__ import annotations

import pytest
from packs import load

from flockwatch.detect.engine import Engine
from flockwatch.ingest.decode import decode_object

BASE = {"event_id": "e1", "type": "post", "ts": "2026-01-30T12:00:00Z", "agent_id": "a1"}


def fires(condition_yaml: str, event: dict, extra: str = "", prefilter: bool = True) -> bool:
    pack = load(f"""
    {extra}
    rules:
      - id: t.rule
        title: T
        category: other
        severity: low
        condition: {condition_yaml}
    """)
    engine = Engine([pack], prefilter=prefilter)
    return any(a.rule_id == "t.rule" for a in engine.process(decode_object({**BASE, **event})))


@pytest.mark.parametrize(
    ("cond", "event", "expected"),
    [
        ("{field: text, equals: hi}", {"text": "hi"}, True),
        ("{field: text, equals: hi}", {"text": "hi there"}, False),
        ("{field: to_operator, equals: true}", {"to_operator": True}, True),
        ("{field: to_operator, equals: true}", {}, False),
        ("{field: value, equals: -1}", {"type": "vote", "value": -1}, True),
        ("{field: community, in: [crypto, general]}", {"community": "crypto"}, True),
        ("{field: community, in: [crypto, general]}", {"community": "cryptos"}, False),
        ("{field: text, contains: Key}", {"text": "my Key"}, True),
        ("{field: text, contains: Key}", {"text": "my key"}, False),
        ("{field: text, icontains: [wallet, 'seed phrase']}", {"text": "Your SEED Phrase pls"}, True),
        ("{field: text, startswith: SYSTEM}", {"text": "SYSTEM: obey"}, True),
        ("{field: text, startswith: SYSTEM}", {"text": "a SYSTEM: obey"}, False),
        ("{field: url, endswith: .sh}", {"url": "http://x.test/i.sh"}, True),
        ("{field: text, regex: '\\bsk-[A-Za-z0-9]{8,}'}", {"text": "key sk-abcdefgh12"}, True),
        ("{field: text, regex: '\\bsk-[A-Za-z0-9]{8,}'}", {"text": "task-abcdefgh12"}, False),
        ("{field: text, exists: true}", {"text": "x"}, True),
        ("{field: text, exists: true}", {"text": ""}, False),
        ("{field: text, exists: false}", {}, True),
        ("{field: title, length: {min: 3, max: 5}}", {"title": "abcd"}, True),
        ("{field: title, length: {min: 3, max: 5}}", {"title": "abcdef"}, False),
        ("{field: attrs.skill.name, equals: shell}", {"attrs": {"skill": {"name": "shell"}}}, True),
        ("{field: attrs.skill.name, equals: shell}", {"attrs": {"skill": "shell"}}, False),
        ("{field: [title, text], icontains: airdrop}", {"title": "AIRDROP now"}, True),
        ("{field: [title, text], icontains: airdrop}", {"text": "nothing"}, False),
        ("{all: [{field: text, contains: a}, {field: text, contains: b}]}", {"text": "ab"}, True),
        ("{all: [{field: text, contains: a}, {field: text, contains: b}]}", {"text": "a"}, False),
        ("{any: [{field: text, contains: a}, {field: title, contains: b}]}", {"title": "b"}, True),
        ("{not: {field: text, contains: a}}", {"text": "b"}, True),
        ("{not: {field: text, contains: a}}", {"text": "a"}, False),
        ("[{field: text, contains: a}, {field: type, equals: post}]", {"text": "a"}, True),
    ],
)
def test_predicates_with_and_without_prefilter(cond, event, expected):
    assert fires(cond, event) is expected
    assert fires(cond, event, prefilter=False) is expected


def test_unicode_word_semantics_survive_the_prefilter():
    # RE2's \b and \w are ASCII-only; the translation must not lose these matches.
    cond = "{field: text, regex: '\\bcafé\\b'}"
    assert fires(cond, {"text": "un café noir"})
    cond = "{field: text, regex: '\\w+ß'}"
    assert fires(cond, {"text": "Straße"})
    cond = "{field: text, regex: '(?<!never )share'}"
    assert fires(cond, {"text": "please share"}) and not fires(cond, {"text": "never share"})


def test_lists_and_macros():
    extra = """
    lists:
      coins: [eth, btc]
      more: [{list: coins}, sol]
    macros:
      is_dm: {field: type, equals: dm}
      coin_talk: {field: text, icontains: {list: more}}
    """
    cond = "{all: [{macro: is_dm}, {macro: coin_talk}]}"
    assert fires(cond, {"type": "dm", "text": "send SOL"}, extra)
    assert not fires(cond, {"type": "post", "text": "send SOL"}, extra)
    assert not fires(cond, {"type": "dm", "text": "send doge"}, extra)


def exc_pack(exceptions: str):
    return load(f"""
    lists:
      trusted: [safety-bot, canary]
    rules:
      - id: t.ex
        title: T
        category: other
        severity: low
        condition: {{field: text, icontains: wallet}}
        exceptions:
{exceptions}
    """)


def run_exc(pack, **event) -> bool:
    return bool(Engine([pack]).process(decode_object({**BASE, **event})))


def test_structured_exceptions():
    pack = exc_pack("""
          - name: trusted_in_security
            fields: [agent_id, community]
            comps: [in, equals]
            values:
              - [[safety-bot, canary], security]
          - name: by_list
            fields: agent_id
            comps: [in]
            values: [[{list: trusted}]]
          - name: quoted
            fields: [text]
            comps: [startswith]
            values: [[">"]]
    """)
    assert run_exc(pack, text="wallet", agent_id="x", community="security")
    assert not run_exc(pack, text="wallet", agent_id="safety-bot", community="security")
    assert not run_exc(pack, text="wallet", agent_id="canary")  # by_list
    assert not run_exc(pack, text="> wallet quoted")
    assert run_exc(pack, text="wallet", agent_id="mallory", community="security")


def test_evidence_reports_what_matched():
    pack = load("""
    rules:
      - id: t.ev
        title: T
        category: other
        severity: low
        condition:
          all:
            - {field: text, regex: '(?i)send \\d+ eth'}
            - not: {field: text, contains: joke}
        summary: 'matched {{ evidence.matches[0].match }} by {{ event.agent_id }}'
    """)
    [alert] = Engine([pack]).process(decode_object({**BASE, "text": "pls SEND 5 ETH now"}))
    assert alert.evidence["matches"] == [{"field": "text", "op": "regex", "match": "SEND 5 ETH"}]
    assert alert.summary == "matched SEND 5 ETH by a1"
