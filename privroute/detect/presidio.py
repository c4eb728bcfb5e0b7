"""The default detector: Presidio + spaCy + privroute's recognizers, fully offline.

One spaCy pipeline per model name and process, shared by every configuration
(it is the expensive part); one Presidio AnalyzerEngine per ``DetectConfig``
(cached on its JSON, since the config holds a dict and is not hashable).
Nothing is ever downloaded: spaCy is loaded by package name (nlp.py) and handed to
Presidio, and tldextract uses its bundled public-suffix snapshot.

``detect`` normalises the text (normalize.py), runs Presidio on the normalised
copy, maps every span back to the caller's characters, drops what the policy
allows or scores too low, and merges overlaps, so the redaction covers every
character any recognizer flagged.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..errors import MissingDependency
from .base import Entity
from .chunk import pieces
from .deadline import check as check_deadline
from .engine import PRESIDIO_RENAMES, SPACY_LABELS, build_analyzer, post_filter
from .lexicon import english_words
from .document import refine
from .keep import KeepContext
from .lang import language_pack
from .names import given_names, grow_people, signature_blocks, surnames
from .nlp import model_lock, one_blas_thread, shared_nlp
from .normalize import Normalized, normalize
from .patterns import assemble_addresses, encoded_tokens
from .runs import bound_runs

if TYPE_CHECKING:
    from ..policy import DetectConfig

__all__ = ["PresidioDetector", "presidio_detector", "shared_nlp", "SPACY_LABELS"]

_detectors: dict[str, "PresidioDetector"] = {}
_detectors_lock = threading.Lock()


_english_cache: dict[str, frozenset[str]] = {}
_english_lock = threading.Lock()


def _english_for(model_name: str, nlp: Any, vocabulary: Any = english_words) -> frozenset[str]:
    """The word list of a pipeline's language, built once per model (English: ~100k words)."""
    with _english_lock:
        words = _english_cache.get(model_name)
        if words is None:
            words = _english_cache[model_name] = vocabulary(nlp)
        return words


@lru_cache(maxsize=1)
def offline_tld_extractor() -> Any:
    """tldextract on its bundled public-suffix snapshot: no network, no cache writes."""
    try:
        import tldextract
    except ImportError as exc:
        raise MissingDependency("tldextract", "detect") from exc
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def _presidio() -> Any:
    try:
        import presidio_analyzer
    except ImportError as exc:
        raise MissingDependency("presidio-analyzer", "detect") from exc
    return presidio_analyzer


