"""Opaque payloads: base64, hex, percent escapes and HTML entities that decode to readable text.

A reader cannot see what an encoded payload says, and neither can a pattern:
it is how values are smuggled past a filter ("the attachment field contains
eyJuYW1l..."), and how some systems store them. Each payload that decodes to
readable text is therefore redacted whole (presidio.py): typed as what the
detector finds in the decoded text, else as ``ENCODED_TEXT``. Payloads that
decode to bytes (hashes, keys, images) are not text and are left alone; short
escapes inside ordinary text ("a%20b", "caf&#233;") are decoded by
normalize.py and read in place instead.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import unicodedata
from collections.abc import Iterator
from urllib.parse import unquote

__all__ = ["ENCODED_TYPE", "encoded_tokens"]

ENCODED_TYPE = "ENCODED_TEXT"

_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=_-])(?=[A-Za-z0-9+/_=-]{8})[A-Za-z0-9+/_-]{6,}={0,2}(?![A-Za-z0-9+/=_-])")
_HEX = re.compile(r"(?<![0-9A-Za-z])(?:0x)?(?:[0-9A-Fa-f]{2}){4,}(?![0-9A-Za-z])")
_HEX_ESCAPED = re.compile(r"(?:\\x[0-9A-Fa-f]{2}){3,}")
_HEX_SPACED = re.compile(r"(?<![0-9A-Za-z])[0-9A-Fa-f]{2}(?:[ :][0-9A-Fa-f]{2}){3,}(?![0-9A-Za-z])")
# Runs where escapes and plain characters interleave ("Wil&#x6c;ia&#x6d;", "%50%53%43%20").
_PERCENT_RUN = re.compile(r"[\w.@+-]*(?:%[0-9A-Fa-f]{2}[\w.@+-]*){3,}")
_HTML_RUN = re.compile(r"[\w.@+-]*(?:&#(?:[0-9]{1,7}|[xX][0-9a-fA-F]{1,6});[\w.@+-]*){3,}")
_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}|&#(?:[0-9]{1,7}|[xX][0-9a-fA-F]{1,6});")


def _readable(decoded: str, *, strict: bool) -> bool:
    """Text a person could read: printable, with letters or digits (all of it for short payloads).

    Invisible format characters (zero-width, bidi) do not count either way: text that
    hides them is still text.
    """
    decoded = "".join(ch for ch in decoded if unicodedata.category(ch) != "Cf")
    if not decoded or sum(ch.isalnum() for ch in decoded) < 2:
        return False
    printable = sum(ch.isprintable() or ch in "\n\t\r" for ch in decoded)
    if strict:
        return printable == len(decoded) and sum(ch.isalnum() or ch in " .,@-_/'+:()\n" or ch.isspace()
                                                  for ch in decoded) >= 0.8 * len(decoded)
    return printable / len(decoded) > 0.95


def _b64decode(token: str, *, tolerant: bool) -> str | None:
    if len(token.rstrip("=")) % 4 == 1:
        token = token.rstrip("=")[:-1]  # cut short by one character: decode what is whole
    padded = token + "=" * (-len(token) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded) if ("-" in token or "_" in token) else base64.b64decode(
            padded, validate=True)
        return raw.decode("utf-8", errors="replace" if tolerant else "strict")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _base64_text(token: str) -> str | None:
    if token.isalpha() or token.isdigit() or token.strip("=").isalnum() and token.strip("=").islower():
        return None
    decoded = _b64decode(token, tolerant=False)
    # Short tokens decode to printable bytes by chance now and then: ask more of them.
    if decoded is not None and _readable(decoded, strict=len(token) < 16):
        return decoded
    if len(token.rstrip("=")) < 24:
        return None
    # A long payload still reads when a few of its characters were changed (typed as look-alikes,
    # a character dropped) or it was cut out of a longer one at any point: try the four
    # alignments and let a few damaged bytes through. Random bytes (keys, hashes) are printable
    # about one time in three, so they never pass this.
    body = token.rstrip("=")
    for skip in range(4):
        decoded = _b64decode(body[skip:len(body) - (len(body) - skip) % 4], tolerant=True)
        if decoded is not None and _mostly_readable(decoded):
            return decoded
    return None


def _mostly_readable(decoded: str) -> bool:
    """At least 85% of the characters are letters, digits, spaces or common punctuation."""
    decoded = "".join(ch for ch in decoded if unicodedata.category(ch) != "Cf")
    good = sum(ch.isalnum() or ch.isspace() or ch in ".,@-_/'+:()\"{}[]=;!?&#" for ch in decoded
               if ch != "\ufffd")
    return len(decoded) >= 12 and good >= 0.85 * len(decoded) and sum(ch.isalpha() for ch in decoded) >= 6


def _hex_text(digits: str) -> str | None:
    try:
        decoded = bytes.fromhex(digits).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded if _readable(decoded, strict=True) else None


def _escaped_text(run: str, decode: str) -> str | None:
    escapes = _ESCAPE.findall(run)
    # Mostly escapes: an encoded value, not a URL with a few %20 in it.
    if sum(len(e) for e in escapes) * 2 < len(run):
        return None
    try:
        decoded = unquote(run, errors="strict") if decode == "percent" else html.unescape(run)
    except UnicodeDecodeError:
        return None
    return decoded if _readable(decoded, strict=False) else None


def encoded_tokens(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, decoded text) of each encoded payload in ``text`` that decodes to readable text."""
    if "%" in text:
        for match in _PERCENT_RUN.finditer(text):
            decoded = _escaped_text(match.group(), "percent")
            if decoded is not None:
                yield match.start(), match.end(), decoded
    if "&#" in text:
        for match in _HTML_RUN.finditer(text):
            decoded = _escaped_text(match.group(), "html")
            if decoded is not None:
                yield match.start(), match.end(), decoded
    if "\\x" in text:
        for match in _HEX_ESCAPED.finditer(text):
            decoded = _hex_text(match.group().replace("\\x", ""))
            if decoded is not None:
                yield match.start(), match.end(), decoded
    for match in _HEX_SPACED.finditer(text):
        decoded = _hex_text(re.sub("[ :]", "", match.group()))
        if decoded is not None:
            yield match.start(), match.end(), decoded
    hex_spans = []
    for match in _HEX.finditer(text):
        token = match.group()
        decoded = _hex_text(token.removeprefix("0x"))
        if decoded is not None:
            hex_spans.append(match.span())
            yield match.start(), match.end(), decoded
    for match in _BASE64.finditer(text):
        if any(lo <= match.start() < hi for lo, hi in hex_spans):
            continue
        decoded = _base64_text(match.group())
        if decoded is not None:
            yield match.start(), match.end(), decoded
