#!/usr/bin/env python3
"""Build the English statistics tables the cipher detectors ship with.

Sources (both redistributable, both installable from Debian by package name):

- Word list: SCOWL size 50 as packaged by Debian `wamerican`
  (/usr/share/dict/american-english). Copyright 2000-2011 Kevin Atkinson, permissive
  licence (use, copy, modify, distribute and sell, notice kept: see the header written
  into the output file). Lower-case alphabetic entries only: proper nouns and
  possessives are dropped because they add short random "words" that would make
  gibberish look English.
- Running text for the quadgram table: Ambrose Bierce, "The Devil's Dictionary"
  (1911), public domain, as packaged by Debian `dict-devil`
  (/usr/share/dictd/devil.dict.dz).

The letter frequencies are not built here: they are the well-known published English
table (see `flockwatch.ciphers.english`).

Nothing here reads ../shared/data: the shipped tables must not depend on corpora whose
licences do not allow redistribution.

Run:  apt-get install wamerican dict-devil && python scripts/build_cipher_tables.py
"""

from __future__ import annotations

import gzip
import re
import sys
from collections import Counter
from pathlib import Path

WORDS_SRC = Path("/usr/share/dict/american-english")
DEVIL_SRC = Path("/usr/share/dictd/devil.dict.dz")
OUT = Path(__file__).resolve().parents[1] / "src" / "flockwatch" / "ciphers" / "data"

# Two-letter entries in SCOWL include many abbreviations (cc, cf, dz, ...). Only these
# real two-letter words count as English: a random two-letter string is too often one.
TWO_LETTER = set(
    "ad ah am an as at aw ax ay be by do eh ex go ha he hi ho id if in is it la lo ma me "
    "my no of oh ok on or ow ox pa pi re so to uh um up us we ye yo".split()
)
# Fragments left when contractions are split at the apostrophe, and a few words of
# the platform's everyday register that SCOWL 50 lacks (hand-written, not derived).
EXTRA = set(
    "don isn doesn didn wasn weren aren couldn wouldn shouldn hasn haven hadn won ll ve "
    "api apis ai ais llm llms crypto github json yaml http https url urls ui ux dm dms "
    "lol pls thx btw imo tbh fyi omg okay emoji emojis app apps blog repo repos".split()
)
# Quadgrams seen fewer times than this are left out; the scorer's floor covers them.
MIN_QUADGRAM_COUNT = 2

LICENCE_WORDS = """\
# English word list for flockwatch cipher detection.
# Derived from SCOWL size 50 (Debian package wamerican), lower-case entries only,
# plus a short hand-written list (see scripts/build_cipher_tables.py).
# SCOWL: Copyright 2000-2011 by Kevin Atkinson.
# Permission to use, copy, modify, distribute and sell these word lists, the
# associated scripts, the output created from the scripts, and its documentation for
# any purpose is hereby granted without fee, provided that the above copyright notice
# appears in all copies and that both that copyright notice and this permission notice
# appear in supporting documentation. Kevin Atkinson makes no representations about
# the suitability of this array for any purpose. It is provided "as is" without
# express or implied warranty.
"""

LICENCE_QUADGRAMS = """\
# English quadgram counts (alphabet a-z plus space) for flockwatch cipher detection.
# Counted over Ambrose Bierce, "The Devil's Dictionary" (1911), a public-domain text
# (Debian package dict-devil). Built by scripts/build_cipher_tables.py.
# Format: quadgram<TAB>count; the first data line is the total count.
"""


def words() -> list[str]:
    out = set()
    for line in WORDS_SRC.read_text(encoding="utf-8").splitlines():
        w = line.strip()
        if not re.fullmatch(r"[a-z]+", w):
            continue
        if len(w) == 2 and w not in TWO_LETTER:
            continue
        if len(w) == 1 and w not in ("a", "i"):
            continue
        out.add(w)
    return sorted(out | EXTRA)


def quadgrams() -> tuple[int, Counter[str]]:
    raw = gzip.decompress(DEVIL_SRC.read_bytes()).decode("utf-8", "replace")
    body = raw.split("PREFACE", 1)[-1]  # skip the dictd/Wiretap header
    text = " " + " ".join(re.sub(r"[^a-z]+", " ", body.lower()).split()) + " "
    counts: Counter[str] = Counter(text[i : i + 4] for i in range(len(text) - 3))
    return sum(counts.values()), counts


def main() -> int:
    for src, pkg in ((WORDS_SRC, "wamerican"), (DEVIL_SRC, "dict-devil")):
        if not src.exists():
            print(f"missing {src}: apt-get install {pkg}", file=sys.stderr)
            return 1
    OUT.mkdir(parents=True, exist_ok=True)
    wl = words()
    (OUT / "english_words.txt").write_text(LICENCE_WORDS + "\n".join(wl) + "\n", encoding="utf-8")
    total, counts = quadgrams()
    kept = sorted((q, c) for q, c in counts.items() if c >= MIN_QUADGRAM_COUNT)
    lines = [f"{q}\t{c}" for q, c in kept]
    (OUT / "english_quadgrams.tsv").write_text(
        LICENCE_QUADGRAMS + f"total\t{total}\n" + "\n".join(lines) + "\n", encoding="utf-8"
    )
    print(f"{len(wl)} words, {len(kept)} quadgrams kept of {len(counts)} ({total} counted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
