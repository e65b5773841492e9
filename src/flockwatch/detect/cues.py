"""Cue groups and the one RE2 pass that finds them all.

A cue group is a named set of patterns (per language) that signals one thing: a
request verb, a secret noun, an urgency phrase. `cue_score` rules weigh groups and
combinations of groups; many rules share groups, and every rule reads the same
normalised text. So every group of every loaded rule is registered once in a
process-wide `CueBank` whose RE2 `Set` holds the literals each group's matches must
contain (`cue_re2.cue_hint`); each event's text is scanned once and the answer
(which groups *may* match) is remembered for the next rule that asks. A rule then
confirms only the groups RE2 reported, each with its own small RE2 regex (or, for
the few patterns with look-arounds, the `regex` module with a timeout), which also
yields the matched words for the alert's evidence.

RE2 sees a superset translation of each pattern over a Latin-1 projection of the
text (`cue_re2`), so a confirmed match is never missed; a pattern RE2 cannot take
is refused at load time rather than evaluated on every event. Leetspeak: the
`regex` side uses leet-widened patterns (`text.leet`); the RE2 side scans the
plain projection and, when the text has letters and leet digits side by side, also
a leet-folded copy (a byte `translate`), which keeps the DFA small.

The same Set pass answers two questions that are not groups: does the text look
leet (slot 0), and does it have spaced-out letters for `normalize` to join (slot 1,
`scan_normalising`). The engine asks the bank once per event, through
`cue_score.CueScreen`, and calls only the rules its hits allow. Groups declaring
the same patterns (in any rule) share one `_GroupMatcher`, which answers each
confirmation once per text.
"""

from __future__ import annotations

import codecs
import logging
import threading
from dataclasses import dataclass

import re2
import regex

from flockwatch.detect.cue_re2 import CueTranslationError, cue_hint, cue_to_re2
from flockwatch.rules.redos import backtracking_problem
from flockwatch.text.leet import leet_tolerant
from flockwatch.text.normalize import SPACED_HINT_LATIN1, join_spaced
from flockwatch.text.re2_bytes import all_spans, first_span

log = logging.getLogger(__name__)

_MAX_MEM = 256 << 20
_SNIP = 120


def _latin1_options() -> re2.Options:
    opts = re2.Options()
    opts.max_mem = _MAX_MEM
    opts.encoding = re2.Options.Encoding.LATIN1
    return opts


# A letter next to a digit or symbol used as a letter: worth a leet-folded rescan.
# Letters g-z only next to digits, so hex (wallet addresses, hashes) does not count.
# It is the bank Set's slot 0, so the same pass answers it.
_LEET_HINT = rb"[g-z][0134578]|[0134578][g-z]|[a-z][@$!|][a-z]"
_LEET_SLOT = 0
_SPACED_SLOT = 1  # normalize's spaced-letters hint: also answered by the bank's pass
_FOLD_I = bytes.maketrans(b"0134578@$!|+9", b"oieastbasiitg")
_FOLD_L = bytes.maketrans(b"0134578@$!|+9", b"oleastbasiltg")


def _beyond_latin1(exc: UnicodeError) -> tuple[str, int]:
    assert isinstance(exc, UnicodeEncodeError)
    return "\x80" * (exc.end - exc.start), exc.end


# The encoder calls this once per run of characters Latin-1 lacks (and lone
# surrogates): half the cost of finding the runs with a regex first.
codecs.register_error("flockwatch.beyond_latin1", _beyond_latin1)


def project(text: str) -> bytes:
    """The Latin-1 projection the bank scans (non-Latin-1 characters -> 0x80)."""
    if text.isascii():
        return text.encode("ascii")
    if "?" not in text:
        # "replace" puts one '?' per character Latin-1 lacks, at C speed; with no
        # '?' of its own in the text, each '?' is one of those
        return text.encode("latin-1", "replace").replace(b"?", b"\x80")
    return text.encode("latin-1", "flockwatch.beyond_latin1")


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


@dataclass(frozen=True)
class TextViews:
    """What the bank scanned for one text: the normalised string and its Latin-1
    projections (plain, then leet-folded ones when the text looks leet)."""

    text: str
    views: tuple[bytes, ...]


