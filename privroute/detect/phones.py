"""Presidio's phone recognizer, minus the parses that cannot succeed.

Presidio runs python-phonenumbers' matcher once per region, and the matcher
parses every run of digits it meets (years, house numbers, amounts) in every
region: in batch redaction that was the costliest recognizer after spaCy. Two
shortcuts, neither of which changes what is found:

* a candidate with fewer digits than any number the scanned region could
  accept is not parsed (``min_digits``): a year or a house number is never a
  valid number, and neither is any part of it;
* a region that parses exactly like one already scanned (same calling code,
  same prefixes: Canada after the United States) is not scanned again, since
  Presidio reports the region of the number, not of the scan.

Two more keep hostile text (``1/1/1/...``, ``1*1*1*...``: a candidate every few
characters) near the cost of prose, again without changing what is found:

* the search for the next candidate after a position is the same for every
  region, so the regions scanning one text share it;
* the matcher's verdict on a candidate depends only on the candidate, the
  character before it and the three after it: a candidate met again in the same
  surroundings gets the same verdict without parsing it again.

``tests/test_phones.py`` checks all of them against Presidio's own recognizer on the
labeled data and on generated digit soup.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

__all__ = ["MIN_DIGITS", "distinct_regions", "make_phone_recognizer", "min_digits"]

MIN_DIGITS = 4
"""Digits below which no candidate holds a valid number, whatever the region.

