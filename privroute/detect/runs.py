"""What spaCy gets to read: the text with overlong whitespace-free runs cut.

spaCy's tokenizer peels prefixes and suffixes off a whitespace-free run one
character at a time, rescanning the rest of the run each time: a run of
``((((``, ``\"\"\"\"``, ``,,,,``, ``&#&#`` or emoji costs time quadratic in its
length (8 kB took about 7 s; the whole text is one such run). No word, name or
identifier spaCy could label is anywhere near ``MAX_RUN`` characters, so every
run longer than that is cut by turning one character in each ``MAX_RUN + 1``
into a space, which bounds the tokenizer's work per character.

The copy has exactly the original's length, so every offset spaCy reports is
an offset into the text the recognizers read. Only spaCy reads the copy: the
regex recognizers (URLs, e-mails, base64, long ids) still see the real runs.
"""

from __future__ import annotations

import re

__all__ = ["MAX_RUN", "bound_runs"]

MAX_RUN = 64
"""Longest whitespace-free run spaCy reads unchanged (e-mail local parts stop at 64,
names and words long before; URLs and encoded blobs are the regex recognizers' job)."""

MAX_SYMBOLS = 8
"""Longest run of symbols (no letter, digit or white space; ``_`` is a symbol) spaCy reads unchanged."""

MIN_SINGLES = 64
"""Shortest stretch of one-character tokens spaCy reads as spaces (see ``bound_runs``)."""

_LONG_RUN = re.compile(r"\S{%d,}" % (MAX_RUN + 1))
# Symbols, each at most one space or tab from the next (``* * * *``, accents that NFKC
# turns into a space and combining marks).
# Connector punctuation (``_`` and its look-alikes) is a word character to ``re`` but a
# token of its own to spaCy: a symbol here.
_CONNECTORS = "_\u203f\u2040\u2054\ufe33\ufe34\ufe4d-\ufe4f\uff3f"
_SYMBOL = r"(?:[^\w\s]|[%s])" % _CONNECTORS
_LETTER = r"[^\W%s]" % _CONNECTORS
_SYMBOL_RUN = re.compile(r"%s(?:[ \t]?%s){%d,}" % (_SYMBOL, _SYMBOL, MAX_SYMBOLS))
# One-character tokens (a letter or digit standing alone, or a symbol), white space between.
_SINGLE = r"(?:(?<!%s)%s(?!%s)|%s)" % (_LETTER, _LETTER, _LETTER, _SYMBOL)
_SINGLES_RUN = re.compile(r"%s(?:\s*%s){%d,}" % (_SINGLE, _SINGLE, MIN_SINGLES - 1))


def bound_runs(text: str) -> str:
    """``text`` as spaCy should read it; same length, same offsets, linear time.

    * every whitespace-free run longer than ``MAX_RUN`` gets a space every
      ``MAX_RUN + 1`` characters (the tokenizer's quadratic case);
    * a run of more than ``MAX_SYMBOLS`` symbols (rules ``=====``, ``((((``,
      blanks to fill in ``______``, emoji strings, ``&#&#``, ``* * * *``) becomes spaces: spaCy would make a token of every
      character, at several times the cost per character of prose, and there is
      no name, place or date in it.
    * a stretch of ``MIN_SINGLES`` or more one-character tokens (``1*1*``,
      ``a<tab>1<tab>``, one letter per line, ``(1) (1)``): a token for every character or
      two, where prose has one for every five, so spaCy would take several times as
      long as on prose; no name or place is one character long.

    Returns ``text`` itself when nothing needs changing.
    """
    blanks: list[tuple[int, int]] = [match.span() for match in _SYMBOL_RUN.finditer(text)]
    blanks.extend(match.span() for match in _SINGLES_RUN.finditer(text))
    blanks.extend((position, position + 1) for match in _LONG_RUN.finditer(text)
                  for position in range(match.start() + MAX_RUN, match.end(), MAX_RUN + 1))
    if not blanks:
        return text
    blanks.sort()
    pieces, start = [], 0
    for begin, end in blanks:
        if end <= start:
            continue  # a cut inside a symbol run already blanked
        begin = max(begin, start)
        pieces.append(text[start:begin])
        pieces.append(" " * (end - begin))
        start = end
    pieces.append(text[start:])
    return "".join(pieces)