class PresidioDetector:
    """Presidio AnalyzerEngine on a shared spaCy pipeline, plus privroute recognizers."""

    name = "presidio"

    def __init__(self, config: "DetectConfig") -> None:
        self.config = config
        self._nlp = shared_nlp(config.spacy_model)
        # The language's pack (lang.py): its word list stands in for English, its recognizers join.
        self._pack = language_pack(config.language)
        self._english = _english_for(config.spacy_model, self._nlp, self._pack.vocabulary or english_words)
        self._given = given_names()  # load the name lists now: a missing package fails here, not mid-request
        self._keep = KeepContext(self._english, self._given, self._given | surnames())
        self._stop_words = frozenset(getattr(self._nlp.Defaults, "stop_words", ()))
        extra = self._pack.recognizers(config.language, self._english) if self._pack.recognizers else []
        self._analyzer, self._nlp_engine = build_analyzer(config, self._nlp, offline_tld_extractor(),
                                                          self._english, extra, self._pack.context)
        self._entities = list(config.entities) or None
        self._allow = frozenset(value.strip().casefold() for value in config.allow_list if value.strip())
        # One chunk at a time per spaCy pipeline, handed out fairly between callers (turns.py).
        self._nlp_lock = model_lock(config.spacy_model)

    def __repr__(self) -> str:
        return f"PresidioDetector(model={self.config.spacy_model!r}, entities={len(self.config.entities) or 'all'})"

    @property
    def keep_context(self) -> tuple[KeepContext, frozenset[str]]:
        """What propagation consults: the word lists, and the given names."""
        return self._keep, self._given

    def detect(self, text: str) -> tuple[Entity, ...]:
        if not isinstance(text, str):
            raise TypeError(f"detect() needs a str, not {type(text).__name__}")
        if not text.strip():
            return ()
        check_deadline(len(text))
        if len(text) <= CHUNK_CHARS:
            with self._nlp_lock:
                return self._detect_one(text)
        # Chunk by chunk, cut at line breaks (else white space): every step's cost is
        # then bounded by the chunk, the deadline is checked between chunks, and the
        # shared pipeline changes hands between them (turns.py).
        entities: list[Entity] = []
        for start, piece in pieces(text, CHUNK_CHARS):
            check_deadline(len(text))
            with self._nlp_lock:
                found = self._detect_one(piece)
            entities.extend(Entity(e.start + start, e.end + start, e.type, e.score, e.source) for e in found)
        return merge_overlaps(entities)

    def detect_many(self, texts: Sequence[str]) -> list[tuple[Entity, ...]]:
        """``[detect(t) for t in texts]``, with spaCy run over the texts together (``nlp.pipe``).

        Batching spares spaCy's per-call overhead on short texts (CSV cells, JSON
        values, small documents); every other step runs per text exactly as in
        ``detect``, so the results are identical.
        """
        results: list[tuple[Entity, ...]] = [()] * len(texts)
        batch: list[tuple[int, str, Normalized]] = []
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"detect_many() needs str items, not {type(text).__name__}")
            if not text.strip():
                continue
            if len(text) > CHUNK_CHARS:
                results[index] = self.detect(text)
            else:
                batch.append((index, text, self._normalize(text)))
        if not batch:
            return results
        language = self.config.language
        # The Docs are built in one turn on the pipeline; each text is then analysed in a
        # turn of its own (a decoded blob inside goes through spaCy again).
        check_deadline(sum(len(text) for _, text, _ in batch))
        with self._nlp_lock, one_blas_thread():
            artifacts = []
            for _, found in self._nlp_engine.process_batch(
                    [bound_runs(normalized.text) for _, _, normalized in batch], language, batch_size=PIPE_BATCH):
                artifacts.append(found)
                check_deadline()
        for (index, text, normalized), nlp_artifacts in zip(batch, artifacts, strict=True):
            check_deadline(len(text))
            with self._nlp_lock:
                results[index] = self._with_encoded(text, self._finish(
                    text, normalized, self._analyze(normalized.text, nlp_artifacts)))
        return results

    def _normalize(self, text: str) -> Normalized:
        return normalize(text) if self.config.normalize else Normalized(text, text)

    def _detect_one(self, text: str, *, nested: bool = False) -> tuple[Entity, ...]:
        """One chunk; the caller holds the pipeline's turn (``_nlp_lock``)."""
        if not text.strip():
            return ()
        normalized = self._normalize(text)
        check_deadline(len(text))
        entities = self._finish(text, normalized, self._analyze(normalized.text))
        check_deadline(len(text))
        return entities if nested else self._with_encoded(text, entities)

    def _with_encoded(self, text: str, entities: tuple[Entity, ...]) -> tuple[Entity, ...]:
        # An encoded blob is redacted whole when what it decodes to holds personal data.
        hidden = [Entity(start, end, inner[0].type, 0.8, "privroute-encoded")
                  for start, end, decoded in encoded_tokens(text)
                  if (inner := self._detect_one(decoded, nested=True))]
        return merge_overlaps([*entities, *hidden]) if hidden else entities

    def _analyze(self, text: str, artifacts: Any = None) -> list[Any]:
        """Presidio on one chunk; the caller holds the pipeline's turn (``_nlp_lock``)."""
        language = self.config.language
        if artifacts is None:
            # spaCy reads a copy with overlong runs cut (runs.py); offsets are the same.
            with one_blas_thread():
                artifacts = self._nlp_engine.process_text(bound_runs(text), language)
            check_deadline(len(text))
        return self._analyzer.analyze(
            text, language, entities=self._entities, nlp_artifacts=artifacts, score_threshold=0.0
        )

    def _threshold(self, type_: str) -> float:
        return self.config.thresholds.get(type_, self.config.threshold)

    def _finish(self, text: str, normalized: Normalized, results: Iterable[Any]) -> tuple[Entity, ...]:
        entities: list[Entity] = []
        for result in post_filter(normalized.text, results, self._english):
            type_ = PRESIDIO_RENAMES.get(result.entity_type, result.entity_type)
            if self._entities is not None and type_ not in self._entities:
                continue
            if result.score < self._threshold(type_):
                continue
            start, end = normalized.to_original(result.start, result.end)
            start, end = _trim(text, start, end)
            if start >= end:
                continue
            if self._allow and text[start:end].strip().casefold() in self._allow:
                continue
            source = (result.recognition_metadata or {}).get("recognizer_name", "") if hasattr(
                result, "recognition_metadata") else ""
            entities.append(Entity(start, end, type_, float(result.score), str(source)))
        assembled = assemble_addresses(text, list(merge_overlaps(entities)))
        people = list(merge_overlaps(grow_people(text, list(merge_overlaps(assembled)), self._english)))
        if self._entities is None or {"TITLE", "ORGANIZATION"} & set(self._entities):
            people = signature_blocks(text, people, self._stop_words)
        if self._pack.keep is not None:
            people = self._pack.keep(text, list(merge_overlaps(people)), self._keep, self.config.keep)
        people = refine(text, merge_overlaps(people), self.config.keep, self.config.propagate, self._keep,
                        self._given)
        if self._entities is not None:
            people = [e for e in people if e.type in self._entities]
        return merge_overlaps(people)


