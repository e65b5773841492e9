"""Key functions: what a stateful rule groups by, named in YAML.

Every stateful rule type takes `group_by:` as a list of key specs. A spec is

- a field name (`agent_id`, `post_id`, `attrs.campaign`): the field's value;
- `name(field)` or `name(field, arg=value)`: a registered derived key, e.g.
  `name_stem(agent_name)` (agent_0042 -> agent_#), `template(text)`, `urls(text)`;
- a mapping `{key: name, field: text, <args>}` for longer argument lists.

A key function returns a string, a list of strings (fan-out: the event belongs to
several groups, e.g. every URL it carries or every MinHash band), or None (the event
has no such key and cannot form a group). The rule's partition keys are the product
of its specs' values; the worker routes one copy of the event per partition key.

Register a new key function with `@key_function("name")` on a factory that takes the
field name and keyword arguments and returns `Callable[[Event], str | list[str] | None]`;
raise `KeySpecError` for bad arguments.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from flockwatch.detect.text_sig import MEMO, SIG_SIZE, template_hash, token_hash
from flockwatch.rules.redos import backtracking_problem
from flockwatch.ingest.event import Event
from flockwatch.rules.fields import getter, valid_field

KeyValue = str | list[str] | None
KeyFn = Callable[[Event], KeyValue]
Factory = Callable[..., KeyFn]

_FACTORIES: dict[str, Factory] = {}
_CALL = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*\((.*)\)\s*$", re.S)
MAX_FANOUT = 16  # partition keys per event per rule; bounds the cost of a URL-stuffed post


class KeySpecError(ValueError):
    """A `group_by` entry is wrong; the message says which and why."""


def key_function(name: str) -> Callable[[Factory], Factory]:
    def deco(factory: Factory) -> Factory:
        if name in _FACTORIES:
            raise ValueError(f"key function {name!r} registered twice")
        _FACTORIES[name] = factory
        return factory

    return deco


def key_functions() -> tuple[str, ...]:
    return tuple(sorted(_FACTORIES))


@dataclass(frozen=True)
class KeySpec:
    label: str  # how the spec was written; names the group in alert evidence
    fn: KeyFn
    fan_out: bool  # may return several values


def parse_key_spec(raw: Any) -> KeySpec:
    if isinstance(raw, dict):
        args = dict(raw)
        name = args.pop("key", None)
        fld = args.pop("field", None)
        if not isinstance(name, str):
            raise KeySpecError(f"a key mapping needs `key: <function>`, got {raw!r}")
        return _build(name, fld, args, label=name if fld is None else f"{name}({fld})")
    if not isinstance(raw, str) or not raw.strip():
        raise KeySpecError(f"a group_by entry must be a field name or key function, got {raw!r}")
    m = _CALL.match(raw)
    if m is None:
        name = raw.strip()
        if not valid_field(name):
            raise KeySpecError(f"unknown field {name!r}; key functions: {', '.join(key_functions())}")
        return _build("field", name, {}, label=name)
    name, arg_text = m.group(1), m.group(2)
    fld, kwargs = _parse_args(arg_text, raw)
    return _build(name, fld, kwargs, label=raw.strip())


def _parse_args(arg_text: str, raw: str) -> tuple[str | None, dict[str, Any]]:
    try:
        call = ast.parse(f"f({arg_text})", mode="eval").body
    except SyntaxError:
        raise KeySpecError(f"cannot parse key spec {raw!r}") from None
    assert isinstance(call, ast.Call)
    positional: list[str] = []
    for a in call.args:
        if isinstance(a, ast.Name):
            positional.append(a.id)
        elif isinstance(a, ast.Attribute):  # attrs.x.y
            positional.append(ast.unparse(a))
        else:
            raise KeySpecError(f"{raw!r}: positional arguments are field names")
    if len(positional) > 1:
        raise KeySpecError(f"{raw!r}: one field per key function (use a list of specs for several)")
    kwargs: dict[str, Any] = {}
    for kw in call.keywords:
        try:
            kwargs[str(kw.arg)] = ast.literal_eval(kw.value)
        except ValueError:
            raise KeySpecError(f"{raw!r}: argument {kw.arg} must be a literal") from None
    return (positional[0] if positional else None), kwargs


def _build(name: str, fld: str | None, kwargs: dict[str, Any], label: str) -> KeySpec:
    factory = _FACTORIES.get(name)
    if factory is None:
        raise KeySpecError(f"unknown key function {name!r}; known: {', '.join(key_functions())}")
    if fld is not None and not valid_field(fld):
        raise KeySpecError(f"{label}: unknown field {fld!r}")
    try:
        fn = factory(fld, **kwargs)
    except TypeError as exc:
        raise KeySpecError(f"{label}: {exc}") from None
    return KeySpec(label=label, fn=fn, fan_out=bool(getattr(fn, "fan_out", False)))


def parse_group_by(raw: Any, default: list[str] | None = None) -> list[KeySpec]:
    items = default if raw is None else raw
    if isinstance(items, (str, dict)):
        items = [items]
    if items == [] and default == []:
        return []  # the rule type adds its own key (e.g. near_duplicate's MinHash bands)
    if not isinstance(items, list) or not items:
        raise KeySpecError("group_by must be a non-empty list of key specs")
    return [parse_key_spec(i) for i in items]


def partition_keys(specs: list[KeySpec], event: Event) -> list[str]:
    """The product of every spec's values, joined with \\x1f. Empty: no group."""
    if len(specs) == 1:  # most rules: no product to build
        v = specs[0].fn(event)
        if v is None or v == "" or v == []:
            return []
        return v[:MAX_FANOUT] if isinstance(v, list) else [v]
    values: list[list[str]] = []
    for spec in specs:
        v = spec.fn(event)
        if v is None or v == "" or v == []:
            return []
        values.append(v if isinstance(v, list) else [v])
    if len(values) == 1:
        return values[0][:MAX_FANOUT]
    return ["\x1f".join(p) for p in product(*values)][:MAX_FANOUT]


