"""Text encodings that hide words from keyword rules: base64 (standard and URL-safe),
base32, hex (plain, space-separated or \\x-escaped), URL percent-escapes and backslash
escapes (\\uXXXX, \\xXX, \\UXXXXXXXX).

A run only counts when it decodes to *text*: valid UTF-8, printable, with real words.
That is what separates an encoded message from a hash, a key, a UUID, a hex id or a
base58 address, all of which decode to binary noise. Each finder is gated by a cheap
character test so plain prose pays almost nothing.
"""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import unquote_plus

from flockwatch.ciphers.config import EncodingSettings
from flockwatch.ciphers.decoding import Decoding
from flockwatch.ciphers.english import words_of

DECODERS: frozenset[str] = frozenset({"base64", "base32", "hex", "url", "escapes"})

_B64_RE = re.compile(r"[A-Za-z0-9+/_-]+={0,6}")  # run on long tokens only
_SPACED_HEX_RE = re.compile(r"(?<![0-9A-Za-z])(?:[0-9a-fA-F]{2}[ :]){7,}[0-9a-fA-F]{2}(?![0-9A-Za-z])")  # 69 67 6e ...
_PCT_RE = re.compile(r"%[0-9A-Fa-f]{2}")
_ONE = r"\\(?:u[0-9a-fA-F]{4}|x[0-9a-fA-F]{2}|U[0-9a-fA-F]{8})"
# Escapes, with at most three literal characters between two of them.
_ESC_RE = re.compile(rf"{_ONE}(?:[^\\\n\"'<>]{{0,3}}{_ONE})*")
_ONE_ESC = re.compile(r"\\(?:u([0-9a-fA-F]{4})|x([0-9a-fA-F]{2})|U([0-9a-fA-F]{8}))")


def is_text(decoded: str, cfg: EncodingSettings) -> bool:
    """Does a decoded string read as text rather than binary noise?"""
    if len(decoded) < cfg.min_decoded_chars:
        return False
    printable = sum(1 for ch in decoded if ch.isprintable() or ch in "\n\r\t")
    if printable / len(decoded) < cfg.min_printable:
        return False
    # Words separated by spaces, as prose has: a decoded JSON blob or key=value string
    # ('{"alg":"HS256"}' from a JWT) is data, not a hidden message.
    spaced = [t for t in decoded.split() if any(c.isalpha() for c in t)]
    words = [w for w in words_of(decoded) if len(w) >= 2 and w.isalpha()]
    return len(spaced) >= cfg.min_decoded_words and len(words) >= cfg.min_decoded_words


def _utf8(raw: bytes) -> str | None:
    # Most candidates decode to binary noise: tell that without raising (an exception
    # costs more than the decode). A U+FFFD that is not in the bytes marks bad input.
    text = raw.decode("utf-8", "replace")
    if "\ufffd" not in text:
        return text
    if raw.find(b"\xef\xbf\xbd") == -1:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


def decode_base64(s: str) -> str | None:
    body = s.rstrip("=")
    if len(body) % 4 == 1:
        return None
    padded = body + "=" * (-len(body) % 4)
    try:
        if "-" in body or "_" in body:
            raw = base64.urlsafe_b64decode(padded)
        else:
            raw = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return _utf8(raw)


def decode_base32(s: str) -> str | None:
    body = s.rstrip("=")
    padded = body + "=" * (-len(body) % 8)
    try:
        raw = base64.b32decode(padded)
    except (binascii.Error, ValueError):
        return None
    return _utf8(raw)


def decode_hex(s: str) -> str | None:
    try:
        raw = bytes.fromhex(s.replace(":", " "))
    except ValueError:
        return None
    return _utf8(raw)


def decode_escapes(s: str) -> str:
    def one(m: re.Match[str]) -> str:
        code = int(m.group(1) or m.group(2) or m.group(3), 16)
        return chr(code) if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else m.group()

    return _ONE_ESC.sub(one, s)


def _hit(cipher: str, text: str, start: int, end: int, plaintext: str) -> Decoding:
    whole = end - start >= 0.8 * len(text.strip())
    return Decoding(cipher, None, start, end, text[start:end], plaintext, whole)


