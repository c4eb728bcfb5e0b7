"""A second reading of a text with values put back together across line breaks and table cells.

A value split over two lines ("Rub\nija", "4471\n123") or two table cells
("Ni|cole", "Sara || Schwarz") is two fragments to every recognizer. This
builds a view of the detection copy where such splits are undone, and the
detector reads it in addition to the text as written (presidio.py unions the
two), so a split value is found whole and nothing found in the original
reading is lost. A split is undone where it looks like one:

* a break inside a word: the fragments on both sides continue one another
  (the right one starts in lower case) and are not both English words, unless
  together they spell a known name ("patient\nwas" is two words; "Rub\nija" and
  "Matt\nhew" are one) -> joined; a number hyphenated over two lines -> joined;
* two capitalised words over two lines that are no English words (a name:
  "Šárka\nOttová") -> one space;
* a table-cell break between two capitalised words or two numbers (a name
  or a number over two cells: "Sara || Schwarz", "4111 | 1111", "536- | 22") -> one
  space, or joined; between a house number and a capitalised word ("14 | Elm") or
  two pieces of an upper-case code with digits ("LS6 || 2AB") -> one space.

Digits over two lines are left to the digit-chain recognizer, and two words
over two lines are prose, not a split.

Text without such a split gets no second reading (it costs a second pass).
"""

from __future__ import annotations

import re

from .normalize import Normalized, replace_spans

__all__ = ["split_view"]

# A line break (a hyphen before it is a break inside a word) or a table-cell separator.
_MARK = re.compile(r"(?<=[^\W_])(-?[ \t]?\r?\n[ \t]?|[ \t]*\|{1,2}[ \t]*|\t|[ \t]+;[ \t]+)(?=[^\W_])"
                   # a cell break after a number's own separator ("536- | 22-8147", "14. | 03.1968")
                   r"|(?<=\d[-./])([ \t]*\|{1,2}[ \t]*|\t|[ \t]+;[ \t]+)(?=\d)")
_LEFT = re.compile(r"[^\W_]+$")
_CODE = re.compile(r"(?=[A-Z]*\d)(?=\d*[A-Z])[A-Z\d]{2,8}|\d{1,4}")  # upper-case letters with digits, or digits
_RIGHT = re.compile(r"[^\W_]+")


_CHAIN_LEFT = re.compile(r"\d[\d \-./]*$")
_CHAIN_RIGHT = re.compile(r"\d(?:[\d\-./]| (?=\d))*")


def _pieces_of_a_number(text: str, mark: re.Match[str]) -> bool:
    """Both sides of a cell break are digit chains of 3 digits or more ("4111 1111 | 1111")."""
    left = _CHAIN_LEFT.search(text, max(0, mark.start() - 30), mark.start())
    right = _CHAIN_RIGHT.match(text, mark.end())
    return bool(left and right and sum(ch.isdigit() for ch in left.group()) >= 3
                and sum(ch.isdigit() for ch in right.group()) >= 3)


def split_view(normalized: Normalized, words: frozenset[str], names: frozenset[str] = frozenset()) -> Normalized | None:
    """The detection copy with splits undone, or None when it has none.

    ``words``: English words (two of them over a line break are prose); ``names``:
    known names ("Matt\nhew" is one).
    """
    text = normalized.text
    if "\n" not in text and "|" not in text and "\t" not in text and ";" not in text:
        return None
    edits: list[tuple[int, int, str]] = []
    for match in _MARK.finditer(text):
        if match.group(2) is not None:  # digits on both sides of a cell break, a separator kept
            if _pieces_of_a_number(text, match):
                edits.append((match.start(), match.end(), ""))
            continue
        left = _LEFT.search(text, max(0, match.start() - 40), match.start())
        right = _RIGHT.match(text, match.end())
        if left is None or right is None:
            continue
        lw, rw = left.group(), right.group()
        line_break = "\n" in match.group()
        if lw.isdigit() and rw.isdigit():
            # Digits over two cells, or a number hyphenated over two lines ("536-\n50"); other
            # digits over lines are read by the digit-chain recognizer (or are a numbered list).
            # Over cells, both pieces hold 3 digits or more: "2019 | 12" is a table's columns.
            if match.group().startswith("-") if line_break else _pieces_of_a_number(text, match):
                edits.append((match.start(), match.end(), ""))
        elif (lw.isalpha() and rw.isalpha() and rw[0].islower()
              and (not (lw.lower() in words and rw in words) or (lw + rw).lower() in names)):
            edits.append((match.start(), match.end(), ""))
        elif (lw[:1].isupper() and rw[:1].isupper() and lw[1:].islower() and rw[1:].islower()
              and (not line_break or (lw.lower() not in words and rw.lower() not in words))):
            edits.append((match.start(), match.end(), " "))
        elif not line_break and ((lw.isdigit() and rw[:1].isupper() and rw[1:].islower())
                                 or (_CODE.fullmatch(lw) and _CODE.fullmatch(rw))):
            # Over two cells: a house number and its street ("14 | Elm Grove"), or the two
            # halves of a code with digits in it ("LS6 || 2AB") -> one space.
            edits.append((match.start(), match.end(), " "))
    return replace_spans(normalized, edits) if edits else None
