"""Loading packs: every problem is reported with file, line and rule id."""

from __future__ import annotations

import pytest
from packs import HEADER, load, pack_text

from flockwatch.rules.errors import PackError
from flockwatch.rules.loader import load_pack_text, load_packs
from flockwatch.rules.testing import run_rule_tests

GOOD_RULE = """
rules:
  - id: t.one
    title: One
    category: other
    severity: low
    condition: {field: text, contains: hello}
"""


def issues_of(text: str, file: str = "p.yaml") -> list[str]:
    with pytest.raises(PackError) as err:
        load_pack_text(text, file)
    return [str(i) for i in err.value.issues]


def test_good_pack_loads_with_metadata():
    pack = load(GOOD_RULE)
    assert pack.name == "tp" and pack.version == "1.0.0" and len(pack.sha256) == 64
    [rule] = pack.rules
    assert (rule.id, rule.category, rule.severity, rule.enabled, rule.pack) == ("t.one", "other", "low", True, "tp")
    assert rule.line == 7  # 4 header lines, a blank, `rules:`, then the rule


def test_yaml_syntax_error_names_line():
    [msg] = issues_of(HEADER.format(name="tp") + "rules:\n  - id: [unclosed\n")
    assert msg.startswith("p.yaml:7") and "YAML" in msg and "line 6" in msg  # where it broke and where it began


def test_duplicate_yaml_keys_are_errors():
    [msg] = issues_of(pack_text(GOOD_RULE.replace("severity: low", "severity: low\n    severity: high")))
    assert "duplicate key 'severity'" in msg


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("severity: low", "severity: urgent"), "severity"),
        (("category: other", "category: misc"), "category"),
        (("title: One", "title: One\n    colour: red"), "colour"),
        (("contains: hello", "matches: hello"), "unknown operator"),
        (("field: text", "field: body"), "unknown field 'body'"),
        (("{field: text, contains: hello}", "{macro: nope}"), "unknown macro 'nope'"),
        (("contains: hello", "contains: {list: nope}"), "unknown list 'nope'"),
        (("contains: hello", "regex: '([a-z'"), "does not compile"),
        (("contains: hello", "regex: '(a+)+$'"), "catastrophic backtracking"),
        (("contains: hello}", "contains: hello, icontains: x}"), "exactly one operator"),
        (("id: t.one", "id: T One"), "rule id"),
        (("title: One", "title: One\n    events: []"), "events: List should have at least 1 item"),
    ],
)
def test_rule_errors_name_file_line_and_rule(change, expected):
    text = pack_text(GOOD_RULE.replace(*change))
    msgs = issues_of(text)
    assert any(expected in m for m in msgs), msgs
    assert all(m.startswith("p.yaml:") for m in msgs)
    rule_id = "t.one" if "T One" not in text else None
    if rule_id:
        assert any("[t.one]" in m for m in msgs), msgs


def test_template_syntax_error():
    msgs = issues_of(pack_text(GOOD_RULE + "    summary: '{{ event.text '\n"))
    assert any("[t.one]" in m and "summary template" in m for m in msgs)


def test_engine_version_and_semver_checked():
    text = pack_text(GOOD_RULE).replace('">=1.0,<2"', '">=2.0"')
    assert any("needs engine >=2.0" in m for m in issues_of(text))
    text = pack_text(GOOD_RULE).replace("version: 1.0.0", "version: one")
    assert any("semver" in m for m in issues_of(text))
    text = pack_text(GOOD_RULE).replace('">=1.0,<2"', '"about one"')
    assert any("not a version specifier" in m for m in issues_of(text))


def test_macro_cycle_reported():
    body = """
    macros:
      a: {macro: b}
      b: {macro: a}
    rules:
      - id: t.cyc
        title: c
        category: other
        severity: low
        condition: {macro: a}
    """
    msgs = issues_of(pack_text(body))
    assert any("macro cycle" in m for m in msgs)


def test_duplicate_rule_ids_in_one_file_and_across_files(tmp_path):
    twice = GOOD_RULE + GOOD_RULE.replace("rules:\n", "")
    assert any("duplicate rule id" in m for m in issues_of(pack_text(twice)))
    (tmp_path / "a.yaml").write_text(pack_text(GOOD_RULE, name="pa"))
    (tmp_path / "b.yaml").write_text(pack_text(GOOD_RULE, name="pb"))
    with pytest.raises(PackError) as err:
        load_packs([tmp_path])
    [issue] = err.value.issues
    assert issue.rule_id == "t.one" and "also at" in issue.message and issue.file.endswith("b.yaml")


