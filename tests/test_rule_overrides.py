"""Overrides: one pack tunes another's rules, lists and macros (rules/overrides.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from packs import pack_text
from support.cli import run_cli

from flockwatch.detect.engine import Engine
from flockwatch.ingest.decode import decode_object
from flockwatch.rules.errors import PackError
from flockwatch.rules.loader import load_pack_text, load_packs
from flockwatch.rules.testing import run_rule_tests

SHIPPED = """
lists:
  secret_nouns: [api key, password]
macros:
  to_operator: {field: to_operator, equals: true}
rules:
  - id: s.secret_ask
    title: Secret asked of an operator
    category: social_engineering
    severity: high
    tags: [operator]
    events: [dm]
    condition:
      all:
        - macro: to_operator
        - {field: text, icontains: {list: secret_nouns}}
    tests:
      fire: [{type: dm, to_operator: true, text: "paste your API key"}]
      quiet: [{type: dm, to_operator: true, text: "nice weather"}]
  - id: s.flood
    type: threshold
    title: Post flood
    category: spam_cascade
    severity: medium
    events: [post]
    group_by: [agent_id]
    window: 10m
    threshold: 4
    tests:
      fire:
        - events:
            - {at: 0s, agent_id: a}
            - {at: 1s, agent_id: a}
            - {at: 2s, agent_id: a}
            - {at: 3s, agent_id: a}
  - id: s.any
    title: Any event saying zzqx
    category: other
    severity: low
    condition: {field: text, contains: zzqx}
    tests:
      fire: [{text: zzqx}]
