"""The phone recognizer's shortcuts: faster than Presidio's, never finding less or more."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from privroute.detect.phones import (
    MIN_DIGITS,
    distinct_regions,
    make_phone_recognizer,
    min_digits,
)
from tests.paths import SHARED_DATA

DATA = SHARED_DATA


def _found(recognizer: Any, text: str) -> list[tuple[int, int, str, float]]:
    return sorted((r.start, r.end, r.entity_type, r.score) for r in recognizer.analyze(text, ["PHONE_NUMBER"]))


@pytest.fixture(scope="module")
def recognizers() -> tuple[Any, Any]:
    return PhoneRecognizer(), make_phone_recognizer("en")


def _labeled_texts() -> list[str]:
    texts = [row["full_text"] for row in json.loads((DATA / "presidio_synth_v2.json").read_text("utf-8"))]
    texts += [json.loads(line)["text"] for line in (DATA / "adversarial_dev.jsonl").read_text("utf-8").splitlines()
              if line.strip()]
    return texts


# Digits in the groupings, separators and prefixes numbers are written with, and the
# things around them that are not numbers (years, house numbers, dates, times).
_PIECES = st.sampled_from([
    "+", "+1 ", "+44 ", "+49 ", "+972-", "00", "011 ", "0", "(", ")", "-", ".", " ", "/", "x", " ext. ",
    "tel ", "call ", "on ", ":", "\n", "2021", "12", "7", "555", "0147", "212", "20", "7946", "0958",
    "030", "1234567", "98765", "3312", "06", "9", "4", "55", "11", "91", "98", "2O", "＋",
])
_SOUP = st.lists(st.one_of(_PIECES, st.text(alphabet="0123456789", min_size=1, max_size=12)),
                 max_size=24).map("".join)


class TestSameAsPresidio:
    def test_labeled_data(self, recognizers: tuple[Any, Any]) -> None:
        """On every labeled text (synthetic PII and adversarial), the same spans as Presidio's recognizer."""
        presidio, fast = recognizers
        texts = _labeled_texts()
        assert len(texts) > 1000
        differing = [index for index, text in enumerate(texts) if _found(presidio, text) != _found(fast, text)]
        assert differing == []

    @settings(max_examples=400, deadline=None)
    @given(text=_SOUP)
    def test_digit_soup(self, recognizers: tuple[Any, Any], text: str) -> None:
        """Generated runs of digits, prefixes and separators: the same spans as Presidio's recognizer."""
        presidio, fast = recognizers
        assert _found(fast, text) == _found(presidio, text)

    def test_finds_numbers_of_every_scanned_region(self, recognizers: tuple[Any, Any]) -> None:
        """A US, a UK, a German, an Israeli and an international number are all found."""
        _, fast = recognizers
        text = ("US (212) 555-0147, UK 020 7946 0958, DE 030 12345678, IL 03-1234567, "
                "intl +91 98765 43210.")
        assert len(_found(fast, text)) == 5


class TestShortcuts:
    def test_canada_is_not_scanned_twice(self) -> None:
        """Canada parses like the United States, so only the first of the two is scanned."""
        assert distinct_regions(("US", "GB", "CA", "DE")) == ("US", "GB", "DE")

    def test_unknown_regions_are_kept(self) -> None:
        """A region phonenumbers does not know is left for Presidio to handle as it does."""
        assert distinct_regions(("US", "XX")) == ("US", "XX")

    def test_digit_floor_per_region(self) -> None:
        """Germany accepts 4-digit numbers; the others need 6 digits without a plus sign."""
        assert min_digits("DE") == MIN_DIGITS == 4
        assert min_digits("US") == min_digits("GB") == 6
        assert min_digits("XX") == MIN_DIGITS

    def test_short_candidates_are_never_parsed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """House numbers reach no parse, a year only Germany's; a full number still does."""
        import phonenumbers.phonenumbermatcher as matcher_module

        parsed: list[str] = []
        original = matcher_module.PhoneNumberMatcher._parse_and_verify

        def spy(self: Any, candidate: str, offset: int) -> Any:
            parsed.append(candidate)
            return original(self, candidate, offset)

        monkeypatch.setattr(matcher_module.PhoneNumberMatcher, "_parse_and_verify", spy)
        fast = make_phone_recognizer("en")
        assert _found(fast, "At 12 Elm St, room 405.") == []
        assert parsed == []
        assert _found(fast, "Since 2021.") == []
        assert parsed == ["2021"]  # one region of seven
        assert len(_found(fast, "Call (212) 555-0147.")) == 1
        assert parsed
