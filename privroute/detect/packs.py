"""What a language pack is: what privroute knows of one language beyond its spaCy pipeline.

``lang.language_pack(code)`` returns one; ``fr/`` builds French's. Kept apart from
lang.py so a pack can import it without importing what chooses among packs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LanguagePack"]


@dataclass(frozen=True)
class LanguagePack:
    """What privroute knows of one language beyond its spaCy pipeline.

    ``vocabulary(nlp)``: the language's ordinary words, lower case (a capitalised
    word outside it is taken for a name); ``recognizers(language, vocabulary)``:
    extra Presidio recognizers; ``context``: extra context words per Presidio
    recognizer class; ``keep(text, entities, keep_context, rule_names)``: the
    language's keep rules, run before the document steps. A language without a pack (a pipeline named in
    ``detect.models``) gets spaCy's entities and the language-free patterns.
    """

    code: str
    spacy_model: str
    extra: str
    """The pip extra that installs the pipeline (``privroute[fr]``)."""
    vocabulary: Callable[[Any], frozenset[str]] | None = None
    recognizers: Callable[[str, frozenset[str]], list[Any]] | None = None
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    keep: Callable[[str, list[Any], Any, Sequence[str]], list[Any]] | None = None
