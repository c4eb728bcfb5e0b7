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
* a break between two capitalised words (a name over two lines or cells:
  "Johannes\nVarvio", "Sara || Schwarz") -> one space.

Text without such a split gets no second reading (it costs a second pass).
"""

from __future__ import annotations

import re

from .normalize import Normalized, replace_spans

__all__ = ["split_view"]

# A line break (a hyphen before it is a break inside a word) or a table-cell separator.
_MARK = re.compile(r"(?<=[^\W_])(-?[ \t]*\r?\n[ \t]*|[ \t]*\|{1,2}[ \t]*|\t|[ \t]+;[ \t]+)(?=[^\W_])")
_LEFT = re.compile(r"[^\W_]+$")
_RIGHT = re.compile(r"[^\W_]+")


def split_view(normalized: Normalized, english: frozenset[str]) -> Normalized | None:
    """The detection copy with splits undone, or None when it has none."""
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
        if lw.isdigit() and rw.isdigit():
            edits.append((match.start(), match.end(), ""))
        elif (rw[0].islower() and not (lw.lower() in english and rw in english)
              and not match.group().strip().startswith(";")):
            edits.append((match.start(), match.end(), ""))
        elif lw[:1].isupper() and rw[:1].isupper() and lw[1:].islower() and rw[1:].islower():
            edits.append((match.start(), match.end(), " "))
    return replace_spans(normalized, edits) if edits else None
