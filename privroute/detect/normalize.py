"""Text normalisation before detection, with an exact map back to the original.

People (and attackers) hide identifiers behind characters that look right to a
reader but defeat regexes and NER: full-width or Devanagari digits, zero-width
joiners inside names, Cyrillic letters inside Latin words, ``O`` for ``0`` in a
phone number, HTML or percent escapes, right-to-left overrides, a hyphenated
word broken across lines. Detection runs on a folded copy; every character of
the copy remembers which original characters produced it, so a span found in
the copy is mapped to the smallest original span that covers it and the
redaction replaces the characters the user actually typed.

The map is monotone for everything except right-to-left override segments,
which are reversed (their visual order is what a reader sees); ``to_original``
therefore takes the min/max over the covered characters.
"""

from __future__ import annotations

import html
import re
import unicodedata
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import unquote

__all__ = ["Normalized", "normalize", "replace_spans"]

# Characters that render as nothing (or only steer layout): dropped.
_BIDI_RLO = "\u202e"
_BIDI_END = {"\u202c", "\n", "\u2029"}

# Latin look-alikes in Cyrillic and Greek, folded only inside words that already
# mix them with Latin letters (a whole Russian or Greek word is left alone).
_CONFUSABLES = str.maketrans({
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p", "с": "c",
    "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d", "ɡ": "g", "ո": "n",
    "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C",
    "Т": "T", "У": "Y", "Х": "X", "Ѕ": "S", "І": "I", "Ј": "J",
    "α": "a", "ο": "o", "ρ": "p", "ν": "v", "τ": "t", "υ": "u", "ι": "i", "κ": "k",
    "Α": "A", "Β": "B", "Ε": "E", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O",
    "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "Ζ": "Z",
})
_CONFUSABLE_CHARS = frozenset(chr(c) for c in _CONFUSABLES)
_WORD = re.compile(r"\w+")
_LATIN = re.compile(r"[A-Za-z]")
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")

# Letters typed for digits inside a number ("(2O2) 555-O147", "536-22-8l47").
_DIGITISH = re.compile(r"(?<![^\W\d_])[0-9OoIlL|]*[0-9][0-9OoIlL|]*(?![^\W\d_])")
# The same inside a dashed, dotted or slashed number ("2006-O4-O7", "l9.03"): a group may hold one digit.
_DIGITISH_RUN = re.compile(r"(?<![^\W\d_])[0-9OoIlL|]+(?:[-./:][0-9OoIlL|]+)+(?![^\W\d_])")
_DIGIT_FOLD = str.maketrans({"O": "0", "o": "0", "I": "1", "l": "1", "L": "1", "|": "1"})  # L: an l shouted

_HTML_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|commat|period|amp|lt|gt|quot|apos|nbsp);")
_PERCENT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
# A word hyphenated across a line break: keep the hyphen, drop the break.
_SOFT_BREAK = re.compile(r"(?<=\w-)[ \t]*\r?\n[ \t]*(?=\w)")


@dataclass(frozen=True)
class Normalized:
    """A normalised copy of ``original`` and, per character, its original extent."""

    text: str
    original: str
    _starts: array | None = None
    _ends: array | None = None

    def __repr__(self) -> str:
        return f"Normalized(<{len(self.text)} chars from {len(self.original)}>)"

    @property
    def changed(self) -> bool:
        return self._starts is not None

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """The original span covering normalised ``text[start:end]`` (end-exclusive)."""
        if not 0 <= start < end <= len(self.text):
            raise ValueError(f"span {start}..{end} outside the normalised text")
        if self._starts is None or self._ends is None:
            return start, end
        lo = min(self._starts[start:end])
        hi = max(self._ends[start:end])
        return lo, hi


# Dashes and minus signs people (and word processors) put between digit groups.
_DASHES = frozenset("\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\u2043")


def _cluster_output(cluster: str) -> str:
    """NFKC of one base character and its combining marks, digits and dashes folded to ASCII."""
    out = unicodedata.normalize("NFKC", cluster)
    if out.isascii():
        return out
    folded = []
    for ch in out:
        if unicodedata.category(ch) == "Cf":
            continue
        if ch in _DASHES:
            folded.append("-")
            continue
        if ch.isdigit() and not ch.isascii():
            value = unicodedata.decimal(ch, None)
            folded.append(str(value) if value is not None else ch)
        elif ch.isspace():
            folded.append("\n" if ch in "\u2028\u2029" else " ")
        else:
            folded.append(ch)
    return "".join(folded)


