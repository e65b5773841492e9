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

from flockwatch.ciphers import atbash, caesar, classical, encodings, leetspeak, substitution, vigenere
from flockwatch.ciphers.config import CLASSICAL, ScanConfig
from flockwatch.ciphers.decoding import Decoding
from flockwatch.ciphers.english import EnglishModel, english, index_of_coincidence, letter_counts, words_of
from flockwatch.ciphers.spans import Run, Tokens, candidate_runs, tokenize


_VOWELS_Y = frozenset(b"aeiouy")


def _without_acronyms(text: str, run: Run) -> list[bytes]:
    """The run's words less short all-capitals tokens (BTC, ETH, LLM) when the run also
    has lower-case words: tickers and acronyms have no vowels to scramble."""
    spans = run.offsets[run.first : run.last + 1]
    caps = [text[a:b].isupper() and b - a <= 5 for a, b in spans]
    if all(caps):
        return run.words
    return [w for w, c in zip(run.words, caps) if not c]


def _has_word(s: str) -> bool:
    return any(len(w) >= 2 and w.isalpha() for w in words_of(s))


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
        # Built now, not on the first post judged (~40 ms and ~9 MB per rule load).
        self.shift_classes = classical.shift_classes(self.model.vocab) if "caesar" in self.classical else None
        self.encodings = self.decoders & encodings.DECODERS
        self.foreign = frozenset(w.lower().encode() for w in config.foreign_stopwords)
        self.ignore = [re.compile(p) for p in config.ignore_patterns]

    def scan(self, text: str, raw: bytes | None = None) -> list[Decoding]:
        """Decodings in `text`. `raw`, when given, is `text.encode("utf-8", "replace")`:
        the rules of a pack scan the same text, and encoding it is not free."""
        cfg = self.config
        original = text
        if len(text) > cfg.max_chars:
            text = text[: cfg.max_chars]
        for pattern in self.ignore:  # blanked, same length, so offsets hold
            text = pattern.sub(lambda m: " " * len(m.group()), text)
        if raw is None or text is not original:
            raw = text.encode("utf-8", "replace")
        found: list[Decoding] = []
        if self.encodings:
            found.extend(encodings.find(text, self.encodings, cfg.encodings, raw))
        if "leetspeak" in self.decoders:
            leet = leetspeak.find(text, cfg.leetspeak, self.model, raw)
            if leet is not None:
                found.append(leet)
        if self.classical:
            found.extend(self._classical(text, raw))
        return found

    # -- classical ciphers -------------------------------------------------------------

    def _classical(self, text: str, raw: bytes | None = None) -> list[Decoding]:
        cfg, model = self.config, self.model
        sp = cfg.spans
        tokens = tokenize(text, model, sp.min_word_len, sp.min_unknown_words, raw)
        if len(tokens.unknown) < sp.min_unknown_words:
            return []  # what candidate_runs would say first; most texts stop here
        runs = candidate_runs(tokens, model, min_unknown=sp.min_unknown_words,
                              min_unknown_share=sp.min_unknown_share)
        if not runs:
            return []
        out = []
        for run in runs:
            if self._foreign_words(run.words):
                continue  # a run of another language's words: no decoder will read it
            decoded = self._keyless(text, tokens, run)
            if decoded is None:
                decoded = self._keyed(text, tokens, run)
            if decoded is not None:
                out.append(decoded)
        return out

    def _extent(self, text: str, tokens: Tokens, first: int, last: int, run: Run) -> tuple[int, int, bool]:
        """Character span of tokens first..last, and whether they are (nearly) all the
        words of the text. A whole-text span, or one with nothing but punctuation,
        digits or symbols beyond it, reaches the text's edges."""
        words = sum(1 for w in tokens.words[first : last + 1] if w.isalpha() and len(w) >= 2)
        n_words = tokens.word_count()
        whole = n_words > 0 and words / n_words >= self.config.spans.whole_text_share
        start, end = run.offsets[first][0], run.offsets[last][1]
        if whole or not _has_word(text[:start]):
            start = 0
        if whole or not _has_word(text[end:]):
            end = len(text)
        else:  # keep the run's closing punctuation: "... shaqf." decodes whole
            while end < len(text) and text[end] in ".!?,;:'\")":
                end += 1
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        return start, end, whole

    def _keyless(self, text: str, tokens: Tokens, run: Run) -> Decoding | None:
        acc, model = self.config.accept, self.model
        verdict = classical.judge(run.words, model, self.classical, self.shift_classes)
        if verdict is None or verdict.ratio < acc.min_word_ratio:
            return None
        if verdict.ratio - verdict.base_ratio < acc.min_ratio_gain:
            return None
        # Grow the span over neighbouring words that decode to English: a plain word
        # next to the ciphertext ("Fellow agents: <rot13>") does not, so it stays out.
        first, last = run.first + verdict.first, run.first + verdict.last
        dec, vocab, words = classical.word_decoder(verdict), model.vocab, tokens.words
        while first > 0 and words[first - 1].isalpha() and dec(words[first - 1]) in vocab:
            first -= 1
        while last + 1 < len(words) and words[last + 1].isalpha() and dec(words[last + 1]) in vocab:
            last += 1
        start, end, whole = self._extent(text, tokens, first, last, run)
        if whole and _has_word(text[:run.offsets[first][0]] + " " + text[run.offsets[last][1]:]):
            start, end = run.offsets[first][0], run.offsets[last][1]  # plain words outside stay out
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

    def _keyed(self, text: str, tokens: Tokens, run: Run) -> Decoding | None:
        """Vigenère or substitution, for long runs whose statistics call for them."""
        if not ({"substitution", "vigenere"} & self.decoders):
            return None
        cfg, model = self.config, self.model
        # Letters of the run's words only: a long post with a short odd run is no
        # candidate (and the solvers' cost must be spent only where it can pay).
        run_letters = b"".join(w for w in run.words if w.isalpha())
        if len(run_letters) < min(cfg.substitution.min_letters, cfg.vigenere.min_letters):
            return None
        start, end, whole = self._extent(text, tokens, run.first, run.last, run)
        encoded = text[start:end]
        counts = letter_counts(encoded.encode("ascii", "ignore").lower().decode())
        n = sum(counts)
        if not self._scrambled(run.words) or not self._scrambled(_without_acronyms(text, run)):
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
                cipher, named_key = substitution.name_key(key)
                if cipher == "atbash":
                    plaintext = atbash.decode(encoded)
                elif cipher != "substitution":
                    assert isinstance(named_key, int)
                    plaintext = caesar.decode(encoded, named_key)
                return Decoding(cipher, named_key, start, end, encoded, plaintext, whole, scores=scores)
            if ss.report_unsolved:
                return Decoding("substitution", None, start, end, encoded, encoded, whole,
                                solved=False, scores=scores)
        return None

    def _scrambled(self, words: list[bytes]) -> bool:
        """Do the run's vowels look scrambled, as a keyed cipher leaves them?"""
        shape = self.config.shape
        alpha = [w for w in words if w.isalpha()]
        long_words = [w for w in alpha if len(w) >= 3]
        if long_words:
            vowelless = sum(1 for w in long_words if not _VOWELS_Y.intersection(w))
            if vowelless / len(long_words) >= shape.min_vowelless_share:
                return True
        letters = b"".join(alpha)
        if not letters:
            return False
        share = sum(letters.count(v) for v in b"aeiou") / len(letters)
        lo, hi = shape.vowel_share_range
        if not lo <= share <= hi:
            return True
        return sum(letters.count(c) for c in b"etaoinsr") / len(letters) < shape.max_common_share

    def _looks_foreign(self, encoded: str, words: list[bytes], letters: int) -> bool:
        """Another language, not a cipher: accented letters or its function words."""
        non_ascii = sum(1 for ch in encoded if ord(ch) > 127 and ch.isalpha())
        if non_ascii / (letters + non_ascii) > self.config.max_non_ascii_share:
            return True
        return self._foreign_words(words)

    def _foreign_words(self, words: list[bytes]) -> bool:
        """Rich in another language's function words (the `foreign_stopwords` allowlist)."""
        if not self.foreign:
            return False
        hits = sum(1 for w in words if w in self.foreign)
        return hits > 1 and hits / len(words) > self.config.max_foreign_share
