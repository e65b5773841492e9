"""Make a cue pattern tolerant of leetspeak, once, when it is compiled.

`ignore` becomes `[i1!|]gn[o0]r[e3]`, so `1gn0r3` and `!gnore` match without the
text ever being rewritten. Folding digits in running text would cost more than the
whole cue scan and would turn every `24h`, `gpt4` and wallet address into noise;
widening the pattern costs nothing per event (RE2 runs it as one DFA either way).

Only literal letters outside character classes are widened; escapes (`\\b`, `\\w`,
`\\p{L}`), classes, group headers (`(?:`, `(?P<n>`, `(?<!`) and counted repeats are
copied as they are.
"""

from __future__ import annotations

# The substitutions seen in real leetspeak payloads; deliberately short, since each
# one widens what a pattern can match.
LEET: dict[str, str] = {
    "a": "a4@", "b": "b8", "e": "e3", "g": "g9", "i": "i1!|", "l": "l1|", "o": "o0",
    "s": "s5$", "t": "t7+", "z": "z2",
}


def _class(letter: str) -> str:
    chars = LEET[letter]
    return "[" + "".join("\\" + c if c in "\\]^-[" else c for c in chars) + "]"


def _end_of_class(p: str, i: int) -> int:
    """Index just past the `]` closing the class that opens at p[i] == '['."""
    j = i + 1
    if j < len(p) and p[j] == "^":
        j += 1
    if j < len(p) and p[j] == "]":
        j += 1
    while j < len(p):
        if p[j] == "\\":
            j += 2
            continue
        if p[j] == "[" and p[j + 1 : j + 2] == ":":  # POSIX class [:alpha:]
            end = p.find(":]", j + 2)
            j = end + 2 if end > 0 else j + 1
            continue
        if p[j] == "]":
            return j + 1
        j += 1
    return len(p)


def _end_of_escape(p: str, i: int) -> int:
    """Index just past the escape that starts at p[i] == '\\'."""
    if i + 1 >= len(p):
        return len(p)
    e = p[i + 1]
    if e in "pPNxg" and p[i + 2 : i + 3] in ("{", "<"):
        close = "}" if p[i + 2] == "{" else ">"
        end = p.find(close, i + 2)
        return end + 1 if end > 0 else len(p)
    if e == "x":
        return i + 4
    if e == "u":
        return i + 6
    if e == "U":
        return i + 10
    return i + 2


def _end_of_group_header(p: str, i: int) -> int:
    """Index just past a `(?...` header: `(?:`, `(?i)`, `(?P<name>`, `(?<!`, `(?#...)`."""
    j = i + 2
    if p.startswith("#", j):
        end = p.find(")", j)
        return end + 1 if end > 0 else len(p)
    if p.startswith("P<", j) or (p.startswith("<", j) and p[j + 1 : j + 2] not in ("=", "!")):
        end = p.find(">", j)
        return end + 1 if end > 0 else len(p)
    if p.startswith("P=", j) or p.startswith("P>", j):
        end = p.find(")", j)
        return end + 1 if end > 0 else len(p)
    while j < len(p) and p[j] not in ":)=!<>":
        j += 1  # inline flags such as (?i) or (?i:
    if p.startswith(("<=", "<!"), j):
        return j + 2
    return j + 1 if j < len(p) else j


def leet_tolerant(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            end = _end_of_escape(pattern, i)
        elif c == "[":
            end = _end_of_class(pattern, i)
        elif c == "(" and pattern[i + 1 : i + 2] == "?":
            end = _end_of_group_header(pattern, i)
        elif c == "{":
            close = pattern.find("}", i)
            end = close + 1 if close > 0 else i + 1
        elif c in LEET:
            out.append(_class(c))
            i += 1
            continue
        else:
            end = i + 1
        out.append(pattern[i:end])
        i = end
    return "".join(out)