def _text_of(fld: str | None) -> Callable[[Event], str | None]:
    get = getter(fld or "text")

    def text(event: Event) -> str | None:
        v = get(event)
        return v if isinstance(v, str) and v else None

    return text


def _no_args(name: str, kwargs: dict[str, Any]) -> None:
    if kwargs:
        raise KeySpecError(f"{name} takes no arguments, got {sorted(kwargs)}")


# ---- built-in key functions ------------------------------------------------------------

@key_function("field")
def _field(fld: str | None, **kwargs: Any) -> KeyFn:
    _no_args("field", kwargs)
    if fld is None:
        raise KeySpecError("field() needs a field name")
    get = getter(fld)

    def value(event: Event) -> KeyValue:
        v = get(event)
        return None if v is None or v == "" else str(v)

    return value


@key_function("lower")
def _lower(fld: str | None, **kwargs: Any) -> KeyFn:
    _no_args("lower", kwargs)
    text = _text_of(fld or "agent_name")
    return lambda event: (t.casefold().strip() or None) if (t := text(event)) else None


_DIGITS = re.compile(r"\d+")


@key_function("name_stem")
def _name_stem(fld: str | None, min_stem: int = 3, spread: int = 0) -> KeyFn:
    """Numbered or clone account names share a stem: `xmolt03`, `xmolt04` -> `xmolt#`.
    Names without digits have no stem (None): they are not a numbered series.

    `spread: N` (> 0) also asks that the serial numbers (the last digit run) lie close
    together, as a script's fleet does (xmolt02..xmolt06, FloClaw1..7). On a platform
    of a million agents many unrelated agents share a default stem with scattered
    numbers (Clawd42, Clawd127, Clawd1769880151); they must not count as one fleet.
    The name then falls in two overlapping number ranges of width N (two keys: a
    fleet across a range boundary still shares one of them), e.g. `xmolt#~0`, `xmolt#~0h`."""
    if spread < 0:
        raise KeySpecError("name_stem: spread must be >= 0")
    text = _text_of(fld or "agent_name")
    half = spread // 2

    def stem(event: Event) -> KeyValue:
        name = text(event) or event.agent_id
        runs = _DIGITS.findall(name)
        if not runs:
            return None
        s = _DIGITS.sub("#", name.casefold()).strip()
        letters = 0
        for c in s:  # stops at `min_stem` letters: most names begin with them
            if letters >= min_stem:
                break
            if c.isalpha():
                letters += 1
        if letters < min_stem:
            return None
        if not spread:
            return s
        serial = int(runs[-1][-18:])  # the last 18 digits: a timestamp-sized run stays an int
        return [f"{s}~{serial // spread}", f"{s}~{(serial + half) // spread}h"]

    stem.fan_out = bool(spread)  # type: ignore[attr-defined]  # one fleet, two keys: reported once
    return stem


