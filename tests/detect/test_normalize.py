"""Normalisation before detection: what it folds, and that offsets map back exactly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privroute.detect.normalize import _fold_characters, _fold_segment, normalize

pytestmark = pytest.mark.fast

# Characters the folds act on, mixed with ordinary text, so Hypothesis explores them.
_TRICKY = st.sampled_from(list(
    "\u200b\u200c\u200d\u00ad\u2060\ufeff\u202e\u202c０１９＠ａＺ\u3000\u00a0"
    "аеорсАВЕО٣९߁ﬁ①é\u0301OolI|%&#;-\n"
))
_TEXT = st.lists(st.one_of(st.characters(codec="utf-8"), _TRICKY, st.sampled_from(
    ["&#64;", "%40", "&amp;", "-\n", "2O2", "8l47", "\u202e7418\u202c"])), max_size=40).map("".join)


class TestFolds:
    def test_fullwidth_and_non_ascii_digits_become_ascii(self) -> None:
        """Full-width digits/letters (NFKC) and Devanagari digits turn into ASCII."""
        assert normalize("４１１１＠ｗｅｂ.de ९८७").text == "4111@web.de 987"

    def test_dashes_become_hyphens(self) -> None:
        """En/em dashes and minus signs between digit groups read as hyphens."""
        assert normalize("536\u201322\u20148147 \u2212 1").text == "536-22-8147 - 1"

    def test_invisible_characters_are_dropped(self) -> None:
        """Zero-width joiners, soft hyphens and word joiners vanish."""
        assert normalize("Sar\u200cah Con\u200dnor 536\u00ad22\u2060" + "8147").text == "Sarah Connor 536228147"

    def test_mixed_script_words_fold_but_whole_foreign_words_stay(self) -> None:
        """A Cyrillic 'а' inside a Latin word folds; a Russian word is left alone."""
        assert normalize("аlice.wong привет").text == "alice.wong привет"

    def test_letters_typed_for_digits_inside_numbers(self) -> None:
        """O/l/I inside a number become digits; ordinary words keep their letters."""
        assert normalize("(2O2) 555-O147, SSN 536-22-8l47, Ollie").text == "(202) 555-0147, SSN 536-22-8147, Ollie"

    def test_html_and_percent_escapes_are_decoded(self) -> None:
        """&#64; and %40 become @ so e-mail recognizers see them."""
        assert normalize("peter&#64;seznam&#46;cz a%40b.com").text == "peter@seznam.cz a@b.com"

    def test_right_to_left_override_is_read_in_display_order(self) -> None:
        """Text inside RLO ... PDF is reversed, as a reader sees it."""
        assert normalize("SSN: \u202e7418-22-635\u202c").text == "SSN: 536-22-8147"

    def test_word_hyphenated_across_a_line_break_is_joined(self) -> None:
        """'ander-\\nson@x' becomes 'ander-son@x' (the hyphen stays, the break goes)."""
        assert normalize("robert.ander-\nson@company.co.uk").text == "robert.ander-son@company.co.uk"

    def test_plain_ascii_is_untouched(self) -> None:
        """Ordinary text passes through with the identity map."""
        result = normalize("Patient has chest pain since Monday.")
        assert not result.changed and result.to_original(8, 11) == (8, 11)

    def test_rejects_non_strings(self) -> None:
        """Bytes are a caller error, not something to guess about."""
        with pytest.raises(TypeError):
            normalize(b"abc")  # type: ignore[arg-type]


class TestOffsetMap:
    @settings(max_examples=300, deadline=None)
    @given(_TEXT)
    def test_every_span_maps_inside_the_original(self, text: str) -> None:
        """Any normalised span maps to a non-empty span within the original string."""
        result = normalize(text)
        n = len(result.text)
        for start in range(0, n, max(1, n // 7)):
            for end in (start + 1, n):
                if end <= n and start < end:
                    lo, hi = result.to_original(start, end)
                    assert 0 <= lo < hi <= len(text)

    @settings(max_examples=300, deadline=None)
    @given(_TEXT)
    def test_whole_text_maps_to_the_covered_original(self, text: str) -> None:
        """The whole normalised text maps back to a span covering all its sources."""
        result = normalize(text)
        if result.text:
            lo, hi = result.to_original(0, len(result.text))
            assert 0 <= lo < hi <= len(text)

    @settings(max_examples=200, deadline=None)
    @given(st.text(alphabet=st.characters(codec="ascii", exclude_characters="&%-\n"), max_size=60))
    def test_text_without_folds_keeps_identity(self, text: str) -> None:
        """ASCII text with nothing to fold normalises to itself with an identity map."""
        result = normalize(text)
        if result.text == text and len(text) > 1:
            assert result.to_original(1, len(text)) == (1, len(text))

    @settings(max_examples=200, deadline=None)
    @given(st.text(max_size=20), st.sampled_from(["４１１１", "4\u200b1\u200b1\u200b1", "4111", "41ll"]),
           st.text(max_size=20))
    def test_a_folded_value_maps_back_to_exactly_its_characters(self, prefix: str, value: str, suffix: str) -> None:
        """The span of a folded value in the copy maps back to exactly where it was typed."""
        prefix, suffix = prefix.replace("\u202e", ""), suffix.replace("\u202e", "")
        text = f"{prefix} {value} x{suffix}"
        expected = (len(prefix) + 1, len(prefix) + 1 + len(value))
        result = normalize(text)
        spans = [result.to_original(i + 1, i + 5) for i in range(len(result.text)) if result.text.startswith(" 4111 x", i)]
        assert expected in spans

    @settings(max_examples=400, deadline=None)
    @given(st.lists(st.one_of(_TEXT, st.sampled_from(["e\u0301", "\u0301", "ﬁ", "Ａ", "\u200b"])), max_size=6)
           .map("".join))
    def test_ascii_runs_shortcut_folds_like_the_character_loop(self, text: str) -> None:
        """Folding only the non-ASCII runs gives the same text and offsets as folding every character."""
        assert _fold_characters(text) == _fold_segment(text, 0, len(text))

    def test_out_of_range_span_is_an_error(self) -> None:
        """Asking for a span beyond the normalised text raises."""
        with pytest.raises(ValueError):
            normalize("abc").to_original(2, 9)
