from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
import regex

from flockwatch.alerts.redact import fingerprint, redact, redact_data
from flockwatch.detect.engine import Engine
from flockwatch.ingest.decode import decode_object
from flockwatch.rules.loader import load_pack
from flockwatch.text.secrets import find_seed_phrases

SECRETS = {
    "moltbook_sk_Abcdefghijklmnopqrstuvwx123": "moltbook_sk_Ab…#",
    "moltbook_Q2f9ZpL0aVbN7mXrT4sKd8Wc": "moltbook_Q2…#",
    "sk-proj-4fJ9aQ2LmZ7xWc0vB8nR1tY6uKdE3hGs": "sk-proj-4f…#",
    "sk-ant-api03-Zk7dQm2Lp9Xr4Wv8Tn1Bc6Ys3Hf0Jg5A": "sk-ant-ap…#",
    "ghp_Z8kQ2mL5pX9rT3wV7nB1cY4dH6fJ0gK2aS5e": "ghp_Z8…#",
    "AKIA2OGYBAH6QWERTY12": "AKIA2O…#",
    "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp": "xoxb-12…#",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudC00MiJ9.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk": "eyJhbG…#",
}


@pytest.mark.parametrize(("secret", "shown"), SECRETS.items())
def test_redact_keeps_a_prefix_and_a_hash(secret: str, shown: str) -> None:
    out = redact(f"here: {secret} ok")
    assert secret not in out
    assert out == f"here: {shown}{fingerprint(secret)} ok"


def test_same_secret_same_hash_and_no_double_redaction() -> None:
    key = "moltbook_sk_Abcdefghijklmnopqrstuvwx123"
    once = redact(key)
    assert redact(f"again {key}") == f"again {once}"
    assert redact(once) == once  # a redacted key does not look like a (truncated) key


@pytest.mark.parametrize("text", [
    "keys look like moltbook_sk_... never post them", "password: YOUR_PASSWORD", "sk-your-key-here",
    "the AKIA prefix marks access keys", "a plain sentence with nothing secret",
])
def test_placeholders_and_prose_are_left_alone(text: str) -> None:
    assert redact(text) == text


def test_private_keys_assignments_and_truncated_keys() -> None:
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"
    assert "MIIEpAIB" not in redact(f"x {pem} y")
    assert redact("password = hunter2hunter2") .startswith("password = hu…#")
    assert "Abcdef" not in redact("cut moltbook_sk_Abcdef…")


def test_seed_phrases() -> None:
    phrase = "abandon ability able about above absent absorb abstract absurd abuse access accident"
    assert redact(f"seed: {phrase}.") == f"seed: [seed phrase: 12 words]#{fingerprint(phrase)}."
    numbered = " ".join(f"{i}. {w}" for i, w in enumerate(phrase.split(), 1))
    assert find_seed_phrases(numbered)[0][2] == 12
    assert find_seed_phrases("these twelve simple words could never have seemed quite so strange when spoken") == []


def test_redact_data_walks_nested_evidence() -> None:
    key = "ghp_Z8kQ2mL5pX9rT3wV7nB1cY4dH6fJ0gK2aS5e"
    data = {"matches": [{"match": key}], "nested": {key: (key, 3)}, "n": 1}
    assert key not in json.dumps(redact_data(data))


def test_everything_a_credential_rule_fires_on_is_redacted(repo_root) -> None:
    """The leak rules (YAML) and the redaction shapes (code) must agree: whatever a
    rule calls a leak must never survive into a stored alert."""
    pack = load_pack(repo_root / "rules" / "credential_leak.yaml")
    engine = Engine([pack])
    for rule in pack.rules:
        for n, case in enumerate(rule.tests["fire"]):
            raw = {k: v for k, v in case.items() if k not in ("description", "expect")}
            raw.setdefault("event_id", f"r{n}")
            raw.setdefault("type", "post")
            raw.setdefault("agent_id", "a")
            raw.setdefault("ts", datetime(2026, 1, 30, tzinfo=timezone.utc).isoformat())
            alerts = engine.process(decode_object(raw))
            assert alerts, (rule.id, n)
            dumped = " ".join(a.model_dump_json() for a in alerts)
            for token in regex.findall(r"(?=[A-Za-z_/+=.-]*\d)[A-Za-z0-9_/+=.-]{16,}", raw["text"]):
                assert token not in dumped, (rule.id, token)