def test_all_issues_reported_not_just_first():
    body = GOOD_RULE + """
  - id: t.two
    title: Two
    category: nope
    severity: low
    condition: {field: text, contains: x}
  - id: t.three
    title: Three
    category: other
    severity: low
    condition: {field: text, regex: '(x+)+y'}
"""
    msgs = issues_of(pack_text(body))
    assert any("[t.two]" in m for m in msgs) and any("[t.three]" in m for m in msgs)


def test_exceptions_shape_errors():
    body = GOOD_RULE + """    exceptions:
      - name: ex
        fields: [agent_id, community]
        values: [[only-one]]
"""
    assert any("needs 2 items" in m for m in issues_of(pack_text(body)))


def test_threshold_params_validated():
    body = """
    rules:
      - id: t.flood
        type: threshold
        title: flood
        category: other
        severity: low
        window: soon
        threshold: 1
    """
    msgs = issues_of(pack_text(body))
    assert any("[t.flood]" in m and "window" in m for m in msgs)


def test_unknown_rule_type():
    body = GOOD_RULE.replace("title: One", "type: telepathy\n    title: One")
    assert any("unknown rule type 'telepathy'" in m for m in issues_of(pack_text(body)))


def test_unprefilterable_regex_is_noted_not_refused():
    pack = load(GOOD_RULE.replace("contains: hello", r"regex: '(?x) h e l l o'"))
    assert any("evaluated on every event" in n for n in pack.notes)


@pytest.mark.parametrize(
    "condition",
    ["{macro: [m1, m2]}", "{field: text, contains: {list: [l1, l2]}}"],
)
def test_macro_or_list_named_by_a_list_is_an_error_not_a_crash(condition):
    # An author who wants two macros or two lists at once writes a list of names;
    # that raised TypeError (unhashable list) out of the loader.
    body = """
    lists:
      l1: [a]
      l2: [b]
    macros:
      m1: {field: text, contains: a}
      m2: {field: text, contains: b}
    rules:
      - id: t.names
        title: names
        category: other
        severity: low
        condition: COND
    """.replace("COND", condition)
    msgs = issues_of(pack_text(body))
    assert any("[t.names]" in m and "takes one name" in m for m in msgs), msgs


def test_setting_list_named_by_a_list_is_an_error_not_a_crash():
    body = """
    lists:
      l1: ['\\ba\\b']
    rules:
      - id: t.cues
        type: cue_score
        title: cues
        category: other
        severity: low
        cues:
          x: {weight: 3, patterns: {list: [l1]}}
        bands: {low: 1}
    """
    msgs = issues_of(pack_text(body))
    assert any("[t.cues]" in m and "takes one name" in m for m in msgs), msgs


CUE_RULE_WITH_NESTED_LIST = """
lists:
  base_words: ['\\bpassword\\b']
  more_words: [{list: base_words}, '\\bseed phrase\\b']
rules:
  - id: t.cues
    type: cue_score
    title: cues
    category: other
    severity: low
    cues:
      secret: {weight: 3, patterns: {list: more_words}}
    bands: {low: 3}
    tests:
      fire: [{text: "my password"}, {text: "my seed phrase"}]
      quiet: [{text: "my cat"}]
"""


def test_setting_list_may_include_another_list_as_in_conditions():
    # README: "a list may include another: [{list: other}, extra]"; the cue_score
    # docs: "{list: name} works inside rule-type settings as it does in conditions".
    # Settings spliced the named list without resolving the lists it includes.
    results = run_rule_tests([load(CUE_RULE_WITH_NESTED_LIST)])
    assert len(results) == 3 and all(r.passed for r in results), [str(r) for r in results]


def test_setting_list_cycle_is_reported():
    body = CUE_RULE_WITH_NESTED_LIST.replace("[{list: base_words}, ", "[{list: more_words}, ")
    msgs = issues_of(pack_text(body))
    assert any("[t.cues]" in m and "list cycle" in m for m in msgs), msgs


def test_summary_naming_an_unknown_variable_is_an_error():
    # `evnt` is undefined on every alert (StrictUndefined), so the summary can never
    # render; `rules validate` accepted it and a rule without tests shipped with it.
    msgs = issues_of(pack_text(GOOD_RULE + "    summary: '{{ evnt.agent_id }} said {{ finding.count }}'\n"))
    assert any("[t.one]" in m and "summary template" in m and "'evnt'" in m for m in msgs), msgs


def test_summary_may_use_the_context_jinja_globals_and_its_own_names():
    summary = ("{% set who = event.agent_name or event.agent_id %}{{ who }} {{ rule.title }} "
               "{{ evidence.matches | length }} {{ finding.count }}{% for i in range(2) %}.{% endfor %}")
    load(GOOD_RULE + f"    summary: '{summary}'\n")


