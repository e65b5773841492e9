"""One entry point for the `cipher` rule type: `CipherScanner(config).scan(text)`.

Order of work, cheapest first, so plain English costs one tokenisation and one set
difference:
1. encodings (base64, base32, hex, URL and backslash escapes) and leetspeak: each is
   gated by a character test or one regex search;
2. classical ciphers: candidate runs of unknown words (`spans.py`), then Caesar /
   ROT13 / Atbash / reversal judged by dictionary share and quadgram fitness
   (`classical.py`);
3. what is left of a long run that still looks enciphered: Vigenère when its index of
   coincidence is flat, monoalphabetic substitution when it is English-like
   (hill climb, `substitution.py`), both only past a letter count.
"""

from __future__ import annotations

import re

from flockwatch.ciphers import classical, encodings, leetspeak, substitution, vigenere
from flockwatch.ciphers.config import CLASSICAL, ScanConfig
from flockwatch.ciphers.decoding import Decoding
from flockwatch.ciphers.english import EnglishModel, english, index_of_coincidence, letter_counts, words_of
from flockwatch.ciphers.spans import Run, candidate_runs, tokenize


class CipherScanner:
    def __init__(self, config: ScanConfig, model: EnglishModel | None = None):
        self.config = config
        base = model or english()
        extra = frozenset(w.lower().encode() for w in config.extra_words)
        self.model = (
            EnglishModel(base.quadgrams, base.floor, base.vocab | extra) if extra else base
        )
        self.decoders = frozenset(config.decoders)
        self.classical = self.decoders & CLASSICAL
        self.encodings = self.decoders & encodings.DECODERS
        self.foreign = frozenset(w.lower().encode() for w in config.foreign_stopwords)
        self.ignore = [re.compile(p) for p in config.ignore_patterns]

    def scan(self, text: str) -> list[Decoding]:
        cfg = self.config
        if len(text) > cfg.max_chars:
            text = text[: cfg.max_chars]
        for pattern in self.ignore:  # blanked, same length, so offsets hold
            text = pattern.sub(lambda m: " " * len(m.group()), text)
        found: list[Decoding] = []
        if self.encodings:
            found.extend(encodings.find(text, self.encodings, cfg.encodings))
        if "leetspeak" in self.decoders:
            leet = leetspeak.find(text, cfg.leetspeak, self.model)
            if leet is not None:
                found.append(leet)
        if self.classical:
            found.extend(self._classical(text))
        return found

    # -- classical ciphers -------------------------------------------------------------

    def _classical(self, text: str) -> list[Decoding]:
        cfg, model = self.config, self.model
        sp = cfg.spans
        tokens = tokenize(text, model, sp.min_word_len)
        runs = candidate_runs(tokens, model, min_unknown=sp.min_unknown_words,
                              min_unknown_share=sp.min_unknown_share)
        if not runs:
            return []
        n_words = sum(1 for w in tokens.words if w.isalpha() and len(w) >= 2)
        out = []
        for run in runs:
            decoded = self._keyless(text, run, n_words)
            if decoded is None:
                start, end, whole = self._extent(text, run, 0, len(run.words) - 1, n_words)
                decoded = self._keyed(text, run, start, end, whole)
            if decoded is not None:
                out.append(decoded)
        return out

    def _extent(self, text: str, run: Run, first: int, last: int, n_words: int) -> tuple[int, int, bool]:
        """Character span of run words first..last; the whole text when they are
        nearly all of its words."""
        words = sum(1 for w in run.words[first : last + 1] if w.isalpha() and len(w) >= 2)
        whole = n_words > 0 and words / n_words >= self.config.spans.whole_text_share
        start, end = (0, len(text)) if whole else (run.offsets[first][0], run.offsets[last][1])
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if not whole:  # keep the run's closing punctuation: "... shaqf." decodes whole
            while end < len(text) and text[end] in ".!?,;:'\")":
                end += 1
        return start, end, whole

    def _keyless(self, text: str, run: Run, n_words: int) -> Decoding | None:
        acc, model = self.config.accept, self.model
        verdict = classical.judge(run.words, model, self.classical)
        if verdict is None or verdict.ratio < acc.min_word_ratio:
            return None
        if verdict.ratio - verdict.base_ratio < acc.min_ratio_gain:
            return None
        start, end, whole = self._extent(text, run, verdict.first, verdict.last, n_words)
        encoded = text[start:end]
        plaintext, key = classical.decode(encoded, verdict, model)
        plain_words = [w for w in words_of(plaintext) if w.isalpha()]
        if model.long_word_hits(plain_words) < acc.min_long_words:
            return None
        f0, f1 = model.fitness(encoded), model.fitness_words(plain_words)
        if f1 - f0 < acc.min_fitness_gain:
            return None
        return Decoding(
            verdict.cipher, key, start, end, encoded, plaintext, whole,
            scores={"word_ratio_before": verdict.base_ratio, "word_ratio_after": verdict.ratio,
                    "fitness_before": f0, "fitness_after": f1},
        )

    def _keyed(self, text: str, run: Run, start: int, end: int, whole: bool) -> Decoding | None:
        """Vigenère or substitution, for long runs whose statistics call for them."""
        if not ({"substitution", "vigenere"} & self.decoders):
            return None
        cfg, model = self.config, self.model
        encoded = text[start:end]
        letters = encoded.encode("ascii", "ignore").lower()
        counts = letter_counts(letters.decode())
        n = sum(counts)
        if n < min(cfg.substitution.min_letters, cfg.vigenere.min_letters):
            return None
        if self._looks_foreign(encoded, run.words, n):
            return None
        ratio = model.word_ratio(run.words)
        ioc = index_of_coincidence(counts)
        scores = {"letters": n, "ioc": ioc, "word_ratio_before": ratio}
        vs = cfg.vigenere
        if "vigenere" in self.decoders and n >= vs.min_letters and ioc <= vs.max_ioc and ratio <= vs.max_word_ratio:
            solved = vigenere.solve(encoded, model, vs)
            if solved is not None:
                key, plaintext, r = solved
                return Decoding("vigenere", key, start, end, encoded, plaintext, whole,
                                scores={**scores, "word_ratio_after": r})
        ss = cfg.substitution
        lo, hi = ss.ioc_range
        if ("substitution" in self.decoders and n >= ss.min_letters and lo <= ioc <= hi
                and ratio <= ss.max_word_ratio):
            key, plaintext, r, fit = substitution.solve(encoded, model, ss)
            scores = {**scores, "word_ratio_after": r, "fitness_after": fit}
            if r >= ss.accept_word_ratio:
                return Decoding("substitution", key, start, end, encoded, plaintext, whole, scores=scores)
            if ss.report_unsolved:
                return Decoding("substitution", None, start, end, encoded, encoded, whole,
                                solved=False, scores=scores)
        return None

    def _looks_foreign(self, encoded: str, words: list[bytes], letters: int) -> bool:
        """Another language, not a cipher: accented letters or its function words."""
        non_ascii = sum(1 for ch in encoded if ord(ch) > 127 and ch.isalpha())
        if non_ascii / (letters + non_ascii) > self.config.max_non_ascii_share:
            return True
        if self.foreign:
            alpha = [w for w in words if w.isalpha()]
            hits = sum(1 for w in alpha if w in self.foreign)
            if alpha and hits / len(alpha) > self.config.max_foreign_share:
                return True
        return False
