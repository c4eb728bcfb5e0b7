"""Caught rate per evasion transform: labeled data rewritten by privroute.mutate, then redacted.

For each transform chain, every applicable value of a direct-identifier type is
rewritten (mutate.py), the text is redacted exactly as ``privroute.redact``
does, and the rewritten value counts as caught when nothing of it reaches the
output: not verbatim, not with white space squeezed out, and none of its words
(3+ letters or digits) left anywhere in the output (the ``caught`` rule of
``privroute eval`` on adversarial data). ``baseline`` is the caught rate of the
same values unchanged, and ``robustness`` the share of those still caught once rewritten
(what the transform costs the detector, apart from what it misses anyway).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .evaluate import Example, value_caught
from .mutate import mutate_text

__all__ = ["TransformScore", "evaluate_mutations", "labeled_spans"]


@dataclass(frozen=True)
class TransformScore:
    transform: str
    values: int
    caught: int
    baseline_caught: int
    kept: int = 0
    """Values caught both unchanged and rewritten: ``kept / baseline_caught`` is what the transform
    costs the detector, apart from what it misses anyway."""

    @property
    def rate(self) -> float | None:
        return self.caught / self.values if self.values else None

    @property
    def baseline(self) -> float | None:
        return self.baseline_caught / self.values if self.values else None

    @property
    def robustness(self) -> float | None:
        return self.kept / self.baseline_caught if self.baseline_caught else None

    def as_dict(self) -> dict[str, Any]:
        def r(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {"values": self.values, "caught": self.caught, "rate": r(self.rate), "baseline": r(self.baseline),
                "robustness": r(self.robustness)}


def labeled_spans(example: Example) -> list[tuple[str, int, int]]:
    """(label, start, end) of an example: its spans, or its adversarial values' first occurrences."""
    if example.spans:
        return [(s.label, s.start, s.end) for s in example.spans]
    spans, taken = [], []
    for value in example.values:
        start = example.text.find(value)
        while start >= 0 and any(lo < start + len(value) and start < hi for lo, hi in taken):
            start = example.text.find(value, start + 1)
        if start >= 0:
            taken.append((start, start + len(value)))
            spans.append(("PII", start, start + len(value)))
    return spans


def evaluate_mutations(examples: Sequence[Example], redact: Callable[[str], str], chains: Sequence[str],
                       seed: int = 0) -> list[TransformScore]:
    """Score ``redact`` on every example rewritten by each chain (``"hex"``, ``"case+homoglyph"``)."""
    baseline_cache: dict[int, str] = {}

    def baseline_output(index: int) -> str:
        if index not in baseline_cache:
            baseline_cache[index] = redact(examples[index].text)
        return baseline_cache[index]

    scores = []
    for chain in chains:
        values = caught = base = kept = 0
        for index, example in enumerate(examples):
            spans = labeled_spans(example)
            mutated = mutate_text(example.text, spans, chain, f"{seed}:{index}")
            rewritten = [s for s in mutated.spans if s.mutated]
            if not rewritten:
                continue
            output = redact(mutated.text)
            original = baseline_output(index)
            originals = _originals(sorted(spans, key=lambda s: (s[1], s[2])), mutated.spans)
            for span, source in zip(mutated.spans, originals):
                if not span.mutated or source is None:
                    continue
                values += 1
                now = value_caught(mutated.text[span.start:span.end], output)
                before = value_caught(example.text[source[1]:source[2]], original)
                caught += now
                base += before
                kept += now and before
        scores.append(TransformScore(chain, values, caught, base, kept))
    return scores


def _originals(spans: list[tuple[str, int, int]], mutated: Sequence[Any]) -> list[tuple[str, int, int] | None]:
    """The original span of each mutated span (mutate_text keeps order and drops overlapping ones)."""
    out: list[tuple[str, int, int] | None] = []
    cursor, kept = 0, []
    for span in spans:
        if span[1] < cursor:
            continue
        kept.append(span)
        cursor = span[2]
    for index, _ in enumerate(mutated):
        out.append(kept[index] if index < len(kept) else None)
    return out
