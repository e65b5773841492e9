"""A small slice of eval/ciphers_eval.py on the real reference data: the labelled set
is built the same way (fixed seed), with a few samples per cipher, and the recall
and false-flag figures must hold. The full evaluation is the script."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "eval"))

import ciphers_eval  # noqa: E402


@pytest.fixture(scope="module")
def slice_result(shared_data, monkeypatch_module):
    monkeypatch_module.setattr(ciphers_eval, "POSTS", shared_data / ciphers_eval.POSTS.relative_to(ciphers_eval.DATA))
    monkeypatch_module.setattr(ciphers_eval, "SMS", shared_data / ciphers_eval.SMS.relative_to(ciphers_eval.DATA))
    lines: list[str] = []
    only = {"rot13", "caesar", "atbash", "reversed", "base64", "hex", "leetspeak"}
    result = ciphers_eval.run(8, 11, ROOT / "rules" / "ciphers.yaml", out=lines.append, only=only)
    return result, "\n".join(lines)


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def _recall(result, key, min_bucket=40):
    cells = result["recall"][key]
    found = sum(f for b, (f, n) in cells.items() if int(b.split("-")[0].rstrip("+")) >= min_bucket)
    total = sum(n for b, (f, n) in cells.items() if int(b.split("-")[0].rstrip("+")) >= min_bucket)
    return found / total if total else 1.0


def test_eval_slice_recall_and_false_flags(slice_result):
    result, report = slice_result
    for cipher in ("rot13", "caesar", "atbash", "reversed", "base64", "hex"):
        assert _recall(result, f"{cipher}/whole") >= 0.9, report
    for cipher in ("rot13", "atbash", "base64"):
        assert _recall(result, f"{cipher}/span", min_bucket=0) >= 0.7, report
    flagged_posts, posts = result["false_flags"]["posts"]
    flagged_sms, sms = result["false_flags"]["sms_ham"]
    assert posts == 5389 and sms == 4827
    assert flagged_posts <= 5 and flagged_sms <= 5, report  # 0.1% of each
    assert "false flags on real posts" in report
