"""Recognizer plumbing: checksums, hits, context, and the Presidio adapters.

privroute's own recognizers are plain functions ``find(text) -> Iterable[Hit]``
(patterns.py, names.py); ``make_finder_recognizer`` runs a group of them inside
Presidio as one recognizer, which costs far less than one Presidio
PatternRecognizer per regex. ``make_spec_recognizer`` turns a policy's
``detect.recognizers`` entry (regexes with scores, context words, a deny list,
a checksum) into a Presidio recognizer that honours the spec's own regex flags.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..policy import RecognizerSpec

__all__ = [
    "CHECKSUMS",
    "Hit",
    "context_before",
    "iban_ok",
    "luhn_ok",
    "make_finder_recognizer",
    "make_spec_recognizer",
    "mod97_ok",
    "npi_ok",
    "words_pattern",
]

CONTEXT_WINDOW = 48
CONTEXT_BOOST = 0.35


@dataclass(frozen=True)
class Hit:
    """A finder's result, in the coordinates of the text it was given."""

    start: int
    end: int
    type: str
    score: float


Finder = Callable[[str], Iterable[Hit]]


# ---------------------------------------------------------------- checksums


def luhn_ok(digits: str) -> bool:
    """Luhn (mod 10) over a string of digits: card numbers, NPI, IMEI."""
    if not digits.isdigit() or len(digits) < 2:
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_ok(value: str) -> bool:
    """ISO 13616: country, check digits, BBAN; any case, spaces ignored."""
    compact = re.sub(r"[\s-]", "", value).upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", compact):
        return False
    rearranged = compact[4:] + compact[:4]
    numeric = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(numeric) % 97 == 1


def mod97_ok(value: str) -> bool:
    """ISO 7064 MOD 97-10 over the digits of ``value`` (remainder 1)."""
    digits = re.sub(r"\D", "", value)
    return bool(digits) and int(digits) % 97 == 1


def npi_ok(value: str) -> bool:
    """US National Provider Identifier: Luhn over '80840' + the 10 digits."""
    digits = re.sub(r"\D", "", value)
    return len(digits) == 10 and luhn_ok("80840" + digits)


CHECKSUMS: dict[str, Callable[[str], bool]] = {
    "luhn": lambda value: luhn_ok(re.sub(r"\D", "", value)),
    "iban": iban_ok,
    "mod97": mod97_ok,
    "npi": npi_ok,
}


def context_before(text: str, start: int, words: re.Pattern[str], window: int = CONTEXT_WINDOW) -> bool:
    """Whether a context word occurs in the ``window`` characters before ``start``."""
    return words.search(text, max(0, start - window), start) is not None


def words_pattern(words: Sequence[str]) -> re.Pattern[str] | None:
    """A case-insensitive whole-word alternation of ``words`` (None when empty)."""
    cleaned = sorted({w.strip() for w in words if w.strip()}, key=len, reverse=True)
    if not cleaned:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in cleaned) + r")(?!\w)", re.IGNORECASE)


# ---------------------------------------------------------------- Presidio adapters


def _entity_recognizer_base() -> Any:
    from presidio_analyzer import EntityRecognizer

    return EntityRecognizer


def _result(entity_type: str, start: int, end: int, score: float, name: str, identifier: str) -> Any:
    from presidio_analyzer import AnalysisExplanation, RecognizerResult

    explanation = AnalysisExplanation(recognizer=name, original_score=score)
    # Presidio matches results to their recognizer by this identifier (context step).
    return RecognizerResult(entity_type, start, end, score, analysis_explanation=explanation,
                            recognition_metadata={"recognizer_name": name, "recognizer_identifier": identifier})


def make_finder_recognizer(name: str, entities: Sequence[str], finders: Sequence[Any], language: str,
                           *, with_doc: bool = False) -> Any:
    """A Presidio recognizer running ``finders`` (privroute's own recognizers).

    With ``with_doc`` each finder is called as ``finder(text, doc)``, ``doc``
    being the spaCy Doc Presidio already computed (for part-of-speech checks).
    """
    base = _entity_recognizer_base()

    class FinderRecognizer(base):  # type: ignore[misc, valid-type]
        def load(self) -> None:
            return None

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            wanted = set(entities) if entities else None
            doc = getattr(nlp_artifacts, "tokens", None)
            out = []
            for finder in finders:
                for hit in (finder(text, doc) if with_doc else finder(text)):
                    if wanted is None or hit.type in wanted:
                        out.append(_result(hit.type, hit.start, hit.end, hit.score, self.name, self.id))
            return out

    return FinderRecognizer(supported_entities=list(entities), name=name, supported_language=language,
                            context=[])


def make_spec_recognizer(spec: "RecognizerSpec", language: str) -> Any:
    """A Presidio recognizer for one policy ``detect.recognizers`` entry."""
    flags = 0
    for flag in spec.flags:
        flags |= getattr(re, flag)
    patterns = [(re.compile(p.regex, flags), p.score) for p in spec.patterns]
    deny = words_pattern(spec.deny_list)
    if deny is not None and "IGNORECASE" not in spec.flags:
        deny = re.compile(deny.pattern)
    context = words_pattern(spec.context)
    check = CHECKSUMS.get(spec.checksum)

    def find(text: str) -> Iterable[Hit]:
        for regex, score in patterns:
            for match in regex.finditer(text):
                start, end = match.span(1) if regex.groups and match.group(1) is not None else match.span()
                if start == end:
                    continue
                if check is not None and not check(text[start:end]):
                    continue
                boosted = score
                if context is not None and context_before(text, start, context):
                    boosted = min(1.0, score + CONTEXT_BOOST)
                yield Hit(start, end, spec.entity, boosted)
        if deny is not None:
            for match in deny.finditer(text):
                yield Hit(match.start(), match.end(), spec.entity, 1.0)

    return make_finder_recognizer(f"policy:{spec.name}", [spec.entity], [find], language)