class CueBank:
    """Every cue group of every loaded rule, scanned in one RE2 pass per text."""

    def __init__(self) -> None:
        self._slots: dict[str, int] = {}
        self._re2: list[bytes] = [_LEET_HINT, SPACED_HINT_LATIN1]  # slots 0 and 1: never a group
        self._set: re2.Set | None = None
        self._lock = threading.Lock()
        self._memo = threading.local()

    def __len__(self) -> int:
        return len(self._re2) - 2

    def slot(self, patterns: list[str]) -> int:
        """Register a cue group's patterns (plain, not leet-widened); returns its slot.
        The bank keeps each pattern's literal hint (`cue_re2.cue_hint`), a superset."""
        source = "\x00".join(patterns)
        with self._lock:
            if source in self._slots:
                return self._slots[source]
            try:
                translated = "|".join(cue_hint(p) for p in patterns).encode("latin-1")
                re2.compile(translated, _latin1_options())
            except (CueTranslationError, re2.error, UnicodeEncodeError) as exc:
                raise CueError(f"patterns {patterns!r:.120} cannot be scanned by RE2: {exc}") from None
            self._slots[source] = len(self._re2)
            self._re2.append(translated)
            self._set = None  # rebuilt on the next scan
            return self._slots[source]

    def _compiled(self) -> re2.Set:
        compiled = self._set
        if compiled is not None:
            return compiled  # the common case: no lock needed to read a built Set
        with self._lock:
            if self._set is None:
                s = re2.Set.SearchSet(_latin1_options())
                for p in self._re2:
                    s.Add(p)
                s.Compile()
                self._set = s
            return self._set

    def _scan(self, text: str, rset: re2.Set) -> tuple[frozenset[int], TextViews, bool]:
        """Group slots hit, views, and whether the spaced-letters hint matched the
        plain projection (the leet-folded views must not count for that)."""
        match = rset._set.Match  # the raw Set: the wrapper's dispatch costs as much as a short scan
        data = project(text)
        found = match(data)
        spaced = _SPACED_SLOT in found
        if _LEET_SLOT in found:
            views = [data, data.translate(_FOLD_I)]
            if b"1" in data or b"|" in data:
                views.append(data.translate(_FOLD_L))
            hits = set(found)
            for view in views[1:]:
                hits.update(match(view))
            hits.discard(_LEET_SLOT)
            hits.discard(_SPACED_SLOT)
            return frozenset(hits), TextViews(text, tuple(views)), spaced
        frozen = frozenset(found)
        return (frozen - {_SPACED_SLOT} if spaced else frozen), TextViews(text, (data,)), spaced

    def scan(self, text: str) -> tuple[frozenset[int], TextViews]:
        """Slots whose group may match `text`, and the views to confirm them on. The
        last answer is remembered: the rules of one event ask about the same string."""
        memo = getattr(self._memo, "last", None)
        rset = self._compiled()
        if memo is not None and memo[0] is text and memo[1] is rset:
            return memo[2], memo[3]
        if not text:
            frozen, tv = frozenset(), TextViews(text, ())
        else:
            frozen, tv, _ = self._scan(text, rset)
        self._memo.last = (text, rset, frozen, tv)
        return frozen, tv

    def scan_normalising(self, folded: str) -> tuple[frozenset[int], TextViews]:
        """`scan(normalize(x))` given `folded = text.normalize.fold(x)`, non-empty: the
        pass over `folded` also tests the spaced-letters hint, and only when it
        matches (and joining changes the text) is the joined text scanned again. The
        common text costs one RE2 pass instead of two. `tv.text` is the normalised text."""
        memo = getattr(self._memo, "last", None)
        rset = self._compiled()
        if memo is not None and memo[0] is folded and memo[1] is rset:
            return memo[2], memo[3]  # (remembered only when folded is the normalised text)
        frozen, tv, spaced = self._scan(folded, rset)
        if spaced:
            joined = join_spaced(folded)
            if joined != folded:
                return self.scan(joined)
        self._memo.last = (folded, rset, frozen, tv)
        return frozen, tv


BANK = CueBank()

