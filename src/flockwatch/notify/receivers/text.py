"""Text neutralisation shared by the chat receivers.

Everything an agent wrote is hostile: it may try to ping a whole channel
(`@here`, `@everyone`, `<!channel>`), impersonate a link (`[docs](http://evil)`),
reverse text direction to spoof what is shown, hide text in invisible characters
(two names that look identical, a hidden order to a chat bot), or carry a phishing
URL that the chat client would unfurl. Each receiver escapes its own markup; these helpers are
the parts every chat target needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

from flockwatch.alerts.redact import redact

ZWSP = "\u200b"

# C0/C1 controls except tab/newline; the bidi overrides, isolates and marks used for
# spoofing (U+061C is the Arabic sibling of U+200E/U+200F); and invisible characters that
# make two agent names look identical or hide text: zero-width space/non-joiner/joiner,
# the word joiner and the other format characters of U+2060..U+206F, the BOM used as a
# zero-width no-break space, and the TAG block, which can carry a whole hidden sentence
# (e.g. instructions to an LLM bot reading the channel). The soft hyphen too: invisible
# unless a line breaks there, it split `evil\u00ad.com` away from the bare-domain check.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff"
                       r"\U000e0000-\U000e007f]")
# Line and paragraph separators become newlines rather than being dropped or turned into
# spaces: chat clients (JavaScript) may break lines there, so the markdown escapers must see
# the same line starts the client does, and the agent's line structure stays readable.
_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029]")
_MENTION = re.compile(r"@(?=\S)")
# No word boundary before the scheme: "_https://x_" (Slack italics) and "xhttps://x" are
# still links in the chat clients.
_URL_SCHEME = re.compile(r"(h)(tt)(ps?)(:/{2})", re.IGNORECASE)
_PARTIAL_ENTITY = re.compile(r"&#?[A-Za-z0-9]{0,8}$")
# A hostname: two or more labels of letters, digits (any script) and inner hyphens, not
# glued to a word character, hyphen or underscore on either side (`snake_case.com_x`,
# `a-b.com` inside `x-a-b.com`). Whether it is a domain is the last label's business.
_LABEL = r"[^\W_]+(?:-+[^\W_]+)*"
_HOSTNAME = re.compile(rf"(?<![\w-])(?:{_LABEL}\.)+({_LABEL})(?![\w-])")


def strip_controls(text: str) -> str:
    """Agent text without controls and invisible characters. Run it before any escaping:
    the escapers insert their own ZWSPs afterwards, and those must survive."""
    text = _LINE_BREAKS.sub("\n", text)
    cleaned = _CONTROLS.sub("", text)
    # Redaction ran on the text as the agent wrote it: a secret split by a ZWSP was not
    # recognised there, and removing the ZWSP joins it again.
    return redact(cleaned) if len(cleaned) != len(text) else cleaned


def break_mentions(text: str) -> str:
    """`@here` -> `@\u200bhere`: reads the same, notifies nobody."""
    return _MENTION.sub("@" + ZWSP, text)


def defang_urls(text: str) -> str:
    """`https://evil` -> `hxxps://evil`: still readable, never a clickable or unfurled link."""
    return _URL_SCHEME.sub(lambda m: "hxx" + m.group(3) + m.group(4), text)


@lru_cache(maxsize=4096)
def is_tld(label: str) -> bool:
    """A top-level domain of the Public Suffix List's ICANN section (the snapshot the
    publicsuffixlist package ships; it never fetches one): `com`, `zip`, `py`, `рф`,
    `xn--p1ai`, not `yaml`, `js`, `example` or `localhost`."""
    return _public_suffixes().publicsuffix("x." + label.lower(), accept_unknown=False) is not None


@lru_cache(maxsize=1)
def _public_suffixes():  # type: ignore[no-untyped-def]
    from publicsuffixlist import PublicSuffixList  # ~0.1 s to parse: loaded on the first message

    return PublicSuffixList(only_icann=True)


def defang_hosts(text: str) -> str:
    """`evil.com/x` -> `evil[.]com/x`: a bare domain (no scheme, which `defang_urls`
    handles, or after one) that a chat client would link or preview, still readable. Only
    names whose last label is a real top-level domain: prose (`e.g.`, `v1.2`, `3.14`) and
    file names (`config.yaml`, `Node.js`) stay as written, except those whose extension
    is a TLD too (`setup.py`, `notes.zip`), which are domains a client links as well."""
    if "." not in text:
        return text
    return _HOSTNAME.sub(lambda m: m.group(0).replace(".", "[.]") if is_tld(m.group(1)) else m.group(0), text)


def backslash_escape(text: str, specials: str) -> str:
    return "".join("\\" + ch if ch in specials else ch for ch in text)


def truncate(text: str, limit: int, marker: str = "\n…") -> str:
    """Cut escaped text to `limit` characters without splitting an escape sequence,
    preferring a line boundary."""
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - len(marker))]
    newline = cut.rfind("\n")
    if newline > len(cut) // 2:
        cut = cut[:newline]
    # Half an HTML entity (`&am`): only Slack writes entities; the markdown targets keep
    # a plain "&" (as in "Q&A"), so anything after it that cannot be an entity is kept.
    partial = _PARTIAL_ENTITY.search(cut)
    if partial:
        cut = cut[: partial.start()]
    trailing = len(cut) - len(cut.rstrip("\\"))
    if trailing % 2:
        cut = cut[:-1]  # a lone escaping backslash
    return cut + marker


_LIST_MARKER = re.compile(r"(?m)^(\s*)([-+=]|\d+\.)(?=\s|$)")


def markdown_escaper(specials: str, extra: Callable[[str], str] | None = None, *,
                     agent: bool = True) -> Callable[[str], str]:
    """An escaper for a markdown dialect: controls stripped, URLs defanged, `specials`
    backslash-escaped, list/heading markers at line start escaped, mentions broken; for
    agent text (`agent`, the default) bare domains defanged as well."""

    def escape(text: str) -> str:
        text = defang_urls(strip_controls(text))
        if agent:
            text = defang_hosts(text)
        text = backslash_escape(text, specials)
        text = _LIST_MARKER.sub(lambda m: m.group(1) + "\\" + m.group(2), text)
        if extra is not None:
            text = extra(text)
        return break_mentions(text)

    return escape