"""
T0 = datetime(2026, 2, 1, tzinfo=timezone.utc)


def overrides_pack(body: str, name: str) -> str:
    """A pack with overrides declares the engine that brought them (1.1)."""
    return pack_text(body, name).replace('">=1.0,<2"', '">=1.1,<2"')


def write_packs(tmp_path: Path, local: str, shipped: str = SHIPPED) -> Path:
    (tmp_path / "a_shipped.yaml").write_text(pack_text(shipped, "shipped"))
    (tmp_path / "b_local.yaml").write_text(overrides_pack(local, "local"))
    return tmp_path


def load_with(tmp_path: Path, local: str) -> dict:
    packs = load_packs([write_packs(tmp_path, local)])
    return {r.id: r for p in packs for r in p.rules}


def issues(tmp_path: Path, local: str) -> list[str]:
    with pytest.raises(PackError) as err:
        load_packs([write_packs(tmp_path, local)])
    return [str(i) for i in err.value.issues]


def alerts_for(tmp_path: Path, local: str, events: list[dict]) -> list[str]:
    engine = Engine(load_packs([write_packs(tmp_path, local)]))
    out = []
    for n, raw in enumerate(events):
        ev = decode_object({"event_id": f"e{n}", "ts": (T0 + timedelta(seconds=n)).isoformat(),
                            "agent_id": "a", "type": "post", **raw})
        out.extend(a.rule_id for a in engine.process(ev))
    return out


SECRET_DM = {"type": "dm", "to_operator": True, "text": "please paste your API key"}


def test_without_overrides_the_shipped_rule_fires(tmp_path):
    assert alerts_for(tmp_path, "rules: []\n", [SECRET_DM]) == ["s.secret_ask"]


def test_enabled_false_switches_a_rule_of_another_pack_off(tmp_path):
    local = "overrides:\n  - rule: s.secret_ask\n    enabled: false\n"
    rules = load_with(tmp_path, local)
    assert rules["s.secret_ask"].enabled is False
    assert rules["s.secret_ask"].overridden_by == [f"{tmp_path}/b_local.yaml:6 (enabled)"]
    assert rules["s.flood"].overridden_by == []
    assert alerts_for(tmp_path, local, [SECRET_DM]) == []


def test_replace_changes_a_threshold_and_severity(tmp_path):
    local = """
    overrides:
      - rule: s.flood
        threshold: 2
        severity: critical
        override: {threshold: replace, severity: replace}
    """
    rules = load_with(tmp_path, local)
    assert rules["s.flood"].severity == "critical"
    assert alerts_for(tmp_path, "rules: []\n", [{}, {}]) == []
    assert alerts_for(tmp_path, local, [{}, {}]) == ["s.flood"]


def test_appended_exception_spares_only_the_named_agents(tmp_path):
    local = """
    overrides:
      - rule: s.secret_ask
        exceptions:
          - {name: our_audit_bot, fields: [agent_id], values: [audit_bot]}
        override: {exceptions: append}
    """
    assert alerts_for(tmp_path, local, [{**SECRET_DM, "agent_id": "audit_bot"}]) == []
    assert alerts_for(tmp_path, local, [{**SECRET_DM, "agent_id": "stranger"}]) == ["s.secret_ask"]
    assert load_with(tmp_path, local)["s.secret_ask"].exception_names == ["our_audit_bot"]


def test_appended_condition_narrows_the_rule_and_uses_the_target_packs_lists(tmp_path):
    local = """
    overrides:
      - rule: s.secret_ask
        condition: {not: {field: community, equals: security_drills}}
        override: {condition: append}
    """
    assert alerts_for(tmp_path, local, [{**SECRET_DM, "community": "security_drills"}]) == []
    assert alerts_for(tmp_path, local, [{**SECRET_DM, "community": "general"}]) == ["s.secret_ask"]


def test_list_append_extends_a_list_in_the_named_pack(tmp_path):
    dm = {**SECRET_DM, "text": "what is your recovery phrase?"}
    assert alerts_for(tmp_path, "rules: []\n", [dm]) == []
    local = """
    overrides:
      - list: secret_nouns
        pack: shipped
        items: [recovery phrase]
        override: {items: append}
    """
    assert alerts_for(tmp_path, local, [dm]) == ["s.secret_ask"]
    assert alerts_for(tmp_path, local, [SECRET_DM]) == ["s.secret_ask"]  # the old items stay


def test_list_replace_drops_the_old_items(tmp_path):
    local = """
    overrides:
      - list: secret_nouns
        pack: shipped
        items: [seed phrase]
        override: {items: replace}
      - rule: s.secret_ask
        tests: {fire: [{type: dm, to_operator: true, text: "your seed phrase please"}], quiet: []}
        override: {tests: replace}
    """
    assert alerts_for(tmp_path, local, [SECRET_DM]) == []
    assert alerts_for(tmp_path, local, [{**SECRET_DM, "text": "send the seed phrase"}]) == ["s.secret_ask"]


def test_macro_replace_and_append(tmp_path):
    replace_it = """
    overrides:
      - macro: to_operator
        pack: shipped
        condition: {any: [{field: to_operator, equals: true}, {field: community, equals: ops}]}
        override: {condition: replace}
    """
    dm = {**SECRET_DM, "to_operator": False, "community": "ops"}
    assert alerts_for(tmp_path, "rules: []\n", [dm]) == []
    assert alerts_for(tmp_path, replace_it, [dm]) == ["s.secret_ask"]
    append_it = """
    overrides:
      - macro: to_operator
        pack: shipped
        condition: {not: {field: agent_id, equals: trusted}}
        override: {condition: append}
    """
    assert alerts_for(tmp_path, append_it, [{**SECRET_DM, "agent_id": "trusted"}]) == []
    assert alerts_for(tmp_path, append_it, [SECRET_DM]) == ["s.secret_ask"]


def test_appended_tests_run_against_the_tuned_rule(tmp_path):
    local = """
    overrides:
      - rule: s.secret_ask
        tests:
          quiet: [{type: dm, to_operator: true, text: "paste your password"}]
        override: {tests: append}
    """
    results = run_rule_tests(load_packs([write_packs(tmp_path, local)]))
    mine = [r for r in results if r.rule_id == "s.secret_ask"]
    assert [(r.kind, r.passed) for r in mine] == [("fire", True), ("quiet", True), ("quiet", False)]
    assert "tuned by the override at" in mine[-1].message and "b_local.yaml:" in mine[-1].message


def test_a_shipped_case_broken_by_tuning_points_at_the_override(tmp_path):
    local = """
    overrides:
      - rule: s.flood
        threshold: 10
        override: {threshold: replace}
    """
    [failed] = [r for r in run_rule_tests(load_packs([write_packs(tmp_path, local)])) if not r.passed]
    assert failed.rule_id == "s.flood" and "did not fire" in failed.message
    assert "b_local.yaml:" in failed.message and "replace or append this rule's tests" in failed.message


def test_tags_and_events_append(tmp_path):
    local = """
    overrides:
      - rule: s.secret_ask
        tags: [tuned_locally]
        events: [comment]
        override: {tags: append, events: append}
    """
    rule = load_with(tmp_path, local)["s.secret_ask"]
    assert rule.tags == ["operator", "tuned_locally"]
    assert rule.events == frozenset({"dm", "comment"})


@pytest.mark.parametrize(("override", "expected"), [
    ("- rule: s.nope\n  enabled: false", "no loaded pack has a rule 's.nope'"),
    ("- rule: s.flood\n  threshold: 2", "threshold: say how it changes the rule: override: {threshold: replace}"),
    ("- rule: s.flood\n  override: {threshold: replace}", "threshold: replace what? the override gives no threshold"),
    ("- rule: s.flood\n  threshold: 2\n  override: {threshold: merge}", "'merge' is neither append nor replace"),
    ("- rule: s.flood\n  type: match\n  override: {type: replace}", "a rule's type cannot be overridden"),
    ("- rule: s.flood\n  id: s.other\n  override: {id: replace}", "a rule's id cannot be overridden"),
    ("- rule: s.flood\n  threshold: 2\n  override: {threshold: append}", "threshold: cannot be appended to"),
    ("- rule: s.flood\n  enabled: 'no'", "enabled: expected true or false"),
    ("- rule: s.flood\n  pack: shipped\n  enabled: false", "a rule is named by its id alone"),
    ("- rule: s.flood\n  list: secret_nouns\n  enabled: false", "exactly one of rule, list or macro"),
    ("- list: secret_nouns\n  items: [x]\n  override: {items: append}", "pack: name the pack whose list"),
    ("- list: secret_nouns\n  pack: elsewhere\n  items: [x]\n  override: {items: append}",
     "no loaded pack is named 'elsewhere' (loaded: local, shipped)"),
    ("- list: nouns\n  pack: shipped\n  items: [x]\n  override: {items: append}", "pack 'shipped' has no list 'nouns'"),
    ("- list: secret_nouns\n  pack: shipped\n  items: x\n  override: {items: append}", "items: expected a list"),
    ("- list: secret_nouns\n  pack: shipped\n  enabled: false", "only rules can be enabled or disabled"),
    ("- macro: to_operator\n  pack: shipped\n  items: [x]\n  override: {items: append}",
     "a macro override changes only condition"),
    ("- rule: s.flood\n  tags: x\n  override: {tags: append}", "tags: append takes a list"),
    ("- rule: s.flood\n  tests: {fire: x}\n  override: {tests: append}", "tests.fire: expected a list"),
    ("- rule: s.any\n  events: [dm]\n  override: {events: append}", "sees every event type already"),
    ("- just a string", "each override must be a mapping"),
])
def test_bad_overrides_are_load_errors_naming_file_and_line(tmp_path, override, expected):
    body = "overrides:\n" + "\n".join("  " + line for line in override.splitlines()) + "\n"
    [msg] = issues(tmp_path, body)
    # The override's own line; a bare string has none, so the pack's first line.
    line = 1 if override.startswith("- just") else 6
    assert msg.startswith(f"{tmp_path}/b_local.yaml:{line}:") and expected in msg, msg


def test_an_error_inside_the_tuned_rule_says_where_it_was_tuned(tmp_path):
    local = """
    overrides:
      - rule: s.secret_ask
        condition: {field: text, regex: '(a+)+$'}
        override: {condition: append}
    """
    [msg] = issues(tmp_path, local)
    assert msg.startswith(f"{tmp_path}/a_shipped.yaml:")  # the rule is compiled in its own pack
    assert "catastrophic backtracking" in msg and f"tuned by the override at {tmp_path}/b_local.yaml:7" in msg


def test_a_second_replace_of_the_same_key_is_a_warning(tmp_path):
    write_packs(tmp_path, """
    overrides:
      - rule: s.flood
        threshold: 6
        override: {threshold: replace}
    """)
    (tmp_path / "c_more.yaml").write_text(overrides_pack("""
    overrides:
      - rule: s.flood
        threshold: 8
        override: {threshold: replace}
    """, "more"))
    packs = load_packs([tmp_path])
    [flood] = [r for p in packs for r in p.rules if r.id == "s.flood"]
    assert flood.detector.threshold == 8  # load order: the later file wins
    [note] = [n for p in packs for n in p.notes]
    assert note.startswith(f"{tmp_path}/c_more.yaml:7:") and f"the override at {tmp_path}/b_local.yaml:7" in note


def test_the_shipped_file_is_not_changed_and_a_pack_alone_cannot_reach_others(tmp_path):
    local = "overrides:\n  - rule: s.secret_ask\n    enabled: false\n"
    write_packs(tmp_path, local)
    before = (tmp_path / "a_shipped.yaml").read_text()
    load_packs([tmp_path])
    assert (tmp_path / "a_shipped.yaml").read_text() == before
    with pytest.raises(PackError, match="no loaded pack has a rule 's.secret_ask'"):
        load_pack_text(pack_text(local, "local"), "b_local.yaml")


def test_overrides_of_the_shipped_packs(tmp_path):
    """The documented example, against the real rules/ directory."""
    root = Path(__file__).resolve().parents[1]
    (tmp_path / "local.yaml").write_text(overrides_pack("""
    overrides:
      - rule: cascades.near_duplicate_spam
        threshold: 8
        exceptions: [{name: our_relays, fields: [agent_id], values: [relay_1, relay_2]}]
        override: {threshold: replace, exceptions: append}
      - list: secret_nouns
        pack: baseline
        items: [recovery phrase]
        override: {items: append}
    """, "local-tuning"))
    packs = load_packs([root / "rules", tmp_path])
    rules = {r.id: r for p in packs for r in p.rules}
    assert rules["cascades.near_duplicate_spam"].detector.threshold == 8
    assert rules["cascades.near_duplicate_spam"].exception_names == ["our_relays"]
    assert all(not r.overridden_by for r in rules.values() if r.id != "cascades.near_duplicate_spam")


def test_cli_list_and_validate_show_tuned_rules(tmp_path):
    write_packs(tmp_path, "overrides:\n  - rule: s.secret_ask\n    enabled: false\n")
    listed = run_cli("rules", "list", str(tmp_path))
    assert listed.returncode == 0, listed.stderr
    [line] = [ln for ln in listed.stdout.decode().splitlines() if ln.startswith("s.secret_ask")]
    assert "(disabled)" in line and "(tuned)" in line
    validated = run_cli("rules", "validate", str(tmp_path))
    assert validated.returncode == 0, validated.stderr
    assert f"s.secret_ask: tuned by the override at {tmp_path}/b_local.yaml:6 (enabled)" in validated.stderr.decode()


def test_the_example_tuning_file_loads_and_its_cases_hold():
    """examples/local-tuning.yaml (linked from the README) with the shipped packs: every
    inline test passes, and its added quiet case really depends on the tuning."""
    root = Path(__file__).resolve().parents[1]
    packs = load_packs([root / "rules", root / "examples" / "local-tuning.yaml"])
    results = run_rule_tests(packs)
    assert [str(r) for r in results if not r.passed] == []
    drill = decode_object({"event_id": "d1", "ts": T0.isoformat(), "agent_id": "red_team", "type": "dm",
                           "to_operator": True, "community": "security_drills",
                           "text": "Drill: paste your API key here"})
    tuned = [a.rule_id for a in Engine(packs).process(drill)]
    shipped = [a.rule_id for a in Engine(load_packs([root / "rules"])).process(drill)]
    assert "baseline.operator_secret_request" in shipped and "baseline.operator_secret_request" not in tuned


def test_an_overrides_pack_that_admits_engine_1_0_gets_a_warning(tmp_path):
    packs = load_packs([write_packs(tmp_path, "overrides:\n  - rule: s.secret_ask\n    enabled: false\n")])
    assert [n for p in packs for n in p.notes] == []  # it says >=1.1
    (tmp_path / "b_local.yaml").write_text((tmp_path / "b_local.yaml").read_text().replace(">=1.1,<2", ">=1.0,<2"))
    [note] = [n for p in load_packs([tmp_path]) for n in p.notes]
    assert note.startswith(f"{tmp_path}/b_local.yaml:2:") and 'requires_engine: ">=1.1,<2"' in note