@pytest.mark.parametrize(
    ("condition", "says"),
    [
        # The event schema is strict, so these can never be true on any event.
        ("{field: value, equals: '-1'}", "never"),  # a vote value is the number -1
        ("{field: to_operator, equals: 'true'}", "never"),  # a bool, not the text
        ("{field: type, in: [post, dms]}", "'dms'"),  # not an event type
        ("{field: text, equals: 42}", "never"),
        ("{field: community, equals: null}", "exists: false"),
        ("{field: attrs.lang, in: [null]}", "exists: false"),
        ("{field: to_operator, contains: t}", "never"),
        ("{field: value, length: {min: 1}}", "never"),
        ("{field: text, length: {min: 50, max: 10}}", "min"),
        ("{field: text, length: {max: -1}}", "max"),
        ("{field: [], contains: a}", "field"),
        ("{all: [{field: text, contains: a}, {not: }]}", "not"),
    ],
)
def test_a_predicate_that_can_never_be_true_is_an_error(condition, says):
    msgs = issues_of(pack_text(GOOD_RULE.replace("{field: text, contains: hello}", condition)))
    assert any("[t.one]" in m and says in m for m in msgs), msgs


@pytest.mark.parametrize(
    "condition",
    [
        "{field: value, in: [1, -1]}",
        "{field: to_operator, equals: false}",
        "{field: type, in: [post, dm]}",
        "{field: type, startswith: p}",
        "{field: ts, startswith: '2026-'}",
        "{field: attrs.score, equals: 3}",
        "{field: attrs.tags, length: {min: 2}}",
        "{field: [title, text], icontains: hello}",
        "{field: value, exists: true}",
    ],
)
def test_predicates_that_fit_the_field_types_load(condition):
    load(GOOD_RULE.replace("{field: text, contains: hello}", condition))


def test_error_messages_never_show_the_loaders_line_markers():
    # The YAML loader tags every mapping with its line (`__line__`); a mapping written
    # where a name or value belongs was echoed back with that internal key in it.
    for condition in ("{field: {name: text}, contains: a}", "{field: value, equals: {x: 1}}", "{macro: {x: 1}}"):
        msgs = issues_of(pack_text(GOOD_RULE.replace("{field: text, contains: hello}", condition)))
        assert msgs and not any("__line__" in m for m in msgs), msgs


TYPED_RULE = """
macros:
  is_dm: {field: type, equals: dm}
rules:
  - id: t.typed
    title: Typed
    category: other
    severity: low
    events: [{events}]
    condition:
      all:
        - {field: text, contains: hello}
        - {condition}
"""


@pytest.mark.parametrize(("events", "condition", "fires_never"), [
    ("vote", "{field: type, equals: post}", True),
    ("post, comment", "{field: type, in: [dm, vote]}", True),
    ("post", "{macro: is_dm}", True),
    ("post", "{any: [{field: type, equals: dm}, {field: type, equals: vote}]}", True),
    ("post, comment", "{field: type, equals: comment}", False),
    ("post", "{any: [{field: type, equals: dm}, {field: agent_id, equals: a}]}", False),  # the other branch can hold
    ("post", "{not: {field: type, equals: dm}}", False),
])
def test_a_condition_on_type_that_the_events_list_excludes_is_an_error(events, condition, fires_never):
    text = pack_text(TYPED_RULE.replace("{events}", events).replace("{condition}", condition))
    if not fires_never:
        assert [r.id for r in load_pack_text(text, "p.yaml").rules] == ["t.typed"]
        return
    [msg] = issues_of(text)
    assert msg.startswith("p.yaml:9: [t.typed]") and "it can never fire" in msg and f"events: [{events}]" in msg


def test_backtracking_and_exception_errors_point_at_their_own_line():
    body = """
    rules:
      - id: t.lines
        title: Lines
        category: other
        severity: low
        condition:
          all:
            - {field: text, contains: hello}
            - {field: title, regex: '(a+)+$'}
        exceptions:
          - name: fine
            fields: [agent_id]
            values: [a]
          - name: broken
            fields: [agent_id]
            comps: [bogus]
            values: [b]
    """
    msgs = issues_of(pack_text(body))
    assert any(m.startswith("p.yaml:14: [t.lines]") and "catastrophic backtracking" in m for m in msgs), msgs
    assert any(m.startswith("p.yaml:19: [t.lines]") and "exception 'broken'" in m for m in msgs), msgs