_LOOKAROUND = ("(?=", "(?!", "(?<=", "(?<!", "(?>")


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
class _LangMatcher:
    """One language's patterns: an RE2 regex for those RE2 can run exactly (on the
    projections; leet via the folded views) and a leet-widened `regex` for the few
    with look-arounds (on the normalised string)."""

    exact: re2._Regexp | None
    fallback: regex.Pattern[str] | None
    # The fallback's own RE2 translation (look-arounds dropped, so a superset) over the
    # plain projection of the same text: where it finds nothing, the `regex` search,
    # ten times slower on a long post, cannot find anything either.
    fallback_hint: re2._Regexp | None = None

    def _fallback_possible(self, tv: TextViews) -> bool:
        return self.fallback_hint is None or not tv.views or first_span(self.fallback_hint, tv.views[0]) is not None

    def spans(self, tv: TextViews, timeout: float, first_only: bool, exact: bool = True) -> list[tuple[int, int]]:
        """`exact=False`: the caller knows the exact patterns match nowhere."""
        out: list[tuple[int, int]] = []
        if exact and self.exact is not None:
            for view in tv.views:
                if first_only:
                    span = first_span(self.exact, view)
                    if span is not None:
                        return [span]
                else:
                    out.extend(all_spans(self.exact, view))
        if self.fallback is not None and self._fallback_possible(tv):
            if first_only:
                m = self.fallback.search(tv.text, timeout=timeout)
                return [m.span()] if m is not None else out
            out.extend(m.span() for m in self.fallback.finditer(tv.text, timeout=timeout))
        return sorted(set(out))


class _Last(threading.local):
    tv: TextViews | None = None
    first: tuple[str, tuple[int, int]] | None = None
    has_first = False
    spans: list[tuple[int, int]] | None = None


def _exact_re2(patterns: list[str]) -> re2._Regexp:
    return re2.compile("|".join(f"(?:{cue_to_re2(p)})" for p in patterns).encode("latin-1"), _latin1_options())


class _GroupMatcher:
    """The per-language matchers of one set of patterns. Shared by every cue group,
    of any rule, that declares the same patterns per language (`warning_frame`,
    `destination`... recur across a pack), and answering each question once per
    text: every rule of an event reads the same `TextViews`."""

    def __init__(self, patterns: dict[str, list[str]]):
        self.langs: dict[str, _LangMatcher] = {}
        exact_all: list[str] = []
        for lang, items in patterns.items():
            for p in items:
                check_cue_pattern(p)
            exact = [p for p in items if not any(tok in p for tok in _LOOKAROUND)]
            rest = [p for p in items if p not in exact]
            try:
                compiled = _exact_re2(exact) if exact else None
            except (CueTranslationError, re2.error) as exc:
                raise CueError(f"{lang}: {exc}") from None
            fallback = regex.compile(leet_tolerant(_alternation(rest)), regex.V0) if rest else None
            try:
                # leet-widened, like the fallback itself: it runs on the plain projection
                fallback_hint = _exact_re2([leet_tolerant(_alternation(rest))]) if rest else None
            except (CueTranslationError, re2.error):
                fallback_hint = None  # no shortcut: the fallback runs as it always did
            self.langs[lang] = _LangMatcher(compiled, fallback, fallback_hint)
            exact_all.extend(exact)
        # Every language's exact patterns in one regex: most confirmations fail, and
        # one scan then answers for all languages at once instead of one per language.
        several = sum(m.exact is not None for m in self.langs.values()) > 1
        self.any_exact = _exact_re2(exact_all) if several else None
        self._last = _Last()

    def _exact_possible(self, tv: TextViews) -> bool:
        return self.any_exact is None or any(first_span(self.any_exact, v) is not None for v in tv.views)

    def _memo(self, tv: TextViews) -> _Last:
        last = self._last
        if last.tv is not tv:
            last.tv, last.has_first, last.first, last.spans = tv, False, None, None
        return last

    def first(self, tv: TextViews, timeout: float) -> tuple[str, tuple[int, int]] | None:
        """The first language (in declaration order) with a match, and its first span."""
        last = self._memo(tv)
        if not last.has_first:
            found: tuple[str, tuple[int, int]] | None = None
            exact = self._exact_possible(tv)
            for lang, matcher in self.langs.items():
                spans = matcher.spans(tv, timeout, first_only=True, exact=exact)
                if spans:
                    found = (lang, spans[0])
                    break
            last.first, last.has_first = found, True
        return last.first

    def spans(self, tv: TextViews, timeout: float) -> list[tuple[int, int]]:
        last = self._memo(tv)
        if last.spans is None:
            exact = self._exact_possible(tv)
            out: list[tuple[int, int]] = []
            for matcher in self.langs.values():
                out.extend(matcher.spans(tv, timeout, first_only=False, exact=exact))
            last.spans = sorted(set(out))[:_MAX_SPANS]
        return last.spans


