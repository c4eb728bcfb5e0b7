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

* a line break beside a number's own separator ("905\n-674-3793", "12/1\n/1981";
  five digits together at least) or after the dot of an e-mail's domain -> joined;
* a unit word and its number ("Apt.\n595"), a given name and a surname
  ("Anna\nJosefsen") over two lines -> one space; an IBAN's pieces -> joined.

Other digits over two lines are left to the digit-chain recognizer (or are a
numbered list), and two English words over two lines are prose, not a split.

Text without such a split gets no second reading (it costs a second pass).
"""

from __future__ import annotations

import re

from .lexicon import COMMON_NAME_WORDS, is_english
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


def _pieces_of_a_number(text: str, mark: re.Match[str], total: int = 0) -> bool:
    """Both sides of a break are digit chains of 3 digits or more ("4111 1111 | 1111"), or,
    with ``total``, of that many digits together ("905\n-674-3793", not "1.\n2.")."""
    left = _CHAIN_LEFT.search(text, max(0, mark.start() - 30), mark.start())
    right = _CHAIN_RIGHT.match(text, mark.end() + (1 if total and text[mark.end():mark.end() + 1] in "-./" else 0))
    if not (left and right):
        return False
    digits = sum(ch.isdigit() for ch in left.group()), sum(ch.isdigit() for ch in right.group())
    return sum(digits) >= total if total else min(digits) >= 3


# A line break beside a number's own separator ("905\n-674-3793", "12/1\n/1981"), or after the
# dot of an e-mail's domain ("jo@mail.\ncom").
_BREAK = r"(?:[ \t]*\r?\n[ \t]*|[ \t]*\|{1,2}[ \t]*|\t|[ \t]+;[ \t]+)"
_CONTINUATION = re.compile(rf"(?<=\d){_BREAK}(?=[-./]\d)|(?<=\d[-./])[ \t]*\r?\n[ \t]*(?=\d)"
                           r"|(?<=[^\W_]\.)\r?\n(?=[^\W\d_]{2,}\b)")
_UNIT_WORDS = ("apt", "apartment", "suite", "ste", "unit", "flat", "box", "bldg", "building")
# An address unit and its number over two lines or cells ("Apt.\n595", "Suite | 179"), written as
# in an address (capitalised or shouted: a "unit" column header over a "500" is not one).
_UNIT_BREAK = re.compile(r"\b(?:" + "|".join(f"{w.capitalize()}|{w.upper()}" for w in _UNIT_WORDS)
                         + rf")\.?({_BREAK})(?=\d)")
_IBAN = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}")


def _lone_separator(text: str, mark: re.Match[str]) -> bool:
    """The cell separator is the only one on its line: a value split in two, not a table row."""
    line_start = text.rfind("\n", 0, mark.start()) + 1
    line_end = text.find("\n", mark.end())
    line = text[line_start:line_end if line_end >= 0 else len(text)]
    sep = mark.group().strip() or "\t"
    return line.count(sep) == 1


def _continuations(text: str) -> list[tuple[int, int, str]]:
    edits = [(m.start(1), m.end(1), " ") for m in _UNIT_BREAK.finditer(text)]
    for match in _CONTINUATION.finditer(text):
        if text[match.start() - 1] == ".":
            token = text[:match.start()].rsplit(None, 1)[-1] if text[:match.start()].strip() else ""
            if "@" in token:  # the rest of an e-mail's domain
                edits.append((match.start(), match.end(), ""))
        elif _pieces_of_a_number(text, match, total=5):
            edits.append((match.start(), match.end(), ""))
    return edits


def split_view(normalized: Normalized, words: frozenset[str], names: frozenset[str] = frozenset(),
               given: frozenset[str] = frozenset()) -> Normalized | None:
    """The detection copy with splits undone, or None when it has none.

    ``words``: English words (two of them over a line break are prose); ``names``:
    known names ("Matt\nhew" is one); ``given``: given names ("Anna\nJosefsen" is a name
    even though WordNet lists Anna).
    """
    text = normalized.text
    if "\n" not in text and "|" not in text and "\t" not in text and ";" not in text:
        return None
    edits: list[tuple[int, int, str]] = _continuations(text)
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
            # Over cells, both pieces hold 3 digits or more ("2019 | 12 | 45" is a table's
            # columns), or 5 together where the separator stands alone on its line ("282 | 45").
            if match.group().startswith("-") if line_break else (
                    _pieces_of_a_number(text, match) or (_lone_separator(text, match)
                                                         and _pieces_of_a_number(text, match, total=5))):
                edits.append((match.start(), match.end(), ""))
        elif (lw.isalpha() and rw.isalpha() and rw[0].islower()
              and (not (is_english(lw, words) and is_english(rw, words)) or (lw + rw).lower() in names)
              # around a semicolon, a lower-case English word goes on the sentence ("Books ; and")
              and not (";" in match.group() and is_english(rw, words))):
            # Over cells, two names (or two unknown words) are two words: "eva | kleist".
            pair = not line_break and lw.islower() and all(
                w in names or w not in words for w in (lw, rw)) and (lw + rw) not in names
            edits.append((match.start(), match.end(), " " if pair else ""))
        elif (lw[:1].isupper() and rw[:1].isupper() and lw[1:].islower() and rw[1:].islower()
              and (not (line_break or ";" in match.group()) or not (is_english(lw, words) or is_english(rw, words))
                   or (lw.lower() in given and lw.lower() not in COMMON_NAME_WORDS
                       and (rw.lower() not in words or rw.lower() in names)))):
            edits.append((match.start(), match.end(), " "))
        elif _IBAN.fullmatch(lw + rw):
            edits.append((match.start(), match.end(), ""))  # an IBAN broken over two lines or cells
        elif (not line_break and rw[:1].isupper() and len(rw) == 1 and text[match.end() + 1:match.end() + 2] == "."
              and lw[:1].isupper() and lw[1:].islower()):
            edits.append((match.start(), match.end(), " "))  # a name and an initial over two cells
        elif not line_break and ((lw.isdigit() and rw[:1].isupper() and rw[1:].islower())
                                 or (_CODE.fullmatch(lw) and _CODE.fullmatch(rw))):
            # Over two cells: a house number and its street ("14 | Elm Grove"), or the two
            # halves of a code with digits in it ("LS6 || 2AB") -> one space.
            edits.append((match.start(), match.end(), " "))
    if not edits:
        return None
    disjoint: list[tuple[int, int, str]] = []
    for edit in sorted(edits):
        if not disjoint or edit[0] >= disjoint[-1][1]:
            disjoint.append(edit)
    return replace_spans(normalized, disjoint)