_OPENERS, _CLOSERS = "([{<", ")]}>"


CHUNK_CHARS = 10_000
"""Longest text detected in one piece: bounds the work between two deadline checks and
how long one caller holds the shared pipeline (spaCy also refuses texts over 1M)."""
PIPE_BATCH = 32
"""Texts per spaCy ``nlp.pipe`` batch in ``detect_many``."""


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Drop surrounding white space, quotes and unbalanced brackets; never extend a span."""
    while start < end:
        char = text[start]
        if char.isspace() or char in "\"'`,;" or (char in _OPENERS and _CLOSERS[_OPENERS.index(char)]
                                                    not in text[start:end]):
            start += 1
        else:
            break
    while end > start:
        char = text[end - 1]
        if char.isspace() or char in "\"'`,;:" or (char in _CLOSERS and _OPENERS[_CLOSERS.index(char)]
                                                     not in text[start:end]):
            end -= 1
        else:
            break
    return start, end


def merge_overlaps(entities: Iterable[Entity]) -> tuple[Entity, ...]:
    """Non-overlapping spans sorted by start: overlapping ones become their union.

    The union keeps the type of the best member (a policy recognizer's, else the
    best-scoring, else the longer):
    for redaction, covering every flagged character matters more than a tidy span.
    """
    ordered = sorted(entities, key=lambda e: (e.start, -e.end))
    merged: list[Entity] = []
    for entity in ordered:
        if merged and entity.start < merged[-1].end:
            last = merged[-1]
            keep = last if _rank(last) >= _rank(entity) else entity
            merged[-1] = Entity(last.start, max(last.end, entity.end), keep.type, max(last.score, entity.score),
                                keep.source)
        else:
            merged.append(entity)
    return tuple(merged)


def _rank(entity: Entity) -> tuple[bool, float, int]:
    # A recognizer the policy defines states the deployment's intent: its type wins.
    return entity.source.startswith("policy:"), entity.score, entity.length


def presidio_detector(config: "DetectConfig") -> Any:
    """The detector for ``config``; built once per distinct config per process.

    A policy whose texts' language matters (lang.py) gets a ``MultilingualDetector``,
    one that fixes another language than English that language's detector.
    """
    from .lang import needs_identification
    from .multilingual import MultilingualDetector, single_language_config

    key = config.model_dump_json()
    with _detectors_lock:
        detector = _detectors.get(key)
    if detector is not None:
        return detector
    if needs_identification(config):
        built: Any = MultilingualDetector(config, presidio_detector, merge_overlaps)
    elif config.languages[0] != config.language:
        built = presidio_detector(single_language_config(config, config.languages[0]))
    else:
        built = PresidioDetector(config)
    with _detectors_lock:
        return _detectors.setdefault(key, built)