def test_memoised_redaction_gives_the_same_answer_and_stays_bounded() -> None:
    from flockwatch.alerts import redact as mod

    key = "my key is sk-proj-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6" + " keep it safe"
    first = mod.redact(key)
    assert "A1b2C3d4E5f6G7h8" not in first
    assert mod.redact(key) == first == mod._redact(key)  # from the memo, same text
    long = "x " * 2000 + key  # longer than MEMO_MAX_CHARS: redacted, not remembered
    assert "A1b2C3d4E5f6G7h8" not in mod.redact(long) and long not in mod._memo
    for i in range(mod.MEMO_SIZE + 10):
        mod.redact(f"sample text number {i}")
    assert len(mod._memo) <= mod.MEMO_SIZE


def test_seed_pre_check_never_hides_a_run() -> None:
    """`find_seed_phrases` skips the exact walk when `may_hold_seed_phrase` says no;
    on random mixes of list words, other words, numbering and punctuation the
    answer must be the exact walk's."""
    import random

    from flockwatch.text.secrets import _seed_runs, may_hold_seed_phrase, seed_words

    rnd = random.Random(11)
    listed = sorted(seed_words())[:400]
    others = ["the", "moltbook", "xyzzy", "Über", "ok", "API"]
    gaps = [" ", ", ", "\n", " 3. ", " - ", "; ", "  ", " 12) "]
    fired = 0
    for _ in range(3000):
        n = rnd.randint(0, 30)
        tokens = [rnd.choice(listed if rnd.random() < 0.9 else others) for _ in range(n)]
        tokens = [t.capitalize() if rnd.random() < 0.1 else t for t in tokens]
        text = "".join(t + rnd.choice(gaps) for t in tokens)
        for min_words in (8, 12):
            want = _seed_runs(text, min_words)
            assert find_seed_phrases(text, min_words) == want, text
            if want:
                fired += 1
                assert may_hold_seed_phrase(text, min_words)
    assert fired > 100  # the mix does produce runs, so the equality above means something


def test_shape_literal_prefilter_never_hides_a_secret() -> None:
    """redact skips the (slow) shape scan on ASCII text without any shape's literal;
    on random text built from every shape's pieces the scan must find nothing then."""
    import random

    from flockwatch.text.secrets import ANY_SHAPE, may_hold_shape

    rnd = random.Random(5)
    pieces = ["-----BEGIN ", "RSA ", "PRIVATE KEY-----", "-----END PRIVATE KEY-----", "moltbook_", "sk_", "sk-",
              "ant-", "proj-", "rk_live_", "sk_live_", "ghp_", "gho_", "github_pat_", "xoxb-", "AKIA", "ASIA", "ABIA",
              "ACCA", "EXAMPLE", "aws_secret_access_key", "AWS_SECRET_ACCESS_KEY", "AIza", "eyJ", ".", "Password",
              "PASSWD", "pwd", "Secret", "TOKEN", "api_key", "API-KEY", "apikey", "private_key", "Private-Key",
              " = ", ": ", "=", "\"", "'", " ", "\n", "…", "Abc123xyz", "Q2f9ZpL0aVbN7mXrT4sKd8Wc", "0123456789",
              "hello", "world", "gh", "xo", "sk", "pw", "p4ssword"]
    shaped = 0
    for _ in range(20000):
        text = "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 9)))
        if ANY_SHAPE.search(text):
            shaped += 1
            assert may_hold_shape(text), text
    assert shaped > 1000  # the pieces do form secrets, so the check above is exercised
    assert not may_hold_shape("addressed_to_ai") and may_hold_shape("…")
