"""The detector contract: text in, entities (typed character spans) out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

__all__ = ["BaseDetector", "Detector", "Entity"]


@dataclass(frozen=True, order=True)
class Entity:
    """One detected span of ``text[start:end]``, end-exclusive, in the caller's string.

    The value itself is deliberately not stored: an Entity can be logged, audited
    or printed without leaking what it points at.
    """

    start: int
    end: int
    type: str
    score: float = field(default=1.0, compare=False)
    source: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end:
            raise ValueError(f"bad entity span {self.start}..{self.end}")

    @property
    def length(self) -> int:
        return self.end - self.start

    def overlaps(self, other: "Entity") -> bool:
        return self.start < other.end and other.start < self.end


@runtime_checkable
class Detector(Protocol):
    """Anything that finds PII spans. Implementations must be thread-safe.

    ``detect`` returns non-overlapping entities sorted by start offset, with
    offsets into the exact string it was given (after any internal normalisation
    has been mapped back). It raises on failure; it never returns a partial
    result silently, because the router fails closed on an exception.

    ``detect_many`` is ``[detect(t) for t in texts]``, which an implementation may
    compute together (spaCy's ``nlp.pipe``); batch redaction calls it through
    ``privroute.detect.chunk``. ``BaseDetector`` supplies the one-by-one default.
    """

    name: str

    def detect(self, text: str) -> tuple[Entity, ...]: ...

    def detect_many(self, texts: Sequence[str]) -> Sequence[tuple[Entity, ...]]: ...


class BaseDetector:
    """A detector written as ``detect`` alone; ``detect_many`` calls it once per text."""

    name: str = "detector"

    def detect(self, text: str) -> tuple[Entity, ...]:
        raise NotImplementedError

    def detect_many(self, texts: Sequence[str]) -> list[tuple[Entity, ...]]:
        return [tuple(self.detect(text)) for text in texts]
