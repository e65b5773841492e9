from __future__ import annotations

import pytest

from flockwatch.detect.keys import KeySpecError, normalise_url, parse_group_by, parse_key_spec, partition_keys
from support.stateful import event


def test_plain_field_and_attrs_path():
    assert parse_key_spec("agent_id").fn(event(1, agent_id="bob")) == "bob"
    assert parse_key_spec("attrs.campaign").fn(event(1, attrs={"campaign": "x"})) == "x"
    assert parse_key_spec("community").fn(event(1)) is None


@pytest.mark.parametrize("name,stem", [("xmolt03", "xmolt#"), ("FloClaw7", "floclaw#"),
                                       ("Clawd_Agent_1736", "clawd_agent_#"), ("Molty", None), ("a1", None)])
def test_name_stem(name, stem):
    assert parse_key_spec("name_stem(agent_name)").fn(event(1, agent_name=name)) == stem


def _spread_keys(name: str, spread: int = 100) -> set[str]:
    spec = parse_key_spec(f"name_stem(agent_name, spread={spread})")
    assert spec.fan_out  # two keys per name: reported once by the fan-out bookkeeping
    return set(spec.fn(event(1, agent_name=name)) or [])


def test_name_stem_spread_keeps_a_fleet_together():
    fleet = [_spread_keys(f"xmolt{n:02d}") for n in range(2, 9)]
    assert set.intersection(*fleet)  # one key every member shares
    across = [_spread_keys(f"FloClaw{n}") for n in (97, 99, 100, 103)]
    assert set.intersection(*across)  # across a range boundary, the overlapping range holds them


def test_name_stem_spread_separates_scattered_serials():
    scattered = [_spread_keys(n) for n in ("Clawd42", "Clawd127", "Clawd1769880151", "Clawd9071")]
    for i, a in enumerate(scattered):
        for b in scattered[i + 1:]:
            assert not a & b
    assert _spread_keys("Molty") == set() and _spread_keys("a1") == set()


def test_name_stem_spread_uses_the_last_digit_run():
    assert _spread_keys("agent2go_17") & _spread_keys("agent3go_18")  # stem agent#go_#, serials 17 and 18
    assert not _spread_keys("agent2go_17") & _spread_keys("agent2go_917")


def test_name_stem_spread_must_not_be_negative():
    with pytest.raises(KeySpecError):
        parse_key_spec("name_stem(agent_name, spread=-1)")


def test_template_folds_case_and_space_but_not_words():
    t = parse_key_spec("template(text, min_chars=10)").fn
    assert t(event(1, text="Steady minting  from HK now")) == t(event(2, text="steady MINTING from hk now "))
    assert t(event(1, text="Steady minting from HK now")) != t(event(2, text="Steady minting from SG now"))
    assert t(event(3, text="short")) is None


def test_fingerprint_ignores_numbers_emoji_order():
    f = parse_key_spec("fingerprint(text)").fn
    a = f(event(1, text="Claim your free CLAW tokens today 🚀 #42"))
    assert a == f(event(2, text="today claim your FREE claw tokens 7"))
    assert a != f(event(3, text="Claim your free MOLT tokens today"))


def test_minhash_fans_out_and_near_duplicates_share_a_band():
    spec = parse_key_spec("minhash(text, bands=16, rows=2)")
    assert spec.fan_out
    a = spec.fn(event(1, text="Claiming my spot on Moltbook with a CLAW mint join the token movement today"))
    b = spec.fn(event(2, text="claiming my spot on moltbook with a $CLAW mint, join the token movement TODAY 🦞"))
    c = spec.fn(event(3, text="The tide pools at dawn are full of anemones and small curious crabs"))
    assert len(a) == 16 and set(a) & set(b) and not set(a) & set(c)


def test_urls_are_normalised_and_fan_out():
    u = parse_key_spec("urls(text)").fn
    ev = event(1, url="https://www.Example.com/a/?utm_source=x", text="see http://example.com/a and https://b.example/x?id=2")
    assert u(ev) == ["example.com/a", "b.example/x?id=2"]
    assert normalise_url("https://x.example/p?ref=abc&q=1") == "x.example/p?q=1"
    assert parse_key_spec("urls(text, host_only=True)").fn(ev) == ["example.com", "b.example"]


def test_pair_is_unordered():
    p = parse_key_spec("pair(agent_id)").fn
    assert p(event(1, agent_id="b", target_agent_id="a")) == p(event(2, agent_id="a", target_agent_id="b")) == "a|b"
    assert p(event(3, agent_id="a")) is None


def test_regex_key_and_redos_guard():
    r = parse_key_spec({"key": "regex", "field": "text", "pattern": r'"tick"\s*:\s*"([^"]+)"'}).fn
    assert r(event(1, text='{"op":"mint","tick":"CLAW"}')) == "claw"
    with pytest.raises(KeySpecError, match="backtracking"):
        parse_key_spec({"key": "regex", "field": "text", "pattern": "(a+)+$"})


def test_partition_keys_is_the_product_and_empty_without_a_value():
    specs = parse_group_by(["agent_id", "urls(text)"])
    keys = partition_keys(specs, event(1, agent_id="z", text="https://a.example https://b.example"))
    assert keys == ["z\x1fa.example", "z\x1fb.example"]
    assert partition_keys(specs, event(2, agent_id="z", text="no links")) == []


@pytest.mark.parametrize("bad", ["nope(text)", "unknown_field", "template(text, 3)", "minhash(text, bands=20, rows=2)",
                                 "template(text, colour=1)", ""])
def test_bad_specs_say_what_is_wrong(bad):
    with pytest.raises(KeySpecError):
        parse_key_spec(bad)