def _fold_characters(text: str) -> tuple[str, array, array]:
    """Per-cluster NFKC, invisible characters dropped, RLO segments reversed.

    ASCII stretches pass through untouched, so only the runs of other
    characters (with the ASCII letter a combining mark may sit on) take the
    per-character path; text with a right-to-left override is folded whole,
    since its reversal can move any character.
    """
    if _BIDI_RLO in text:
        return _fold_segment(text, 0, len(text))
    chars: list[str] = []
    starts, ends = array("q"), array("q")
    cursor = 0
    for run in _NON_ASCII_RUN.finditer(text):
        start, end = run.span()
        if start > cursor and unicodedata.combining(text[start]):
            start -= 1  # the base letter of the cluster
        chars.append(text[cursor:start])
        starts.extend(range(cursor, start))
        ends.extend(range(cursor + 1, start + 1))
        folded, folded_starts, folded_ends = _fold_segment(text, start, end)
        chars.append(folded)
        starts.extend(folded_starts)
        ends.extend(folded_ends)
        cursor = end
    chars.append(text[cursor:])
    starts.extend(range(cursor, len(text)))
    ends.extend(range(cursor + 1, len(text) + 1))
    return "".join(chars), starts, ends


def _fold_segment(text: str, begin: int, stop: int) -> tuple[str, array, array]:
    """``_fold_characters`` for ``text[begin:stop]``, offsets into ``text``."""
    pieces: list[tuple[str, int, int]] = []
    reversed_from: int | None = None
    i = begin
    while i < stop:
        ch = text[i]
        j = i + 1
        while j < stop and unicodedata.combining(text[j]):
            j += 1
        if ch == _BIDI_RLO:
            reversed_from = len(pieces)
        elif reversed_from is not None and ch in _BIDI_END:
            pieces[reversed_from:] = pieces[reversed_from:][::-1]
            reversed_from = None
        if unicodedata.category(ch) != "Cf":
            out = ch if ch.isascii() and j == i + 1 else _cluster_output(text[i:j])
            for piece_char in out:
                pieces.append((piece_char, i, j))
        i = j
    if reversed_from is not None:
        pieces[reversed_from:] = pieces[reversed_from:][::-1]
    chars = "".join(p[0] for p in pieces)
    return chars, array("q", (p[1] for p in pieces)), array("q", (p[2] for p in pieces))


def _rewrite(
    text: str, starts: array, ends: array, pattern: re.Pattern[str], replace: Callable[[str], str | None]
) -> tuple[str, array, array, bool]:
    """Apply ``replace`` to each match; replaced text maps to the whole matched original."""
    built = _Copy(text, starts, ends)
    for match in pattern.finditer(text):
        s, e = match.span()
        new = replace(match.group())
        if new is None or new == match.group():
            continue
        built.keep(s)
        if len(new) == e - s:
            built.keep(e, new)  # same length: keep the per-character map (folds like O -> 0)
        else:
            built.put(new, s, e)
        built.skip(e)
    return built.result()


class _Copy:
    """A rewritten copy of ``text`` built left to right, with the offset map carried along."""

    def __init__(self, text: str, starts: array, ends: array) -> None:
        self.text, self.starts, self.ends = text, starts, ends
        self.out: list[str] = []
        self.new_starts, self.new_ends = array("q"), array("q")
        self.cursor = 0
        self.changed = False

    def keep(self, end: int, same_length: str | None = None) -> None:
        """Copy ``text[cursor:end]`` (or ``same_length`` in its place) with its per-character map."""
        self.out.append(self.text[self.cursor:end] if same_length is None else same_length)
        self.new_starts.extend(self.starts[self.cursor:end])
        self.new_ends.extend(self.ends[self.cursor:end])
        self.changed = self.changed or same_length is not None
        self.cursor = end

    def put(self, new: str, start: int, end: int) -> None:
        """Insert ``new`` for ``text[start:end]``: each new character maps to that whole extent."""
        self.changed = True
        self.out.append(new)
        if end > start:
            lo, hi = min(self.starts[start:end]), max(self.ends[start:end])
            self.new_starts.extend([lo] * len(new))
            self.new_ends.extend([hi] * len(new))

    def skip(self, end: int) -> None:
        self.changed = self.changed or end > self.cursor
        self.cursor = end

    def result(self) -> tuple[str, array, array, bool]:
        if not self.changed:
            return self.text, self.starts, self.ends, False
        self.keep(len(self.text))
        return "".join(self.out), self.new_starts, self.new_ends, True


def _fold_confusables(word: str) -> str | None:
    if not _LATIN.search(word) or not any(ch in _CONFUSABLE_CHARS for ch in word):
        return None
    return word.translate(_CONFUSABLES)


def _fold_digitish(token: str) -> str | None:
    digits = sum(ch.isdigit() for ch in token)
    if digits < 2 or digits == len(token):
        return None
    return token.translate(_DIGIT_FOLD)


def _fold_digitish_run(run: str) -> str | None:
    if sum(ch.isdigit() for ch in run) < 3 or not any(ch.isdigit() for ch in run.split("-")[0] + run[-1]):
        return None
    return run.translate(_DIGIT_FOLD)


def _unescape_html(entity: str) -> str | None:
    out = html.unescape(entity)
    return out if out != entity and out.isprintable() else None


def _unescape_percent(run: str) -> str | None:
    try:
        out = unquote(run, errors="strict")
    except UnicodeDecodeError:
        return None  # not percent-encoded UTF-8: leave it as typed
    return out if out.isprintable() else None


