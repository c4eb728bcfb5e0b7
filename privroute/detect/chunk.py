"""How text reaches a detector: one chunker for every caller.

A detector sees texts of a bounded size. Long texts are cut into pieces at the
latest paragraph, line or space break (``pieces``); many short strings (CSV cells,
JSON values) are packed together and scanned at once (``detect_documents``); and a
detector's ``detect_many`` gets bounded batches, so a huge document's pieces are
never all held as spaCy Docs at once. Entities come back in each string's own
offsets.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .base import Detector, Entity

__all__ = ["MANY_CHARS", "PACK_CHARS", "SPLIT_CHARS", "detect_documents", "detect_many", "pieces"]

PACK_CHARS = 10_000
"""Short strings (CSV cells, JSON values) are scanned together, up to this many characters."""
SPLIT_CHARS = 10_000
"""Longer strings are scanned in pieces cut at paragraph or line breaks: Presidio's context
enhancer is quadratic in a text's length, and spaCy refuses texts over 1M characters."""
MANY_CHARS = 200_000
"""Characters handed to one ``detect_many`` call (its spaCy Docs are all alive at once)."""
_SEPARATOR = "\n\n"
_HAS_WORD = re.compile(r"[^\W_]")
_BREAKS = ("\n\n", "\n", " ", "\t")


def pieces(text: str, size: int = SPLIT_CHARS) -> list[tuple[int, str]]:
    """(offset, piece) of at most ``size`` characters, cut after the latest paragraph, line or space break
    in the piece's second half (else hard at ``size``)."""
    out, start = [], 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            for mark in _BREAKS:
                cut = text.rfind(mark, start + size // 2, end)
                if cut > start:
                    end = cut + len(mark)
                    break
        out.append((start, text[start:end]))
        start = end
    return out


# A unit is one text handed to the detector, and where its entities belong:
# (string index, start of that string's part in the unit, its end, the part's offset in the string).
_Unit = tuple[str, tuple[tuple[int, int, int, int], ...]]


def detect_many(detector: Detector, only: Sequence[str], strings: Sequence[str]) -> tuple[tuple[Entity, ...], ...]:
    """Entities for each string, scanning short strings together and long ones in pieces.

    Packed strings are joined with a blank line; a span that crosses into a
    neighbour is clipped to each string it touches, so nothing flagged is lost.
    """
    return detect_documents(detector, only, [strings])[0]


def detect_documents(detector: Detector, only: Sequence[str],
                     documents: Sequence[Sequence[str]]) -> list[tuple[tuple[Entity, ...], ...]]:
    """``detect_many`` for several documents, with one detector call over all their units."""
    plans = [_plan(strings) for strings in documents]
    found = iter(_detect_texts(detector, [text for plan in plans for text, _ in plan]))
    results = []
    for strings, plan in zip(documents, plans):
        per_string: list[list[Entity]] = [[] for _ in strings]
        for _, parts in plan:
            entities = next(found)
            for i, lo, hi, offset in parts:
                for entity in entities:
                    start, end = max(entity.start, lo), min(entity.end, hi)
                    if start < end and (len(parts) == 1 or strings[i][start - lo:end - lo].strip()):
                        per_string[i].append(Entity(start - lo + offset, end - lo + offset, entity.type,
                                                    entity.score, entity.source))
        results.append(tuple(tuple(sorted(e for e in ents if not only or e.type in only)) for ents in per_string))
    return results


def _plan(strings: Sequence[str]) -> list[_Unit]:
    """One document's units: long strings in pieces, short ones packed up to PACK_CHARS."""
    units: list[_Unit] = []
    pack: list[int] = []
    pack_chars = 0

    def flush() -> None:
        nonlocal pack, pack_chars
        if pack:
            parts, offset = [], 0
            for i in pack:
                parts.append((i, offset, offset + len(strings[i]), 0))
                offset += len(strings[i]) + len(_SEPARATOR)
            units.append((_SEPARATOR.join(strings[i] for i in pack), tuple(parts)))
        pack, pack_chars = [], 0

    for index, text in enumerate(strings):
        if not _HAS_WORD.search(text):
            continue
        if len(text) > SPLIT_CHARS:
            units.extend((piece, ((index, 0, len(piece), offset),)) for offset, piece in pieces(text))
            continue
        if pack_chars + len(text) > PACK_CHARS:
            flush()
        pack.append(index)
        pack_chars += len(text) + len(_SEPARATOR)
    flush()
    return units


def _detect_texts(detector: Detector, texts: list[str]) -> list[tuple[Entity, ...]]:
    """The detector's entities for each text: batched where it can (``detect_many``)."""
    found: list[tuple[Entity, ...]] = []
    start = 0
    while start < len(texts):
        # Bounded, so a huge document's pieces are never all held as spaCy Docs at once.
        end, size = start, 0
        while end < len(texts) and (end == start or size + len(texts[end]) <= MANY_CHARS):
            size += len(texts[end])
            end += 1
        found.extend(tuple(entities) for entities in detector.detect_many(texts[start:end]))
        start = end
    return found
