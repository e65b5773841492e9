"""Inline test cases a rule author gets wrong: each must fail with a message saying
what is wrong with the case, never pass silently and never crash the runner."""

from __future__ import annotations

import pytest
from packs import load, pack_text
from support.cli import run_cli

from flockwatch.rules.testing import run_rule_tests

FLOOD = """
rules:
  - id: t.flood
    type: threshold
    title: flood
    category: other
    severity: low
    events: [post]
    window: 10m
    threshold: 3
    tests:
      fire:
        - CASE
"""

THREE_POSTS = """
          events:
            - {at: 0s, text: a}
            - {at: 1m, text: b}
            - {at: 2m, text: c}"""


def results_of(case: str) -> list[str]:
    pack = load(FLOOD.replace("- CASE", case.strip()))
    return [str(r) for r in run_rule_tests([pack])]


def test_a_well_formed_case_passes():
    [res] = results_of("- expect: {count: 3}" + THREE_POSTS)
    assert res.startswith("ok"), res


@pytest.mark.parametrize(
    ("case", "says"),
    [
        # `expected:` for `expect:`: the expectation was dropped and the case passed
        ("- expected: {count: 99}" + THREE_POSTS, "'expected'"),
        # event fields beside `events:` were dropped too
        ("- text: hello" + THREE_POSTS, "'text'"),
    ],
)
def test_unknown_keys_beside_events_fail_the_case(case, says):
    [res] = results_of(case)
    assert res.startswith("FAIL") and "bad test case" in res and says in res, res


def test_events_given_as_a_mapping_fails_the_case():
    # `events: {at: 0s, text: a}` (one event, not a list of them) crashed the runner
    # with AttributeError: 'str' object has no attribute 'items'.
    [res] = results_of("- events: {at: 0s, text: a}")
    assert res.startswith("FAIL") and "bad test case" in res and "list" in res, res


def test_expect_on_a_quiet_case_fails_it():
    # A quiet case never has an alert to compare, so its `expect` could never fail.
    body = FLOOD.replace("fire:\n        - CASE", "quiet:\n        - expect: {count: 1}\n          events: [{text: a}]")
    [res] = [str(r) for r in run_rule_tests([load(body)])]
    assert res.startswith("FAIL") and "expect" in res, res


def test_rules_test_cli_reports_a_bad_case_instead_of_a_traceback(tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text(pack_text(FLOOD.replace("- CASE", "- events: {at: 0s, text: a}")))
    res = run_cli("rules", "test", str(f))
    assert res.returncode == 1, res.stderr.decode()
    assert "Traceback" not in res.stderr.decode()
    assert "[t.flood] fire[0]: bad test case" in res.stdout.decode()


HELLO = """
rules:
  - id: t.hello
    title: Hello
    category: other
    severity: low
    condition: {field: text, icontains: hello}
    summary: 'SUMMARY'
    tests:
      fire: [{text: "hello there"}]
"""


@pytest.mark.parametrize(
    "summary",
    [
        "{{ event.agnt_name }} said hello",  # misspelt attribute
        "{{ finding.cout }} events",  # misspelt finding key
        "said {{ evidence.matches[1].match }}",  # one predicate: there is no second match
    ],
)
def test_fire_case_fails_when_the_summary_cannot_render(summary):
    # Live, a failing summary falls back to "title (summary template failed: ...)";
    # the inline tests passed such a rule, so every alert it ever raised read that way.
    [res] = [str(r) for r in run_rule_tests([load(HELLO.replace("SUMMARY", summary))])]
    assert res.startswith("FAIL") and "summary template failed" in res, res


def test_a_summary_that_renders_passes():
    [res] = [str(r) for r in run_rule_tests([load(HELLO.replace("SUMMARY", "{{ event.agent_id }} said hello"))])]
    assert res.startswith("ok"), res
