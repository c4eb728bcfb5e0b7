"""Batched detection (detect_many) and the fast context enhancer: same answers as the one-at-a-time path."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privroute.detect import detector_for
from privroute.detect.context import FastContextEnhancer
from privroute.detect.presidio import CHUNK_CHARS, PresidioDetector
from privroute.policy import load_policy
from tests.paths import SHARED_DATA

DATA = SHARED_DATA


@pytest.fixture(scope="module")
def general() -> PresidioDetector:
    detector = detector_for(load_policy("general").detect)
    assert isinstance(detector, PresidioDetector)
    return detector


@pytest.fixture(scope="module")
def labeled_texts() -> list[str]:
    """The presidio-research synthetic texts and the adversarial file, as shipped in shared/data."""
    rows = json.loads((DATA / "presidio_synth_v2.json").read_text("utf-8"))
    texts = [row["full_text"] for row in rows]
    with (DATA / "adversarial_dev.jsonl").open(encoding="utf-8") as handle:
        texts += [json.loads(line)["text"] for line in handle if line.strip()]
    assert len(texts) > 1000
    return texts


class TestDetectMany:
    def test_identical_to_detect_on_the_labeled_data(self, general: PresidioDetector, labeled_texts: list[str]) -> None:
        """Every synthetic and adversarial text gets exactly the entities detect() gives it."""
        assert general.detect_many(labeled_texts) == [general.detect(text) for text in labeled_texts]

    def test_blank_long_and_short_texts_keep_their_places(self, general: PresidioDetector) -> None:
        """Blank texts give (), a text over CHUNK_CHARS is chunked as in detect(), order is kept."""
        long_text = ("Nothing to see in this line at all. " * 40 + "\n") * (CHUNK_CHARS // 1400) \
            + "Write to jane.roe@example.com today.\n"
        assert len(long_text) > CHUNK_CHARS
        texts = ["", "Call Jane Roe on 212-555-0199.", "   \n", long_text, "The weather is mild."]
        found = general.detect_many(texts)
        assert found == [general.detect(text) for text in texts]
        assert found[0] == () and found[2] == () and found[4] == ()
        assert [texts[1][e.start:e.end] for e in found[1]] == ["Jane Roe", "212-555-0199"]
        assert [long_text[e.start:e.end] for e in found[3]] == ["jane.roe@example.com"]

    def test_empty_batch_and_wrong_types(self, general: PresidioDetector) -> None:
        """No texts give no results; a non-string item is a TypeError, as for detect()."""
        assert general.detect_many([]) == []
        with pytest.raises(TypeError, match="needs str"):
            general.detect_many(["fine", b"bytes"])  # type: ignore[list-item]


class TestFastContextEnhancer:
    def test_same_scores_and_context_words_as_presidio(self, general: PresidioDetector,
                                                       labeled_texts: list[str]) -> None:
        """Presidio's LemmaContextAwareEnhancer and ours agree on every result of the analyzer."""
        from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

        analyzer = general._analyzer
        assert isinstance(analyzer.context_aware_enhancer, FastContextEnhancer)
        texts = labeled_texts[::7]

        def run() -> list[list[tuple[str, int, int, float, str]]]:
            out = []
            for text in texts:
                results = analyzer.analyze(text, "en", return_decision_process=True)
                out.append(sorted((r.entity_type, r.start, r.end, round(r.score, 9),
                                   r.analysis_explanation.supportive_context_word if r.analysis_explanation else "")
                                  for r in results))
            return out

        fast = run()
        ours, analyzer.context_aware_enhancer = analyzer.context_aware_enhancer, LemmaContextAwareEnhancer()
        try:
            slow = run()
        finally:
            analyzer.context_aware_enhancer = ours
        assert fast == slow
        assert any(word for rows in fast for *_, word in rows)  # context did boost some results

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.tuples(st.integers(0, 3), st.integers(1, 6)), min_size=1, max_size=30), st.data())
    def test_token_lookup_matches_the_linear_search(self, layout: list[tuple[int, int]], data: st.DataObject) -> None:
        """Bisecting token ends finds the token Presidio's linear scan finds, or fails where it fails."""
        from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

        tokens, indices, position = [], [], 0
        for gap, length in layout:
            position += gap
            indices.append(position)
            tokens.append("x" * length)
            position += length
        start = data.draw(st.integers(0, position + 2))
        try:
            expected: int | None = LemmaContextAwareEnhancer._find_index_of_match_token("Hunter2", start, tokens, indices)
        except ValueError:
            expected = None
        try:
            got: int | None = FastContextEnhancer()._find_index_of_match_token("Hunter2", start, tokens, indices)
        except ValueError as exc:
            assert "Hunter2" not in str(exc)  # the match's text is never quoted
            got = None
        assert got == expected