The shortest valid national number anywhere has 4 digits in phonenumbers'
metadata and a calling code adds at least one; a national-prefix transform
removes at most one. Digits of an extension only add to a candidate's count,
and every part of a candidate (an inner match) has at most its digits.
"""
_PLUS_SIGNS = "+\uff0b"
_SUFFIX_CHARS = 3
"""Characters after a candidate the matcher reads (a time-stamp's ``:mm``, a letter)."""
_SEEN_MAX = 4096


def _digits(text: str) -> int:
    return sum(char.isdigit() for char in text)


@lru_cache(maxsize=None)
def min_digits(region: str) -> int:
    """Fewest digits of a candidate without a plus sign that ``region``'s scan can accept.

    Read as a national number, it needs the shortest length valid in any region
    sharing the calling code (Canada's 7 for the United States); dialled through
    an international prefix (2 digits or more), a calling code and a number,
    at least ``MIN_DIGITS + 2``. A candidate with a plus sign needs ``MIN_DIGITS``.
    """
    from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata

    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return MIN_DIGITS
    lengths = [length for code in COUNTRY_CODE_TO_REGION_CODE.get(metadata.country_code, ())
               if (shared := PhoneMetadata.metadata_for_region(code)) is not None
               for length in shared.general_desc.possible_length if length > 0]
    national = min(lengths, default=MIN_DIGITS)
    prefix = metadata.international_prefix or ""
    one_digit_prefix = not prefix or any(re.fullmatch(prefix, digit) for digit in "0123456789")
    return max(MIN_DIGITS, min(national, MIN_DIGITS + (1 if one_digit_prefix else 2)))


@lru_cache(maxsize=1)
def _matcher_class() -> Any:
    """PhoneNumberMatcher that never parses a candidate too short to be a number.

    It overrides a private method; if a later phonenumbers lacks it, the plain
    matcher is used, which is slower and finds the same.
    """
    from phonenumbers import PhoneNumberMatcher

    if not callable(getattr(PhoneNumberMatcher, "_extract_match", None)):
        return PhoneNumberMatcher

    from phonenumbers import PhoneNumberMatch
    from phonenumbers import phonenumbermatcher as upstream

    pattern, second_start = getattr(upstream, "_PATTERN", None), getattr(upstream, "_SECOND_NUMBER_START_PATTERN", None)

    class ShortCircuitMatcher(PhoneNumberMatcher):  # type: ignore[misc]
        def __init__(self, *args: Any, candidates: dict[int, Any] | None = None, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._seen: dict[tuple[str, str, str], tuple[int, str, Any] | None] = {}
            # Where the next candidate after an index is does not depend on the region:
            # the regions scanning one text share these (index -> (start, candidate) or None).
            self._candidates = candidates if candidates is not None and pattern is not None else None

        def _find(self, index: int) -> Any:
            if self._candidates is None:
                return super()._find(index)
            # Upstream's loop (8.13 to 9.0), with the candidate search shared between regions.
            while self._max_tries > 0:
                if index not in self._candidates:
                    found = pattern.search(self.text, index)
                    self._candidates[index] = None if found is None else (found.start(), self._trim_after_first_match(
                        second_start, self.text[found.start():found.end()]))
                located = self._candidates[index]
                if located is None:
                    return None
                start, candidate = located
                if len(candidate) >= getattr(self, "_min_candidate_length", 1):
                    match = self._extract_match(candidate, start)
                    if match is not None:
                        return match
                    self._max_tries -= 1
                index = start + len(candidate)
            return None

        def _extract_match(self, candidate: str, offset: int) -> Any:
            needed = MIN_DIGITS if any(sign in candidate for sign in _PLUS_SIGNS) else min_digits(
                self.preferred_region)
            if _digits(candidate) < needed:
                return None
            # What the matcher decides depends on the candidate, the character before it
            # and the few after it (letters, time-stamp suffixes), nothing else: a candidate
            # seen before in the same surroundings gets the same answer, moved to here.
            # Tables and lists repeat candidates; a text repeating one costs one parse.
            end = offset + len(candidate)
            key = (self.text[offset - 1:offset], candidate, self.text[end:end + _SUFFIX_CHARS])
            if key in self._seen:
                known = self._seen[key]
                return None if known is None else PhoneNumberMatch(offset + known[0], known[1], known[2])
            match = super()._extract_match(candidate, offset)
            if len(self._seen) < _SEEN_MAX:
                self._seen[key] = None if match is None else (match.start - offset, match.raw_string, match.number)
            return match

    return ShortCircuitMatcher


def distinct_regions(regions: tuple[str, ...]) -> tuple[str, ...]:
    """``regions`` without those that parse numbers exactly like an earlier one."""
    from phonenumbers import PhoneMetadata

    seen, kept = set(), []
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region(region)
        if metadata is None:
            kept.append(region)  # unknown to phonenumbers: let Presidio treat it as it does
            continue
        rules = (metadata.country_code, metadata.international_prefix, metadata.national_prefix,
                 metadata.national_prefix_for_parsing, metadata.national_prefix_transform_rule)
        if rules not in seen:
            seen.add(rules)
            kept.append(region)
    return tuple(kept)


def make_phone_recognizer(language: str) -> Any:
    """Presidio's PhoneRecognizer for ``language``, with the shortcuts above."""
    import phonenumbers
    from phonenumbers import PhoneNumberMatcher
    from presidio_analyzer import EntityRecognizer
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    matcher = _matcher_class()

    class FastPhoneRecognizer(PhoneRecognizer):  # type: ignore[misc]
        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            # Presidio's loop (2.2.366), with the matcher above.
            results = []
            candidates: dict[int, Any] = {}
            for region in self.supported_regions:
                scan = (matcher(text, region, leniency=self.leniency, candidates=candidates)
                        if matcher is not PhoneNumberMatcher else matcher(text, region, leniency=self.leniency))
                for match in scan:
                    try:
                        found = phonenumbers.region_code_for_number(phonenumbers.parse(text[match.start:match.end]))
                    except phonenumbers.NumberParseException:
                        found = region
                    results.append(self._get_recognizer_result(match, text, found, nlp_artifacts))
            return EntityRecognizer.remove_duplicates(results)

    recognizer = FastPhoneRecognizer(supported_language=language)
    recognizer.supported_regions = distinct_regions(tuple(recognizer.supported_regions))
    return recognizer
