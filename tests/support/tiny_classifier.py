"""A real (if tiny) text classifier for testing the `classifier` rule type: a
multinomial naive Bayes over words, trained in the test and saved as JSON. The
rule type loads it through `load(path)` exactly as it would an operator's model."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

_WORD = re.compile(r"[a-z']+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def train(examples: list[tuple[str, int]], path: Path) -> Path:
    counts = {0: Counter(), 1: Counter()}
    docs = Counter()
    for text, label in examples:
        counts[label].update(_words(text))
        docs[label] += 1
    path.write_text(json.dumps({"counts": {str(k): dict(v) for k, v in counts.items()},
                                "docs": {str(k): v for k, v in docs.items()}}))
    return path


def load(path: str) -> Callable[[str], float]:
    model = json.loads(Path(path).read_text())
    counts = {int(k): Counter(v) for k, v in model["counts"].items()}
    docs = {int(k): v for k, v in model["docs"].items()}
    vocab = set(counts[0]) | set(counts[1])
    totals = {k: sum(c.values()) for k, c in counts.items()}

    def score(text: str) -> float:
        logp = {}
        for label in (0, 1):
            lp = math.log(docs[label] / sum(docs.values()))
            for w in _words(text):
                lp += math.log((counts[label][w] + 1) / (totals[label] + len(vocab)))
            logp[label] = lp
        top = max(logp.values())
        odds = {k: math.exp(v - top) for k, v in logp.items()}
        return odds[1] / (odds[0] + odds[1])

    return score
