"""Cue groups and the one RE2 pass that finds them all.

A cue group is a named set of patterns (per language) that signals one thing: a
request verb, a secret noun, an urgency phrase. `cue_score` rules weigh groups and
combinations of groups; many rules share groups, and every rule reads the same
normalised text. So every group pattern of every loaded rule is registered once in
a process-wide `CueBank`, compiled into one RE2 `Set`, and each event's text is
scanned once: the answer (which groups *may* match) is remembered for the next
rule that asks about the same text. A rule then confirms only the groups RE2
reported, with the `regex` module (timeouts, look-arounds), which also yields the
matched words for the alert's evidence.

RE2 sees a superset translation of each pattern (`rules.prefilter.to_re2`), so a
confirmed match is never missed; a pattern RE2 cannot take is refused at load time
rather than evaluated on every event.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import re2
import regex

from flockwatch.rules.prefilter import to_re2
from flockwatch.rules.redos import backtracking_problem
from flockwatch.text.leet import leet_tolerant

log = logging.getLogger(__name__)

_MAX_MEM = 256 << 20
_SNIP = 120


class CueError(ValueError):
    """A cue pattern cannot be used; the message says why."""


def _alternation(patterns: list[str]) -> str:
    return "(?:" + "|".join(f"(?:{p})" for p in patterns) + ")"


def check_cue_pattern(pattern: str) -> None:
    """Cue patterns match normalised text: lowercase, accents folded, ASCII."""
    bare = regex.sub(r"\\[pPN]\{[^}]*\}|\(\?P?<[^>]*>|\\.", "", pattern)
    bad = sorted({c for c in bare if c.isupper() or not c.isascii()})
    if bad:
        raise CueError(
            f"pattern {pattern!r} contains {''.join(bad)!r}: cue patterns match normalised text "
            "(lowercase, accents removed, e.g. 'precedentes' not 'Précédentes'), so these never match"
        )
    try:
        regex.compile(pattern, regex.V0)
    except regex.error as exc:
        raise CueError(f"pattern {pattern!r} does not compile: {exc}") from None
    problem = backtracking_problem(pattern)
    if problem:
        raise CueError(f"pattern {pattern!r}: catastrophic backtracking risk: {problem}")


class CueBank:
    """Every cue pattern of every loaded rule, scanned in one RE2 pass per text."""

    def __init__(self) -> None:
        self._slots: dict[str, int] = {}
        self._re2: list[str] = []
        self._set: re2.Set | None = None
        self._lock = threading.Lock()
        self._memo = threading.local()

    def __len__(self) -> int:
        return len(self._re2)

    def slot(self, source: str) -> int:
        """Register a `regex` pattern (already leet-widened); returns its slot."""
        with self._lock:
            if source in self._slots:
                return self._slots[source]
            translated = to_re2(source)
            if translated.pattern is None:
                raise CueError(translated.note)
            self._slots[source] = len(self._re2)
            self._re2.append(translated.pattern)
            self._set = None  # rebuilt on the next scan
            return self._slots[source]

    def _compiled(self) -> re2.Set:
        with self._lock:
            if self._set is None:
                opts = re2.Options()
                opts.max_mem = _MAX_MEM
                s = re2.Set.SearchSet(opts)
                for p in self._re2:
                    s.Add(p)
                s.Compile()
                self._set = s
            return self._set

    def scan(self, text: str) -> frozenset[int]:
        """Slots whose pattern may match `text`. The last answer is remembered: the
        rules of one event all ask about the very same string object."""
        memo = getattr(self._memo, "last", None)
        rset = self._compiled()
        if memo is not None and memo[0] is text and memo[1] is rset:
            return memo[2]
        hits = frozenset(rset.Match(text) or ()) if text else frozenset()
        self._memo.last = (text, rset, hits)
        return hits


BANK = CueBank()


@dataclass
class CueMatch:
    cue: str
    weight: float
    match: str
    lang: str = ""

    def as_evidence(self) -> dict[str, object]:
        out: dict[str, object] = {"cue": self.cue, "weight": self.weight, "match": self.match}
        if self.lang:
            out["lang"] = self.lang
        return out


def _snip(s: str) -> str:
    return s if len(s) <= _SNIP else s[: _SNIP - 1] + "…"


@dataclass
class CueGroup:
    """A named group of patterns, one alternation per language."""

    name: str
    weight: float
    sources: dict[str, str]  # language ("" when not split by language) -> leet-widened alternation
    slot: int = -1
    compiled: dict[str, regex.Pattern[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, name: str, weight: float, patterns: dict[str, list[str]], bank: CueBank) -> CueGroup:
        sources: dict[str, str] = {}
        for lang, items in patterns.items():
            for p in items:
                check_cue_pattern(p)
            sources[lang] = leet_tolerant(_alternation(items))
        group = cls(name, weight, sources)
        group.compiled = {lang: regex.compile(src, regex.V0) for lang, src in sources.items()}
        group.slot = bank.slot(group.source)
        return group

    @property
    def source(self) -> str:
        return _alternation(list(self.sources.values()))

    def search(self, text: str, timeout: float) -> CueMatch | None:
        for lang, pattern in self.compiled.items():
            m = pattern.search(text, timeout=timeout)
            if m is not None:
                return CueMatch(self.name, self.weight, _snip(m.group(0)), lang)
        return None


@dataclass
class NearCue:
    """Two groups within `within` words of each other, in one sentence (no newline or
    sentence-ending punctuation between them), in either order unless `ordered`."""

    name: str
    weight: float
    first: str
    second: str
    pattern: regex.Pattern[str]
    slot: int

    @classmethod
    def build(cls, name: str, weight: float, a: CueGroup, b: CueGroup, within: int, ordered: bool,
              bank: CueBank) -> NearCue:
        sep = r"(?:[^\w.!?\n]|\.(?=\w))+"  # a '.' inside "0.1" or "evil.example" is no sentence end
        gap = rf"(?:{sep}\w+){{0,{within}}}?{sep}"
        forward = f"{a.source}{gap}{b.source}"
        source = forward if ordered else f"(?:{forward}|{b.source}{gap}{a.source})"
        return cls(name, weight, a.name, b.name, regex.compile(source, regex.V0), bank.slot(source))

    def search(self, text: str, timeout: float) -> CueMatch | None:
        m = self.pattern.search(text, timeout=timeout)
        return CueMatch(self.name, self.weight, _snip(m.group(0))) if m is not None else None