# C-level gates on the UTF-8 bytes: ASCII whitespace -> " ", everything else -> "x"
# (is there a 16-character token at all, and where?); hex digits -> "h", space and ":"
# -> " ", everything else -> "x" (is there a run of spaced hex pairs?). The whitespace
# set is every ASCII character `str.split` splits on.
_SHAPE = bytes(32 if c in b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f" else 120 for c in range(256))
_HEX_SHAPE = bytes(104 if c in b"0123456789abcdefABCDEF" else 32 if c in b" :" else 120 for c in range(256))
_SPACED_HEX_PROBE = b" hh hh hh hh hh hh hh hh "
_SPACED_HEX_CORE = _SPACED_HEX_PROBE[1:-1]


def _spaced_hex_shape(shape: bytes) -> bool:
    """Eight spaced hex pairs in a row, not inside a longer token. The probe without
    its edge spaces is searched first: most texts fail that without the copies the
    edge test takes."""
    # bytes.find, not `in`: `in` on bytes first tries the operand as an int, and pays
    # for the TypeError that raises.
    return shape.find(_SPACED_HEX_CORE) != -1 and (b" " + shape + b" ").find(_SPACED_HEX_PROBE) != -1


# UTF-8 continuation bytes: deleting them leaves one byte per character, so offsets
# in the shape are character offsets.
_UTF8_CONTINUATION = bytes(range(0x80, 0xC0))


def _shape_of(raw: bytes) -> bytes:
    """`raw` (a text's UTF-8) through `_SHAPE`, one byte per character of the text."""
    return raw.translate(_SHAPE, _UTF8_CONTINUATION)


def _long_tokens(text: str, shape: bytes, min_chars: int) -> list[tuple[int, str]]:
    """Whitespace-separated tokens of at least `min_chars`, with their offsets. Base64,
    base32 and plain hex runs live only inside such tokens, so the regexes run on
    these few tokens, not over the whole text. The tokens are found by byte searches in
    `shape` (`_shape_of` the text), so the many short words of prose are never split
    out one by one."""
    probe = b"x" * min_chars
    out: list[tuple[int, str]] = []
    i = shape.find(probe)
    while i != -1:
        a = shape.rfind(b" ", 0, i) + 1
        b = shape.find(b" ", i)
        if b == -1:
            b = len(shape)
        chunk = text[a:b]
        if chunk.isascii():  # no whitespace left in it
            pieces = [(a, chunk)]
        else:  # split again on non-ASCII whitespace
            pieces, pos = [], 0
            for t in chunk.split():
                pos = chunk.find(t, pos)
                pieces.append((a + pos, t))
                pos += len(t)
        for start, t in pieces:
            if len(t) < min_chars:
                continue
            if "://" in t:  # a link: only its query string can carry a payload
                q = t.find("?")
                if q == -1 or len(t) - q <= min_chars:
                    continue
                start, t = start + q + 1, t[q + 1 :]
            out.append((start, t))
        i = shape.find(probe, b)
    return out


def find(text: str, enabled: frozenset[str], cfg: EncodingSettings, raw: bytes | None = None) -> list[Decoding]:
    """Encoded runs in `text` that decode to text. `raw`, when given, is
    `text.encode("utf-8", "replace")` (the scanner encodes once for every finder)."""
    out: list[Decoding] = []
    taken: list[tuple[int, int]] = []
    if raw is None:
        raw = text.encode("utf-8", "replace")
    long_tokens = _long_tokens(text, _shape_of(raw), cfg.min_encoded_chars)
    for offset, token in long_tokens:
        # One regex pass per long token finds runs of the base64 alphabet, which holds
        # the base32 and hex alphabets too; string methods (C) then say which it is.
        for m in _B64_RE.finditer(token):
            run = m.group()
            if len(run) < cfg.min_encoded_chars:
                continue
            a, b = offset + m.start(), offset + m.end()
            for cipher in _kinds(run):
                if cipher not in enabled:
                    continue
                plain = _DECODE[cipher](run)
                if plain is not None and is_text(plain, cfg):
                    taken.append((a, b))
                    out.append(_hit(cipher, text, a, b, plain))
                    break
    # "69 67 6e ...": eight spaced hex pairs in a row.
    if "hex" in enabled and _spaced_hex_shape(raw.translate(_HEX_SHAPE)):
        for m in _SPACED_HEX_RE.finditer(text):
            plain = decode_hex(m.group())
            a, b = m.span()
            free = all(b <= x or a >= y for x, y in taken)
            if free and plain is not None and is_text(plain, cfg):
                out.append(_hit("hex", text, *m.span(), plain))
    if "url" in enabled and "%" in text:
        # The whitespace tokens holding a "%", found from each "%" outwards (not a regex:
        # linear on any input; and the many tokens without one are never split out).
        end = 0
        pct = text.find("%")
        while pct != -1:
            start = pct
            while start > end and not text[start - 1].isspace():
                start -= 1
            pos = pct + 1
            while pos < len(text) and not text[pos].isspace():
                pos += 1
            end = pos
            pct = text.find("%", end)
            token = text[start:pos]
            if cfg.skip_urls and ("://" in token or token.startswith("www.")):
                continue
            if len(_PCT_RE.findall(token)) < cfg.min_escapes:
                continue
            plain = unquote_plus(token)
            if is_text(plain, cfg):
                out.append(_hit("url", text, start, pos, plain))
    if "escapes" in enabled and "\\" in text:
        for m in _ESC_RE.finditer(text):
            escapes = _ONE_ESC.findall(m.group())
            if len(escapes) < cfg.min_escapes:
                continue
            codes = [int(a or b or c, 16) for a, b, c in escapes]
            if cfg.escapes_ascii_only and sum(1 for c in codes if 32 <= c < 127) < cfg.min_escapes:
                continue
            plain = decode_escapes(m.group())
            if is_text(plain, cfg):
                out.append(_hit("escapes", text, *m.span(), plain))
    return out


_DECODE = {"hex": decode_hex, "base32": decode_base32, "base64": decode_base64}
_HEX_DIGITS = "0123456789abcdefABCDEF"
_BASE32_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567="


def _kinds(run: str) -> list[str]:
    """Encodings a run of the base64 alphabet may be in, most specific first (the
    alphabets nest: hex digits and base32 letters are base64 characters too)."""
    kinds = []
    if len(run) % 2 == 0 and not run.strip(_HEX_DIGITS):
        kinds.append("hex")
    if not run.strip(_BASE32_CHARS):
        kinds.append("base32")
    kinds.append("base64")
    return kinds