@key_function("template")
def _template(fld: str | None, min_chars: int = 20) -> KeyFn:
    """Exact copy-paste template (case and whitespace folded)."""
    text = _text_of(fld)
    return lambda event: template_hash(t) if (t := text(event)) and len(t.strip()) >= min_chars else None


@key_function("fingerprint")
def _fingerprint(fld: str | None, min_tokens: int = 4) -> KeyFn:
    """The set of content words: ignores case, numbers, emoji, punctuation and order."""
    text = _text_of(fld)

    def fp(event: Event) -> KeyValue:
        t = text(event)
        if not t:
            return None
        words = MEMO.words(t)
        return token_hash(words) if len(words) >= min_tokens else None

    return fp


@key_function("minhash")
def _minhash(fld: str | None, bands: int = 8, rows: int = 4, min_tokens: int = 4) -> KeyFn:
    """MinHash LSH band keys (fan-out): texts with small edits share at least one band."""
    if not (1 <= bands <= MAX_FANOUT) or rows < 1 or bands * rows > SIG_SIZE:
        raise KeySpecError(f"minhash: bands must be 1..{MAX_FANOUT}, rows >= 1, bands x rows <= {SIG_SIZE}")
    text = _text_of(fld)

    def lsh(event: Event) -> KeyValue:
        t = text(event)
        if not t:
            return None
        words = MEMO.words(t)
        if len(words) < min_tokens:
            return None
        return MEMO.bands(t, bands, rows)

    lsh.fan_out = True  # type: ignore[attr-defined]
    return lsh


_URL = re.compile(r"https?://[^\s<>\"'`)\]]+", re.I)
_TRACKING = re.compile(r"^(utm_|ref$|ref_|fbclid$|gclid$|mc_)", re.I)


def normalise_url(url: str) -> str | None:
    try:
        parts = urlsplit(url.strip().rstrip(".,;:!?"))
    except ValueError:
        return None
    host = (parts.hostname or "").casefold()
    if not host:
        return None
    if host.startswith("www."):
        host = host[4:]
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query) if not _TRACKING.match(k)))
    path = parts.path.rstrip("/")
    return host + path + (f"?{query}" if query else "")


@key_function("urls")
def _urls(fld: str | None, host_only: bool = False) -> KeyFn:
    """Every link the event carries (the `url` field and links in the text), normalised:
    scheme, `www.`, trailing slash and tracking parameters dropped."""
    text = _text_of(fld)

    def links(event: Event) -> KeyValue:
        found: list[str] = []
        raw = ([event.url] if event.url else []) + _URL.findall(text(event) or "")
        for u in raw:
            n = normalise_url(u)
            if n is None:
                continue
            if host_only:
                n = n.split("/", 1)[0].split("?", 1)[0]
            if n not in found:
                found.append(n)
        return found or None

    links.fan_out = True  # type: ignore[attr-defined]
    return links


@key_function("pair")
def _pair(fld: str | None, other: str = "target_agent_id") -> KeyFn:
    """The unordered pair {actor, other}: both directions of a conversation share a key."""
    a_get, b_get = getter(fld or "agent_id"), getter(other)

    def pair(event: Event) -> KeyValue:
        a, b = a_get(event), b_get(event)
        if not a or not b or a == b:
            return None
        return "|".join(sorted((str(a), str(b))))

    return pair


@key_function("regex")
def _regex(fld: str | None, pattern: str = "", lower: bool = True) -> KeyFn:
    """First capture group (or the whole match) of `pattern` in the field."""
    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise KeySpecError(f"regex: bad pattern {pattern!r}: {exc}") from None
    if not pattern:
        raise KeySpecError("regex needs pattern=...")
    if problem := backtracking_problem(pattern):
        raise KeySpecError(f"regex {pattern!r}: catastrophic backtracking risk: {problem}")
    text = _text_of(fld)

    def first(event: Event) -> KeyValue:
        t = text(event)
        m = rx.search(t[:4000]) if t else None
        if m is None:
            return None
        v = m.group(1) if rx.groups else m.group(0)
        return v.casefold() if lower else v

    return first
