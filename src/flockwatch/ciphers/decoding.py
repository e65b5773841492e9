"""What a decoder reports: one decoded span of a text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Decoding:
    cipher: str  # rot13 | caesar | atbash | reversed | substitution | vigenere | base64 | ...
    key: str | int | None  # shift, key word, substitution alphabet, "text"/"words", ...
    start: int  # character span of the encoded text in the scanned field
    end: int
    encoded: str
    plaintext: str
    whole: bool  # the span is (nearly) the whole field
    solved: bool = True  # False: recognised as enciphered, plaintext not recovered
    scores: dict[str, Any] = field(default_factory=dict)  # the statistics behind the call

    def evidence(self, max_chars: int = 500) -> dict[str, Any]:
        return {
            "cipher": self.cipher,
            "key": self.key,
            "span": [self.start, self.end],
            "whole": self.whole,
            "solved": self.solved,
            "encoded": self.encoded[:max_chars],
            "decoded": self.plaintext[:max_chars],
            "scores": {k: round(v, 3) if isinstance(v, float) else v for k, v in self.scores.items()},
        }
