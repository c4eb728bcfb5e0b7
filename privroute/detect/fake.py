"""A scripted detector: finds the values and patterns it is given, records what it saw.

Public API beside ``FakeBackend`` (re-exported by ``privroute.testing``): tests of the
router, dispatch, classification and resilience use it, so they run without spaCy or
Presidio and in milliseconds. It is a narrow stand-in: whether real text is detected
well is the real detector's tests' business.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence

from .base import BaseDetector, Entity

__all__ = ["FakeDetector"]


class FakeDetector(BaseDetector):
    """Finds each literal in ``values`` (value -> entity type) and each regex in ``patterns``.

    Matches are whole-string occurrences, case-sensitive, sorted and never
    overlapping (the longest wins, as in the real detector). ``error`` makes every
    call raise it, to test that callers fail closed. ``calls`` counts the texts seen.
    """

    name = "fake-detector"

    def __init__(self, values: Mapping[str, str] | None = None, *, patterns: Mapping[str, str] | None = None,
                 error: BaseException | None = None) -> None:
        self._values = dict(values or {})
        self._patterns = {entity: re.compile(regex) for regex, entity in (patterns or {}).items()}
        self._error = error
        self._lock = threading.Lock()
        self.calls = 0

    def __repr__(self) -> str:
        return f"FakeDetector(values={len(self._values)}, patterns={len(self._patterns)})"

    def detect(self, text: str) -> tuple[Entity, ...]:
        if not isinstance(text, str):
            raise TypeError(f"detect() needs a str, not {type(text).__name__}")
        with self._lock:
            self.calls += 1
        if self._error is not None:
            raise self._error
        found: list[Entity] = []
        for value, entity_type in self._values.items():
            start = text.find(value)
            while value and start >= 0:
                found.append(Entity(start, start + len(value), entity_type, 1.0, "fake"))
                start = text.find(value, start + len(value))
        for entity_type, pattern in self._patterns.items():
            found.extend(Entity(m.start(), m.end(), entity_type, 1.0, "fake")
                         for m in pattern.finditer(text) if m.end() > m.start())
        return _disjoint(found)

    def detect_many(self, texts: Sequence[str]) -> list[tuple[Entity, ...]]:
        return [self.detect(text) for text in texts]


def _disjoint(entities: list[Entity]) -> tuple[Entity, ...]:
    kept: list[Entity] = []
    for entity in sorted(entities, key=lambda e: (-e.length, e.start)):
        if not any(entity.overlaps(other) for other in kept):
            kept.append(entity)
    return tuple(sorted(kept))
