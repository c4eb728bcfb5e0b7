"""The evasion generator: seeded, composable rewrites whose label spans stay aligned."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privroute.mutate import TRANSFORMS, mutate_text, transform_names

pytestmark = pytest.mark.fast

TEXT = "Call Jane Roe at 212-555-0147 or jane.roe@example.com; card 4111 1111 1111 1111, born 1968-03-14."
SPANS = [("PERSON", 5, 13), ("PHONE_NUMBER", 17, 29), ("EMAIL_ADDRESS", 33, 53), ("CREDIT_CARD", 60, 79),
         ("DATE_TIME", 86, 96)]
CHAINS = [*TRANSFORMS, "case+homoglyph", "leetspeak+zero_width", "separators+base64", "spacing+line_split"]


@st.composite
def labeled_texts(draw: st.DrawFn) -> tuple[str, list[tuple[str, int, int]]]:
    """Random text with random non-overlapping labeled spans."""
    pieces = draw(st.lists(st.tuples(st.text(max_size=8), st.text(min_size=1, max_size=20),
                                     st.sampled_from(["PERSON", "EMAIL_ADDRESS", "CREDIT_CARD", "GPE"])),
                           max_size=5))
    text, spans = "", []
    for gap, value, label in pieces:
        text += gap
        spans.append((label, len(text), len(text) + len(value)))
        text += value
    return text + draw(st.text(max_size=8)), spans


class TestAlignment:
    @settings(max_examples=150, deadline=None)
    @given(labeled_texts(), st.sampled_from(CHAINS), st.integers(0, 10_000))
    def test_every_span_is_its_rewritten_value(self, labeled: tuple, chain: str, seed: int) -> None:
        text, spans = labeled
        mutated = mutate_text(text, spans, chain, seed)
        assert len(mutated.spans) == len(spans)
        pieces, cursor = [], 0
        for (label, start, end), span in zip(spans, mutated.spans):
            assert span.label == label
            value = mutated.text[span.start:span.end]
            pieces.append((text[cursor:start], value))
            cursor = end
            if span.mutated:
                assert value != text[start:end]
            else:
                assert value == text[start:end]
        # Outside the spans nothing moved: the text is the old gaps around the new values.
        rebuilt = "".join(gap + value for gap, value in pieces) + text[cursor:]
        assert rebuilt == mutated.text

    @pytest.mark.parametrize("chain", CHAINS)
    def test_seeded_and_applied(self, chain: str) -> None:
        first = mutate_text(TEXT, SPANS, chain, 7)
        assert first == mutate_text(TEXT, SPANS, chain, 7)
        assert any(span.mutated for span in first.spans)

    def test_types_outside_direct_identifiers_are_kept(self) -> None:
        mutated = mutate_text("I live in Kenya.", [("GPE", 10, 15)], "case", 1)
        assert mutated.text == "I live in Kenya." and not mutated.spans[0].mutated

    def test_transforms_do_what_they_say(self) -> None:
        def one(chain: str, label: str, value: str) -> str:
            span = mutate_text(value, [(label, 0, len(value))], chain, 3).spans[0]
            return mutate_text(value, [(label, 0, len(value))], chain, 3).text[span.start:span.end]

        assert "@" not in one("email_words", "EMAIL_ADDRESS", "jane.roe@example.com")
        assert set(one("spelled_digits", "US_SSN", "536-22-8147").replace(",", " ").replace("-", " ").split()) <= {
            "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
        assert bytes.fromhex(one("hex", "PERSON", "Jane Roe").replace("0x", "").replace("\\x", "").replace(
            " ", "")).decode() == "Jane Roe"
        assert one("fullwidth", "PERSON", "Jane") == "Ｊａｎｅ"
        assert one("separators", "DATE_TIME", "1968-03-14") == "1968-03-14"  # a date's digits are not re-spaced

    def test_names_are_checked(self) -> None:
        assert transform_names("all") == tuple(TRANSFORMS)
        assert transform_names("hex, case+homoglyph") == ("hex", "case+homoglyph")
        with pytest.raises(ValueError, match="unknown transform"):
            transform_names("case+rot13")


def test_eval_mutate_refuses_unknown_transforms(tmp_path) -> None:
    from click.testing import CliRunner

    from privroute.cli.main import main

    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"text": TEXT, "spans": [{"label": l, "start": s, "end": e} for l, s, e in SPANS]})
                    + "\n", encoding="utf-8")
    bad = CliRunner().invoke(main, ["eval", "--mutate", "rot13", str(data)])
    assert bad.exit_code == 2 and "unknown transform" in bad.output
