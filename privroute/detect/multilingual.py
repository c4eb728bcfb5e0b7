"""The detector for a policy that covers several languages: one pipeline per language.

Each segment of a text (lang.py: runs of lines in one language) is read by the
detector of its language, a ``PresidioDetector`` on that language's spaCy pipeline
and pack; the spans come back in the text's offsets. A person found in one
segment is then found in the others (an English question naming the applicant of
a French judgment), as propagation does within one (document.py).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from .base import Entity
from .lang import Segment, model_for, segments

if TYPE_CHECKING:
    from ..policy import DetectConfig

__all__ = ["MultilingualDetector", "single_language_config"]


def single_language_config(config: "DetectConfig", code: str) -> "DetectConfig":
    """``config`` for one language: its pipeline, no identification."""
    return config.model_copy(update={"language": code, "spacy_model": model_for(config, code),
                                     "languages": (code,), "identify_language": False,
                                     "unknown_language": "redact-with-en", "models": {}})


class MultilingualDetector:
    """Reads each segment of a text in its own language; thread-safe like the detectors it holds."""

    name = "presidio"

    def __init__(self, config: "DetectConfig", build: Callable[["DetectConfig"], Any],
                 merge: Callable[[Iterable[Entity]], tuple[Entity, ...]]) -> None:
        """``build``: the detector of one language's config (presidio.py's, which has ``keep_context``);
        ``merge``: how overlapping spans become one."""
        self.config = config
        self._build, self._merge = build, merge
        self._lock = threading.Lock()
        self._detectors: dict[str, Any] = {}
        self._for(config.languages[0])  # the primary pipeline loads now: a missing one fails here

    def __repr__(self) -> str:
        return f"MultilingualDetector(languages={list(self.config.languages)})"

    def _for(self, code: str) -> Any:
        """The detector of one language, built the first time that language is met."""
        with self._lock:
            detector = self._detectors.get(code)
        if detector is None:
            detector = self._build(single_language_config(self.config, code))
            with self._lock:
                self._detectors[code] = detector
        return detector

    def detect(self, text: str) -> tuple[Entity, ...]:
        if not isinstance(text, str):
            raise TypeError(f"detect() needs a str, not {type(text).__name__}")
        if not text.strip():
            return ()
        parts = segments(text, self.config)
        if len(parts) == 1:
            return self._for(parts[0].language).detect(text)
        found: list[Entity] = []
        for part in parts:
            found.extend(_shift(self._for(part.language).detect(text[part.start:part.end]), part.start))
        return self._across(text, parts, found)

    def detect_many(self, texts: Sequence[str]) -> list[tuple[Entity, ...]]:
        """Per language, one ``detect_many`` over every segment in it; then as ``detect``."""
        plans: list[tuple[Segment, ...]] = []
        work: dict[str, list[tuple[int, Segment]]] = defaultdict(list)
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"detect_many() needs str items, not {type(text).__name__}")
            parts = segments(text, self.config) if text.strip() else ()
            plans.append(parts)
            for part in parts:
                work[part.language].append((index, part))
        found: list[list[Entity]] = [[] for _ in texts]
        for code, items in work.items():
            results = self._for(code).detect_many([texts[i][p.start:p.end] for i, p in items])
            for (index, part), entities in zip(items, results, strict=True):
                found[index].extend(_shift(entities, part.start))
        out: list[tuple[Entity, ...]] = []
        for text, parts, entities in zip(texts, plans, found, strict=True):
            out.append(self._across(text, parts, entities) if len(parts) > 1 else tuple(sorted(entities)))
        return out

    def _across(self, text: str, parts: Sequence[Segment], entities: list[Entity]) -> tuple[Entity, ...]:
        """Merge the segments' spans; propagate persons from one segment into the others."""
        from .document import propagate

        if self.config.propagate:
            # A word is chased only where every language present calls it a name ("Cour" is
            # not English, but it is French): each reader's propagation, intersected.
            found: set[Entity] | None = None
            for code in dict.fromkeys(p.language for p in parts):
                context, names = self._for(code).keep_context
                mine = set(propagate(text, entities, context, names))
                found = mine if found is None else found & mine
            entities = entities + sorted(found or ())
        return self._merge(entities)


def _shift(entities: Sequence[Entity], offset: int) -> list[Entity]:
    return [Entity(e.start + offset, e.end + offset, e.type, e.score, e.source) for e in entities]
