"""French: the language pack (lang.py) for ``fr_core_news_sm`` (install extra ``fr``).

* vocabulary: the French pipeline's lemmatizer tables (lemma index and inflected
  forms), standing in for English where a rule asks whether a capitalised word is
  an ordinary word;
* recognizers: French identifiers (patterns.py) and names (names.py);
* context words for Presidio's recognizers, in French;
* keep rules (keep.py): institutions, courts, legal references and places the
  judgment or letter does not tie to a person.
"""

from __future__ import annotations

from typing import Any

from ..packs import LanguagePack

__all__ = ["FRENCH", "french_words"]


class _Words(frozenset):  # type: ignore[type-arg]
    """A word set that also answers for every inflected form in the lemmatizer's lookup table."""

    _forms: Any = None

    def __contains__(self, word: object) -> bool:
        if frozenset.__contains__(self, word):
            return True
        return isinstance(word, str) and self._forms is not None and word in self._forms


def french_words(nlp: Any) -> frozenset[str]:
    """The lemmas of the French lemmatizer's index, and (by lookup) every form it knows; lower case."""
    try:
        lookups = nlp.get_pipe("lemmatizer").lookups
        index = lookups.get_table("lemma_index")
    except (KeyError, AttributeError, ValueError):
        return frozenset()
    words = _Words(word for key in index.keys() for word in index[key] if "_" not in word and " " not in word)
    try:
        words._forms = lookups.get_table("lemma_lookup")
    except (KeyError, ValueError):
        pass
    return words


def _recognizers(language: str, vocabulary: frozenset[str]) -> list[Any]:
    from ..names import given_names
    from ..recognizers import make_finder_recognizer
    from .names import french_name_finders
    from .patterns import FRENCH_PATTERN_TYPES, french_pattern_finders

    return [
        make_finder_recognizer("privroute-fr-patterns", FRENCH_PATTERN_TYPES, french_pattern_finders(), language),
        make_finder_recognizer("privroute-fr-names", ("PERSON",), french_name_finders(given_names(), vocabulary),
                               language),
    ]


def _keep(text: str, entities: list[Any], context: Any, rules: Any) -> list[Any]:
    from .keep import french_keep

    return french_keep(text, entities, context, rules)


FRENCH = LanguagePack(
    code="fr",
    spacy_model="fr_core_news_sm",
    extra="fr",
    vocabulary=french_words,
    recognizers=_recognizers,
    context={
        "CreditCardRecognizer": ("carte", "bancaire", "crédit", "paiement", "cb"),
        "IbanRecognizer": ("iban", "rib", "compte", "bancaire", "virement"),
        "IpRecognizer": ("adresse ip", "ip"),
        "DateRecognizer": ("né", "née", "naissance", "date", "le"),
    },
    keep=_keep,
)
