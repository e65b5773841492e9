"""The shapes of secrets that must never be stored or sent in the clear.

Used by redaction (`flockwatch.alerts.redact`), which every alert passes through,
and by the `seed_phrase` rule type. The credential-leak *rules* keep their own
patterns in YAML (so a safety team can tune them); a test checks that everything
those rules fire on is also redacted here.

Each shape says how much of a match may stay visible: the well-known prefix
(`moltbook_sk_`, `ghp_`, `AKIA`, ...) plus a couple of characters, enough for an
operator to recognise which kind of key leaked and to tell two leaks apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import regex

from mnemonic import Mnemonic


@dataclass(frozen=True)
class SecretShape:
    name: str
    pattern: regex.Pattern[str]
    visible: int  # characters of the match kept in the clear (prefix + a couple more)


def _shape(name: str, pattern: str, visible: int) -> SecretShape:
    return SecretShape(name, regex.compile(pattern), visible)


# Order matters: more specific shapes first (an Anthropic key also looks like `sk-...`).
SHAPES: tuple[SecretShape, ...] = (
    _shape("private_key", r"-----BEGIN [A-Z ]{0,20}PRIVATE KEY(?: BLOCK)?-----(?:.|\n){0,8000}?"
                          r"(?:-----END [A-Z ]{0,20}PRIVATE KEY(?: BLOCK)?-----|$)", 0),
    _shape("moltbook_key", r"\bmoltbook_(?:sk_)?[A-Za-z0-9_-]{16,}", 0),
    _shape("anthropic_key", r"\bsk-ant-[A-Za-z0-9_-]{20,}", 9),
    _shape("openai_key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}", 0),
    _shape("stripe_key", r"\b[rs]k_live_[A-Za-z0-9]{16,}", 10),
    _shape("github_token", r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})", 0),
    _shape("slack_token", r"\bxox[abposr]-[A-Za-z0-9-]{10,}", 7),
    _shape("aws_access_key_id", r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b", 6),
    _shape("aws_secret_key", r"(?<=(?i:aws_secret_access_key)[\"']?\s{0,3}[:=]\s{0,3}[\"']?)[A-Za-z0-9/+=]{40}", 2),
    _shape("google_api_key", r"\bAIza[0-9A-Za-z_-]{35}", 6),
    _shape("jwt", r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", 6),
    # `password = hunter2-but-longer`: the value only, the name stays readable.
    _shape("assigned_secret", r"(?<=\b(?i:password|passwd|pwd|secret|token|api[_-]?key|private[_-]?key)"
                              r"[\"']?\s{0,3}[:=]\s{0,3}[\"']?)(?![\"'<{$]|(?i:your|xxx)|\*{3})[^\s\"'<>{}]{8,}", 2),
    # A bare 64-hex-digit string: a raw secp256k1/ed25519 private key when posted as
    # one (leak.hex_private_key). Not inside a URL, a `tx:` reference or an `a:b` id,
    # so transaction hashes in sample texts mostly stay readable.
    _shape("hex_key", r"(?<![\w/:.])(?<![Tt][Xx]: )(?<![Tt][Xx] )(?:0x)?[0-9a-fA-F]{64}(?![\w/])", 4),
    # A known-prefix key cut short by an evidence snippet (`moltbook_sk_Abc…`).
    _shape("truncated_key", r"\b(?:moltbook_(?:sk_)?|sk-|gh[pousr]_|github_pat_|xox[abposr]-|AKIA|eyJ)"
                            r"[A-Za-z0-9_.-]{2,}(?=…(?!#[0-9a-f]{6}))", 0),  # (…#hash: already redacted)
)

# Prefix kept visible for shapes with visible == 0: the literal key prefix + 2 chars.
_PREFIX = regex.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY(?: BLOCK)?-----|moltbook_(?:sk_)?|sk-(?:proj-|svcacct-|admin-)?"
                     r"|gh[pousr]_|github_pat_|xox[abposr]-|eyJ")


# All shapes as one alternation, so text is scanned once and a replacement is never
# scanned again (a redacted `moltbook_sk_Ab…` must not look like a truncated key).
ANY_SHAPE = regex.compile("|".join(f"(?P<{s.name}>{s.pattern.pattern})" for s in SHAPES))
SHAPE_BY_NAME = {s.name: s for s in SHAPES}

# A literal every match of some shape contains (the names an assigned secret follows
# case-insensitively). ANY_SHAPE costs ~0.4 us per character (look-behinds tried at
# every position), and almost no string of an alert's evidence holds any of these:
# on ASCII text one `re` pass says so. (Only ASCII: `regex` and `re` need not agree
# on which other characters match a letter case-insensitively.) Keep in step with
# SHAPES; a test checks the two agree on shaped and random text.
SHAPE_LITERALS = re.compile(r"-----BEGIN|moltbook_|sk-|k_live_|gh[pousr]_|github_pat_|xox|AKIA|ASIA|ABIA|ACCA|AIza"
                            r"|eyJ|(?i:aws_secret_access_key|passw|pwd|secret|token|api|private)")


# hex_key has no literal: 64 hex digits in a row are what every match contains.
HEX_RUN = re.compile(r"[0-9a-fA-F]{64}")


def may_hold_shape(text: str) -> bool:
    """False only if no shape of SHAPES can match `text`."""
    return (not text.isascii() or SHAPE_LITERALS.search(text) is not None
            or HEX_RUN.search(text) is not None)


def visible_prefix(shape: SecretShape, secret: str) -> str:
    if shape.name == "private_key":
        m = _PREFIX.match(secret)
        return m.group(0) if m else ""
    if shape.visible:
        return secret[: shape.visible]
    m = _PREFIX.match(secret)
    return secret[: (m.end() if m else 0) + 2]


# ---- seed phrases ---------------------------------------------------------------
SEED_LANGUAGES = ("english", "spanish", "french", "italian")
MIN_SEED_WORDS = 12
_WORD = regex.compile(r"[a-zA-Z\u00c0-\u024f]+")
# Between two words of a phrase: spaces, commas, or list numbering ("1. abandon 2. ability").
_SEED_GAP = regex.compile(r"[\s,;]*(?:\d{1,2}[.):-]?\s*)?")


@lru_cache(maxsize=1)
def seed_words() -> frozenset[str]:
    """Every BIP-39 word of the languages seed phrases on the platform use."""
    words: set[str] = set()
    for lang in SEED_LANGUAGES:
        words.update(Mnemonic(lang).wordlist)
    return frozenset(words)


def may_hold_seed_phrase(text: str, min_words: int = MIN_SEED_WORDS) -> bool:
    """False if `text` has no `min_words` consecutive BIP-39 words, whatever lies
    between them: then `find_seed_phrases` finds nothing. Token membership at C speed
    (a list comprehension and a bytes search) rules out almost every text for a
    fraction of what the exact walk below costs."""
    words = seed_words()
    in_list = bytes([token.lower() in words for token in _WORD.findall(text)])
    return b"\x01" * min_words in in_list


def find_seed_phrases(text: str, min_words: int = MIN_SEED_WORDS) -> list[tuple[int, int, int]]:
    """(start, end, word count) of every run of at least `min_words` BIP-39 words."""
    return _seed_runs(text, min_words) if may_hold_seed_phrase(text, min_words) else []


def _seed_runs(text: str, min_words: int) -> list[tuple[int, int, int]]:
    words = seed_words()
    runs: list[tuple[int, int, int]] = []
    start = end = -1
    count = 0
    for m in _WORD.finditer(text):
        token = m.group(0).lower()
        joined = count and _SEED_GAP.fullmatch(text, end, m.start()) is not None
        if token in words and (joined or not count):
            if not count:
                start = m.start()
            count += 1
            end = m.end()
            continue
        if count >= min_words:
            runs.append((start, end, count))
        count = 0
        if token in words:
            start, end, count = m.start(), m.end(), 1
    if count >= min_words:
        runs.append((start, end, count))
    return runs