_MATCHERS: dict[tuple[tuple[str, tuple[str, ...]], ...], _GroupMatcher] = {}
_MATCHERS_LOCK = threading.Lock()


def _matcher_for(patterns: dict[str, list[str]]) -> _GroupMatcher:
    key = tuple((lang, tuple(items)) for lang, items in patterns.items())
    with _MATCHERS_LOCK:
        if key not in _MATCHERS:
            _MATCHERS[key] = _GroupMatcher(patterns)
        return _MATCHERS[key]


@dataclass
class CueGroup:
    """A named group of patterns, one matcher per language."""

    name: str
    weight: float
    matcher: _GroupMatcher | None = None
    slot: int = -1

    @property
    def langs(self) -> dict[str, _LangMatcher]:
        return self.matcher.langs if self.matcher is not None else {}

    @classmethod
    def build(cls, name: str, weight: float, patterns: dict[str, list[str]], bank: CueBank) -> CueGroup:
        group = cls(name, weight, _matcher_for(patterns))
        group.slot = bank.slot([p for items in patterns.values() for p in items])
        return group

    def search(self, tv: TextViews, timeout: float) -> CueMatch | None:
        found = self.matcher.first(tv, timeout) if self.matcher is not None else None
        if found is None:
            return None
        lang, (start, end) = found
        return CueMatch(self.name, self.weight, _snip(tv.text[start:end]), lang)

    def spans(self, tv: TextViews, timeout: float) -> list[tuple[int, int]]:
        return self.matcher.spans(tv, timeout) if self.matcher is not None else []


# Between the two halves of a near pair: no newline and no sentence end ('.', '!' or
# '?' not followed by a word character: "0.1 eth" and "evil.example" stay one sentence).
_SENTENCE_END = regex.compile(r"\n|[!?]|\.(?!\w)")
_MAX_WORD_CHARS = 40  # a gap longer than this per allowed word cannot qualify
_MAX_SPANS = 64  # matches per group considered for near pairs: bounds a hostile text
_WORD = regex.compile(r"\w+")


@dataclass
class NearCue:
    """Two groups within `within` words of each other, in one sentence, in either
    order unless `ordered`. Not in the RE2 bank: it is a candidate exactly when both
    its groups are, and it is confirmed from the groups' match positions."""

    name: str
    weight: float
    first: CueGroup
    second: CueGroup
    within: int
    ordered: bool

    def candidate(self, hits: frozenset[int]) -> bool:
        return self.first.slot in hits and self.second.slot in hits

    @classmethod
    def build(cls, name: str, weight: float, a: CueGroup, b: CueGroup, within: int, ordered: bool) -> NearCue:
        return cls(name, weight, a, b, within, ordered)

    def _close(self, text: str, left: tuple[int, int], right: tuple[int, int]) -> bool:
        if left[1] > right[0] or right[0] - left[1] > _MAX_WORD_CHARS * (self.within + 1):
            return False  # overlapping, or too far apart to be `within` words
        gap = text[left[1] : right[0]]
        if not gap or gap[0].isalnum() or gap[-1].isalnum():
            return False  # glued into one word
        return _SENTENCE_END.search(gap) is None and len(_WORD.findall(gap)) <= self.within

    def search(self, tv: TextViews, timeout: float) -> CueMatch | None:
        firsts = self.first.spans(tv, timeout)
        seconds = self.second.spans(tv, timeout) if firsts else []
        for a in firsts:
            for b in seconds:
                if self._close(tv.text, a, b):
                    return CueMatch(self.name, self.weight, _snip(tv.text[a[0] : b[1]]))
                if not self.ordered and self._close(tv.text, b, a):
                    return CueMatch(self.name, self.weight, _snip(tv.text[b[0] : a[1]]))
        return None