_PASSES: tuple[tuple[re.Pattern[str], Callable[[str], str | None]], ...] = (
    (_HTML_ENTITY, _unescape_html),
    (_PERCENT_RUN, _unescape_percent),
    (_SOFT_BREAK, lambda _: ""),
    (_WORD, _fold_confusables),
    (_DIGITISH, _fold_digitish),
    (_DIGITISH_RUN, _fold_digitish_run),
)


# A run of at least four single characters separated by spaces ("J a n e   R o e"):
# letter-spacing, which hides a value from every word-based recognizer.
_SPACED_RUN = re.compile(r"(?<!\S)\S(?:[ \t]{1,4}\S(?![^\s.,;:!?)\]'\"])){3,}")
_GAP = re.compile(r"[ \t]+")


def _collapse_spaced(text: str, starts: array, ends: array) -> tuple[str, array, array, bool]:
    """Join letter-spaced runs; the widest gaps of a run stay word breaks ("J a n e   R o e" -> "Jane Roe")."""
    built = _Copy(text, starts, ends)
    for match in _SPACED_RUN.finditer(text):
        singles = match.group().split()
        if sum(ch.isalnum() for ch in singles) < max(4, 0.75 * len(singles)):
            continue  # tokenised text ("U . S . A .", "Section 2 . 1 . 1"), not a spaced-out word
        line_end = text.find("\n", match.end())
        line = text[text.rfind("\n", 0, match.start()) + 1:line_end if line_end >= 0 else len(text)].split()
        if len(line) >= 8 and all(len(piece) == 1 and piece.isupper() for piece in line):
            continue  # a letter-spaced heading on a line of its own ("S U P R E M E  C O U R T")
        gaps = [g.span() for g in _GAP.finditer(text, match.start(), match.end())]
        narrow = min(e - s for s, e in gaps)
        built.keep(match.start())
        for gap_start, gap_end in gaps:
            built.keep(gap_start)
            if gap_end - gap_start > narrow:  # a wider gap separates words
                built.put(" ", gap_start, gap_end)
            built.skip(gap_end)
        built.keep(match.end())
    return built.result()


PASSES_KEEPING_BREAKS = tuple(p for p in _PASSES if p[0] is not _SOFT_BREAK)
"""The passes without joining hyphenated line breaks (splits.py judges those itself)."""


def _needs_character_pass(text: str) -> bool:
    return not text.isascii()


def normalize(text: str, passes: Iterable[tuple[re.Pattern[str], Callable[[str], str | None]]] = _PASSES) -> Normalized:
    """Fold ``text`` for detection; see the module docstring for what is folded."""
    if not isinstance(text, str):
        raise TypeError(f"normalize() needs a str, not {type(text).__name__}")
    changed = False
    if _needs_character_pass(text):
        current, starts, ends = _fold_characters(text)
        changed = current != text or len(current) != len(text)
        if not changed:
            # Same characters (e.g. plain accented text): the identity map holds.
            current = text
    else:
        current = text
        starts = ends = None  # type: ignore[assignment]
    for pattern, replace in passes:
        if replace is _fold_confusables and _CONFUSABLE_CHARS.isdisjoint(current):
            continue  # the common case, without a call per word
        if not pattern.search(current):
            continue
        if starts is None or ends is None or not changed:
            starts, ends = array("q", range(len(current))), array("q", range(1, len(current) + 1))
        current, starts, ends, did = _rewrite(current, starts, ends, pattern, replace)
        changed = changed or did
    if _SPACED_RUN.search(current):
        if starts is None or ends is None or not changed:
            starts, ends = array("q", range(len(current))), array("q", range(1, len(current) + 1))
        current, starts, ends, did = _collapse_spaced(current, starts, ends)
        changed = changed or did
    if not changed:
        return Normalized(text, text)
    return Normalized(current, text, starts, ends)


def replace_spans(normalized: Normalized, edits: Iterable[tuple[int, int, str]]) -> Normalized:
    """``normalized`` with ``text[start:end]`` replaced by each new string (sorted, disjoint spans).

    The offset map follows: a same-length replacement keeps its characters' origins,
    any other maps each new character to the whole original extent it replaces.
    """
    text = normalized.text
    if normalized._starts is None or normalized._ends is None:
        starts, ends = array("q", range(len(text))), array("q", range(1, len(text) + 1))
    else:
        starts, ends = normalized._starts, normalized._ends
    out: list[str] = []
    new_starts, new_ends = array("q"), array("q")
    cursor = 0
    for start, end, new in edits:
        out.append(text[cursor:start])
        new_starts.extend(starts[cursor:start])
        new_ends.extend(ends[cursor:start])
        if len(new) == end - start:
            new_starts.extend(starts[start:end])
            new_ends.extend(ends[start:end])
        elif new:
            lo, hi = min(starts[start:end]), max(ends[start:end])
            new_starts.extend([lo] * len(new))
            new_ends.extend([hi] * len(new))
        out.append(new)
        cursor = end
    out.append(text[cursor:])
    new_starts.extend(starts[cursor:])
    new_ends.extend(ends[cursor:])
    return Normalized("".join(out), normalized.original, new_starts, new_ends)
