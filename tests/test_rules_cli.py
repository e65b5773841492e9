"""`flockwatch rules validate|test|list` as a rule author uses them."""

from __future__ import annotations

from packs import pack_text
from support.cli import run_cli

RULE = """
rules:
  - id: t.hello
    title: Hello
    category: other
    severity: low
    condition: {field: text, icontains: hello}
    tests:
      fire:
        - {text: "HELLO there"}
      quiet:
        - {text: "goodbye"}
"""


def test_validate_reports_errors_with_location(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(pack_text(RULE.replace("icontains: hello", "regex: '(a+)+'")))
    res = run_cli("rules", "validate", str(bad))
    assert res.returncode == 2
    err = res.stderr.decode()
    assert f"{bad}:11: [t.hello] error: regex '(a+)+': catastrophic backtracking" in err  # the predicate's line


def test_validate_ok_and_list(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(pack_text(RULE))
    res = run_cli("rules", "validate", str(good))
    assert res.returncode == 0 and "ok: 1 pack(s), 1 rule(s)" in res.stdout.decode()
    res = run_cli("rules", "list", str(good))
    assert "t.hello" in res.stdout.decode() and "match" in res.stdout.decode()


def test_rule_test_failure_exits_non_zero(tmp_path):
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(pack_text(RULE.replace('{text: "goodbye"}', '{text: "well hello"}')))
    res = run_cli("rules", "test", str(wrong))
    out = res.stdout.decode()
    assert res.returncode == 1
    assert "FAIL" in out and "[t.hello] quiet[0]" in out and "1 passed, 1 failed" in out


def test_rule_test_expect_mismatch_is_reported(tmp_path):
    f = tmp_path / "exp.yaml"
    f.write_text(pack_text(RULE.replace('- {text: "HELLO there"}', '- {text: "HELLO", expect: {severity: high}}')))
    res = run_cli("rules", "test", str(f))
    assert res.returncode == 1
    assert "expected severity='high', got 'low'" in res.stdout.decode()


def test_shipped_packs_validate():
    res = run_cli("rules", "validate")
    assert res.returncode == 0, res.stderr.decode()
