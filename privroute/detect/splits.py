"""A second reading of a text with values put back together across line breaks and table cells.

A value split over two lines ("Rub\nija", "4471\n123") or two table cells
("Ni|cole", "Sara || Schwarz") is two fragments to every recognizer. This
builds a view of the detection copy where such splits are undone, and the
detector reads it in addition to the text as written (presidio.py unions the
two), so a split value is found whole and nothing found in the original
reading is lost. A split is undone where it looks like one:

* a break inside a word: the fragments on both sides continue one another
  (the right one starts in lower case or both are digits) and are not both
  English words ("patient\nwas" is two words; "Rub\nija" is one) -> joined;
* a table-cell break between two capitalised words or two numbers (a name
  or a number over two cells: "Sara || Schwarz", "4111 | 1111") -> one space,
  or joined.

Digits over two lines are left to the digit-chain recognizer, and two words
over two lines are prose, not a split.

Text without such a split gets no second reading (it costs a second pass).
"""

from __future__ import annotations

import re

from .normalize import Normalized, replace_spans

__all__ = ["split_view"]

# A line break (a hyphen before it is a break inside a word) or a table-cell separator.
_MARK = re.compile(r"(?<=[^\W_])(-?[ \t]?\r?\n[ \t]?|[ \t]*\|{1,2}[ \t]*|\t|[ \t]+;[ \t]+)(?=[^\W_])")
_LEFT = re.compile(r"[^\W_]+$")
_RIGHT = re.compile(r"[^\W_]+")


def split_view(normalized: Normalized, words: frozenset[str]) -> Normalized | None:
    """The detection copy with splits undone, or None when it has none (``words``: English words)."""
    text = normalized.text
    if "\n" not in text and "|" not in text and "\t" not in text and ";" not in text:
        return None
    edits: list[tuple[int, int, str]] = []
    for match in _MARK.finditer(text):
        left = _LEFT.search(text, max(0, match.start() - 40), match.start())
        right = _RIGHT.match(text, match.end())
        if left is None or right is None:
            continue
        lw, rw = left.group(), right.group()
        line_break = "\n" in match.group()
        if lw.isdigit() and rw.isdigit():
            if not line_break:  # digits over lines are read by the digit-chain recognizer already
                edits.append((match.start(), match.end(), ""))
        elif (lw.isalpha() and rw.isalpha() and rw[0].islower() and not match.group().strip().startswith(";")
              and not (lw.lower() in words and rw in words)):
            edits.append((match.start(), match.end(), ""))
        elif (not line_break and lw[:1].isupper() and rw[:1].isupper() and lw[1:].islower()
              and rw[1:].islower()):
            edits.append((match.start(), match.end(), " "))
    return replace_spans(normalized, edits) if edits else None
