"""Settings of a `cipher` rule, read from the rule's YAML. Every threshold and allowlist
lives here with its default; a rule overrides what it needs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Decoder = Literal[
    "caesar", "atbash", "reversed", "substitution", "vigenere",
    "base64", "base32", "hex", "url", "escapes", "leetspeak",
]
CLASSICAL: frozenset[str] = frozenset({"caesar", "atbash", "reversed", "substitution", "vigenere"})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SpanSettings(_Section):
    min_word_len: int = Field(3, ge=2, description="letters an unknown word needs to count")
    min_unknown_words: int = Field(4, ge=2, description="unknown words a candidate run needs")
    min_unknown_share: float = Field(0.6, gt=0, le=1, description="unknown / (unknown + English) in a run")
    whole_text_share: float = Field(0.8, gt=0, le=1, description="a run with this share of the words is the whole text")


class AcceptSettings(_Section):
    """When a Caesar / Atbash / reversal decoding is believed."""

    min_word_ratio: float = Field(0.6, ge=0, le=1, description="dictionary share of the decoded letters")
    min_ratio_gain: float = Field(0.35, ge=0, le=1, description="...above that of the encoded text")
    min_fitness_gain: float = Field(0.5, ge=0, description="quadgram fitness gain per character")
    min_long_words: int = Field(2, ge=0, description="decoded dictionary words of 4+ letters")


class ShapeSettings(_Section):
    """Natural languages spread vowels through every word, keep a ~38% share of them,
    and spend about 60% of their letters on e t a o i n s r; a substitution or
    polyalphabetic cipher scrambles all three. The solvers only run on runs whose
    shape says so (cheap, and it keeps real foreign text out)."""

    min_vowelless_share: float = Field(0.2, ge=0, le=1, description="share of 3+ letter words with no aeiouy")
    vowel_share_range: tuple[float, float] = (0.32, 0.52)  # aeiou share outside this range also counts
    max_common_share: float = Field(0.5, ge=0, le=1, description="share of e t a o i n s r below which letters look scrambled")


class SubstitutionSettings(_Section):
    min_letters: int = Field(80, ge=20)
    ioc_range: tuple[float, float] = (0.045, 0.1)  # monoalphabetic keeps English's 0.066 (short texts vary)
    max_word_ratio: float = Field(0.2, ge=0, le=1, description="skip text already this English")
    restarts: int = Field(40, ge=1, le=200, description="climbs from different starting keys")
    word_weight: float = Field(1.0, ge=0, description="weight of the dictionary share in the climb's score")
    max_sweeps: int = Field(40, ge=1)
    accept_word_ratio: float = Field(0.7, ge=0, le=1)
    report_unsolved: bool = False
    seed: int = 1


class VigenereSettings(_Section):
    min_letters: int = Field(60, ge=20)
    max_ioc: float = Field(0.052, gt=0, description="polyalphabetic text is flatter than English")
    max_period: int = Field(12, ge=2, le=40)
    min_period_ioc: float = Field(0.05, gt=0, description="mean column IoC a candidate period needs")
    max_word_ratio: float = Field(0.2, ge=0, le=1)
    accept_word_ratio: float = Field(0.7, ge=0, le=1)


class EncodingSettings(_Section):
    min_encoded_chars: int = Field(16, ge=4, description="shortest base64/base32/hex run examined")
    min_decoded_chars: int = Field(10, ge=1)
    min_decoded_words: int = Field(2, ge=0, description="alphabetic words of 2+ letters in the decoded text")
    min_printable: float = Field(0.95, gt=0, le=1)
    min_escapes: int = Field(4, ge=1, description="%XX or \\uXXXX escapes a run needs")
    escapes_ascii_only: bool = Field(True, description="only flag escapes that hide ASCII (JSON escapes non-ASCII)")
    skip_urls: bool = Field(True, description="percent-escapes inside URLs are normal")


class LeetSettings(_Section):
    min_words: int = Field(3, ge=1, description="leet words that decode to dictionary words")
    min_word_len: int = Field(3, ge=2)
    min_share: float = Field(0.3, ge=0, le=1, description="leet words / words from the first leet word to the last")


class ScanConfig(_Section):
    decoders: list[Decoder] = Field(min_length=1)
    fields: list[Literal["title", "text"]] = ["title", "text"]
    min_letters: int = Field(12, ge=1, description="fields shorter than this (characters) are skipped")
    max_chars: int = Field(20000, ge=100, description="longer fields are examined up to this length")
    spans: SpanSettings = SpanSettings()
    accept: AcceptSettings = AcceptSettings()
    substitution: SubstitutionSettings = SubstitutionSettings()
    vigenere: VigenereSettings = VigenereSettings()
    shape: ShapeSettings = ShapeSettings()
    encodings: EncodingSettings = EncodingSettings()
    leetspeak: LeetSettings = LeetSettings()
    # Allowlists
    extra_words: list[str] = Field(default_factory=list, description="counted as English (jargon, names)")
    foreign_stopwords: list[str] = Field(
        default_factory=list, description="function words of other languages: text rich in them is not enciphered")
    max_foreign_share: float = Field(0.1, ge=0, le=1, description="share of foreign stopwords that marks a language")
    max_non_ascii_share: float = Field(0.03, ge=0, le=1, description="share of non-ASCII letters that marks a language")
    ignore_patterns: list[str] = Field(default_factory=list, description="regexes whose matches are never examined")

    @model_validator(mode="after")
    def _unique(self) -> ScanConfig:
        if len(set(self.decoders)) != len(self.decoders):
            raise ValueError("decoders: each decoder at most once")
        return self
