"""Assembling the Presidio AnalyzerEngine, and the judgement calls applied after it.

What counts as an identifier (documented in docs/detection.md):

* a date is an identifier, a year alone is not (HIPAA Safe Harbor keeps the
  year); relative dates ("yesterday", "last week", "3 days ago"), durations
  and ages ("45 years old") are not either: redacting them makes clinical and
  business questions unanswerable;
* an age is an identifier only from 90 on (AGE_OVER_89);
* a phone number preceded by "fax" is a FAX_NUMBER.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .phones import make_phone_recognizer
from .recognizers import make_finder_recognizer, make_spec_recognizer

if TYPE_CHECKING:
    from ..policy import DetectConfig

__all__ = ["PRESIDIO_RENAMES", "SPACY_LABELS", "build_analyzer", "is_identifying_date", "known_entity_types",
           "post_filter"]

# spaCy label -> privroute entity type. CARDINAL, ORDINAL, MONEY, PERCENT,
# QUANTITY, PRODUCT, EVENT, WORK_OF_ART, LAW and LANGUAGE are not identifiers.
SPACY_LABELS: dict[str, str] = {
    "PERSON": "PERSON",
    "PER": "PERSON",
    "GPE": "LOCATION",
    "LOC": "LOCATION",
    "FAC": "LOCATION",
    "ORG": "ORGANIZATION",
    "NORP": "NRP",
    "DATE": "DATE_TIME",
    "TIME": "DATE_TIME",
}

# Presidio's names for the types it recognises -> the names privroute policies use.
PRESIDIO_RENAMES: dict[str, str] = {
    "MEDICAL_LICENSE": "LICENSE_NUMBER",
    "US_MBI": "HEALTH_PLAN_ID",
    "US_HEALTH_INSURANCE_MEMBER_ID": "HEALTH_PLAN_ID",
    "UK_PASSPORT": "US_PASSPORT",
    "ABA_ROUTING_NUMBER": "ROUTING_NUMBER",
}

# Presidio's own pattern recognizers worth their cost for the types privroute uses,
# with the type each reports (tests/detect/test_entity_types.py checks them against Presidio).
_PRESIDIO_RECOGNIZERS: dict[str, str] = {
    "CreditCardRecognizer": "CREDIT_CARD",
    "IbanRecognizer": "IBAN_CODE",
    "IpRecognizer": "IP_ADDRESS",
    "UsSsnRecognizer": "US_SSN",
    "UsItinRecognizer": "US_ITIN",
    "UsPassportRecognizer": "US_PASSPORT",
    "AbaRoutingRecognizer": "ABA_ROUTING_NUMBER",
    "MedicalLicenseRecognizer": "MEDICAL_LICENSE",
    "NhsRecognizer": "UK_NHS",
    "UkNinoRecognizer": "UK_NINO",
    "EsNifRecognizer": "ES_NIF",
    "EsNieRecognizer": "ES_NIE",
    "ItFiscalCodeRecognizer": "IT_FISCAL_CODE",
    "PlPeselRecognizer": "PL_PESEL",
    "FiPersonalIdentityCodeRecognizer": "FI_PERSONAL_IDENTITY_CODE",
    "DateRecognizer": "DATE_TIME",
}
# Types the other recognizers in build_analyzer report (email, URL, phone), and the
# ones post_filter and the signature-block pass retype values to.
_OTHER_TYPES = ("EMAIL_ADDRESS", "URL", "PHONE_NUMBER", "FAX_NUMBER", "ZIP_CODE", "STREET_ADDRESS", "TITLE")


def known_entity_types() -> frozenset[str]:
    """Every entity type the default detector can report, before a policy's own recognizers.

    Read from the recognizers' declarations, so it costs no spaCy or Presidio import:
    ``privroute policy check`` compares every type a policy names against it.
    """
    from .names import NAME_TYPES
    from .patterns import PATTERN_TYPES
    from .structured import STRUCTURED_TYPES

    presidio = (PRESIDIO_RENAMES.get(t, t) for t in _PRESIDIO_RECOGNIZERS.values())
    return frozenset((*SPACY_LABELS.values(), *presidio, *_OTHER_TYPES, *PATTERN_TYPES, *STRUCTURED_TYPES,
                      *NAME_TYPES))


def _offline_email_recognizer(tld_extractor: Any, language: str) -> Any:
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    class OfflineEmailRecognizer(EmailRecognizer):
        """Presidio's email recognizer, validating domains on the offline suffix list."""

        def validate_result(self, pattern_text: str) -> bool:
            return tld_extractor(pattern_text).fqdn != ""

    return OfflineEmailRecognizer(supported_language=language)


def _offline_url_recognizer(tld_extractor: Any, language: str) -> Any:
    """Presidio's URL recognizer with linear-time patterns, validated on the offline suffix list.

    Presidio's own pattern (``[a-z0-9.\\-]{1,253}[.](tld|...)`` tried at every
    position) takes seconds on a few kilobytes of dotted text: a cheap way to
    stall a proxy. Here a host is matched label by label from a word start only.
    """
    from presidio_analyzer import Pattern
    from presidio_analyzer.predefined_recognizers import UrlRecognizer

    host = r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}(?![\w-])"
    path = r"(?:[/?#][^\s<>\"'()]*)?"
    patterns = [
        Pattern("Url with scheme", r"(?i)\bhttps?://[^\s<>\"'()]+", 0.6),
        Pattern("Url without scheme", rf"(?i)(?<![\w.@/-]){host}{path}", 0.5),
    ]

    class OfflineUrlRecognizer(UrlRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            stripped = pattern_text.split("://", 1)[-1]
            parts = tld_extractor(stripped)
            return bool(parts.suffix and parts.domain)

    return OfflineUrlRecognizer(patterns=patterns, supported_language=language)


def _spacy_recognizer(language: str) -> Any:
    from presidio_analyzer.predefined_recognizers import SpacyRecognizer

    return SpacyRecognizer(
        supported_language=language,
        supported_entities=["PERSON", "LOCATION", "ORGANIZATION", "NRP", "DATE_TIME"],
    )


def build_analyzer(config: "DetectConfig", nlp: Any, tld_extractor: Any, english: frozenset[str] = frozenset(),
                   extra: Iterable[Any] = (), context: Mapping[str, Sequence[str]] | None = None) -> tuple[Any, Any]:
    """An AnalyzerEngine on the already loaded spaCy ``nlp``; returns (analyzer, nlp_engine).

    ``extra``: a language pack's recognizers; ``context``: its context words for
    Presidio's recognizers, by class name (lang.py).
    """
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry, RecognizerResult
    from presidio_analyzer import predefined_recognizers as predefined
    from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine

    from .names import NAME_TYPES, name_finders
    from .patterns import PATTERN_FINDERS, PATTERN_TYPES
    from .structured import STRUCTURED_FINDERS, STRUCTURED_TYPES

    language = config.language
    ner_config = NerModelConfiguration(
        model_to_presidio_entity_mapping=dict(SPACY_LABELS),
        low_score_entity_names=[],
        # Below privroute's pattern scores: where spaCy and a pattern overlap
        # (a house number taken for a date), the pattern's type wins the merge.
        default_score=0.6,
        labels_to_ignore=["CARDINAL", "ORDINAL", "MONEY", "PERCENT", "QUANTITY", "PRODUCT", "EVENT",
                          "WORK_OF_ART", "LAW", "LANGUAGE"],
    )
    class EntitiesOnlyNlpEngine(SpacyNlpEngine):
        """Presidio's spaCy engine; lemmas fall back to lower-cased tokens (no lemmatizer runs)."""

        def _doc_to_nlp_artifact(self, doc: Any, language: str) -> Any:
            # Upstream's conversion with one pass over the tokens, and the keywords
            # computed once, from these lemmas (upstream computes them, then we redid them).
            indices, lemmas = [], []
            for token in doc:
                indices.append(token.idx)
                lemmas.append(token.lemma_ or token.lower_)
            entities, scores = self._get_updated_entities(self._get_entities(doc),
                                                          self._get_scores_for_entities(doc))
            return NlpArtifacts(entities=entities, tokens=doc, tokens_indices=indices, lemmas=lemmas,
                                nlp_engine=self, language=language, scores=scores)

    nlp_engine = EntitiesOnlyNlpEngine(models=[{"lang_code": language, "model_name": config.spacy_model}],
                                       ner_model_configuration=ner_config)
    # Handing Presidio the loaded pipeline means SpacyNlpEngine.load() (which
    # downloads a missing model) never runs.
    nlp_engine.nlp = {language: nlp}

    registry = RecognizerRegistry(supported_languages=[language])
    registry.add_recognizer(_spacy_recognizer(language))
    registry.add_recognizer(_offline_email_recognizer(tld_extractor, language))
    registry.add_recognizer(_offline_url_recognizer(tld_extractor, language))
    registry.add_recognizer(make_phone_recognizer(language))
    for class_name in _PRESIDIO_RECOGNIZERS:
        recognizer_class = getattr(predefined, class_name)
        words = (context or {}).get(class_name)
        registry.add_recognizer(recognizer_class(supported_language=language, **(
            {"context": [*getattr(recognizer_class, "CONTEXT", []), *words]} if words else {})))
    for recognizer in extra:
        registry.add_recognizer(recognizer)
    registry.add_recognizer(make_finder_recognizer("privroute-patterns", PATTERN_TYPES, PATTERN_FINDERS, language))
    registry.add_recognizer(make_finder_recognizer("privroute-structured", STRUCTURED_TYPES, STRUCTURED_FINDERS,
                                                   language))
    registry.add_recognizer(make_finder_recognizer("privroute-names", NAME_TYPES, name_finders(english), language,
                                                    with_doc=True))
    for spec in config.recognizers:
        registry.add_recognizer(make_spec_recognizer(spec, language))
    from .context import FastContextEnhancer

    class GroupedAnalyzerEngine(AnalyzerEngine):
        """Presidio's engine; each recognizer's results are picked out once, not once per recognizer."""

        def _enhance_using_context(self, text: str, raw_results: list[Any], nlp_artifacts: Any,
                                   recognizers: list[Any], context: list[str] | None = None) -> list[Any]:
            # Upstream (2.2.366) filters all results twice per recognizer (~25 recognizers);
            # this is the same loop over the same groups, in the same order.
            key = RecognizerResult.RECOGNIZER_IDENTIFIER_KEY
            groups: dict[str, list[Any]] = {}
            for result in raw_results:
                groups.setdefault(result.recognition_metadata[key], []).append(result)
            results: list[Any] = []
            for recognizer in recognizers:
                own = groups.get(recognizer.id, [])
                others = [r for r in raw_results if r.recognition_metadata[key] != recognizer.id] if own else [
                    *raw_results]
                results.extend(recognizer.enhance_using_context(
                    text=text, raw_recognizer_results=own, other_raw_recognizer_results=others,
                    nlp_artifacts=nlp_artifacts, context=context))
            return self.context_aware_enhancer.enhance_using_context(
                text=text, raw_results=results, nlp_artifacts=nlp_artifacts, recognizers=recognizers,
                context=context)

    analyzer = GroupedAnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=[language],
                                     context_aware_enhancer=FastContextEnhancer())
    return analyzer, nlp_engine


# ---------------------------------------------------------------- judgement calls

_MONTHS = (r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
           r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?")
_YEAR_ALONE = re.compile(r"(?:(?:in|the|of|year|since|circa|c\.|fy|’|')\s*)?(?:19|20)\d{2}s?", re.IGNORECASE)
_RELATIVE = re.compile(
    r"(?:today|tonight|tomorrow|yesterday|now|currently|recently|daily|weekly|monthly|annually|yearly|"
    r"(?:this|last|next|past|previous|coming|every|each|the)\s+(?:\w+\s+)?(?:day|night|week|weekend|month|"
    r"year|quarter|decade|morning|afternoon|evening|season)s?|"
    r"(?:the\s+)?(?:morning|afternoon|evening|night|weekend|overnight|noon|midnight)|"
    r"(?:mon|tues|wednes|thurs|fri|satur|sun)days?|"
    r"(?:spring|summer|autumn|fall|winter)|"
    r"(?:(?:post|pre)[\s-]?op(?:erative)?\s+|hospital\s+|treatment\s+|cycle\s+)?day\s+\d{1,3}|"
    r"(?:the\s+)?(?:19|20)?\d0['’]?s|(?:the\s+)?(?:mid|early|late)[\s-]+(?:19|20)?\d0['’]?s|"
    r"(?:the\s+|my\s+|his\s+|her\s+|their\s+)?\d{1,3}(?:st|nd|rd|th)\s+(?:year|day|week|month|birthday|anniversary)|"
    r"(?:years?|months?|weeks?|days?|hours?|minutes?|decades?)|"
    r"(?:(?:one|a|the|that|this|some|every)\s+)?(?:morning|afternoon|evening|night|day)|"
    r"q[1-4](?:\s+(?:19|20)\d{2})?|"
    r"(?:about|around|over|under|almost|nearly|some|for|within|after|before|up\s+to|at\s+least|another|"
    r"the\s+(?:first|last|past|next))?\s*"
    r"(?:\d+(?:\.\d+)?\+?|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a\s+few|few|"
    r"several|many|couple\s+of|a\s+couple\s+of)(?:[\s-]+(?:more|additional|full))?[\s-]+"
    r"(?:second|minute|hour|day|night|week|month|year|decade)s?(?:[\s-]+(?:old|ago|later|earlier|long|"
    r"of\s+age|prior|before|after|from\s+now|postop|post-op))?)",
    re.IGNORECASE,
)
# French month names too: a date in words from the French recognizer ("3 mars 1975") names a day.
_DATE_STRUCTURE = re.compile(
    rf"\b(?:{_MONTHS}|janvier|f[ée]vrier|mars|avril|mai|juin|juillet|ao[uû]t|septembre|octobre|novembre|"
    rf"d[ée]cembre)\b|\d{{1,4}}\s?[-/.]\s?\d{{1,2}}(?:\s?[-/.]\s?\d{{1,4}})?|\b(?:19|20)\d{{2}}(?:0[1-9]|1[0-2])"
    rf"(?:0[1-9]|[12]\d|3[01])\b|\b\d{{1,2}}\.\s?(?:{_MONTHS})", re.IGNORECASE)
_MONTH_ONLY = re.compile(rf"(?:in\s+|the\s+month\s+of\s+)?(?:{_MONTHS})\.?", re.IGNORECASE)
_TIME_ONLY = re.compile(r"\d{1,2}(?::\d{2})?\s*(?:am|pm|a\.m\.|p\.m\.|h|hrs|o'clock)?|\d{1,2}:\d{2}(?::\d{2})?",
                        re.IGNORECASE)
_AGE = re.compile(r"(?:age[ds]?\s+)?(\d{1,3})(?:[\s-]*(?:years?|yrs?|y/?o|yo)(?:[\s-]*old)?|[\s-]*year[\s-]*old)?",
                  re.IGNORECASE)


_LONGEST_EXCEPTION = 80


def is_identifying_date(value: str) -> bool:
    """False for a year alone, a month alone, a bare time, relative dates and durations."""
    compact = " ".join(value.split()).strip(" ,.;:()")
    if not compact:
        return False
    # The exceptions are short phrases; matching them against a long value (a hostile
    # run of digits tagged DATE) would only cost time, quadratic in its length.
    if len(compact) <= _LONGEST_EXCEPTION:
        for pattern in (_YEAR_ALONE, _RELATIVE, _MONTH_ONLY, _TIME_ONLY):
            if pattern.fullmatch(compact):
                return False
        match = _AGE.fullmatch(compact)
        if match and not compact.isdigit():
            return False
    # What remains identifies a day only if it names a month or is a numeric date:
    # "dyspnea x3 days", "the 60s" or "day 2" never do.
    return _DATE_STRUCTURE.search(compact) is not None


# Field labels spaCy sometimes takes for organisations ("IBAN", "SSN").
_LABEL_WORDS = frozenset("""
iban ssn atm asap mrn dob pin cvv cvc bic swift nhs vin ein tin itin npi dea id ip url fax tel ok faq etc pdf
acct attn ref rx dx tx hx sx fx
""".split())
_FAX = re.compile(r"\bfax\b|\bfacsimile\b", re.IGNORECASE)


_ACRONYM = re.compile(r"[A-Z][A-Z0-9]{1,3}s?|[A-Z]{2,5}-?\d{1,2}[A-Z]?|[A-Z]{2,5}-[A-Z0-9]{1,3}")
_ROLE_WORDS = frozenset("patient pt client customer doctor dr nurse mother father daughter son wife husband "
                        "family caregiver provider physician surgeon resident attending".split())


def _not_a_name(text: str, value: str, end: int, type_: str, english: frozenset[str] = frozenset()) -> bool:
    """Digits, field labels, roles, clinical acronyms, drugs and eponyms are not names or places."""
    stripped = value.strip()
    if not any(ch.isalpha() for ch in stripped) or stripped.lower() in _LABEL_WORDS:
        return True
    words = stripped.split()
    if type_ == "LOCATION":
        # Towns are often written in capitals ("HART", "ESPOO"): only clinical words, and
        # lower-case ordinary words around them ("HER2+ breast"), are not places.
        from .lexicon import is_clinical

        if len(words) == 1 and re.fullmatch(r"[A-Z]{2}", stripped):
            return True  # "EF", "MR", "NC": jargon, or a US state (not a Safe Harbor identifier)

        def not_a_place(word: str) -> bool:
            bare = word.strip(".,+")
            return (is_clinical(re.sub(r"['’]s$", "", bare), text, end) or (word.islower() and bare in english)
                    or (_ACRONYM.fullmatch(bare) is not None and any(ch.isdigit() for ch in bare)))

        return all(not_a_place(w) for w in words)
    if any(ch.isdigit() for ch in stripped):
        # "Cr 2.1", "DOB 04/12/1951" are jargon; "Puruntie 82" is kept (and retyped an address).
        return all(_jargon(w, text, end) for w in words if any(ch.isalpha() for ch in w))
    if type_ == "PERSON" and all(re.sub(r"['’]s$", "", w.lower()) in _ROLE_WORDS for w in words):
        return True  # "Patient", "Nurse"
    return all(_jargon(w, text, end) for w in words)


def _jargon(word: str, text: str, end: int) -> bool:
    """An acronym, an abbreviation, a drug or an eponym: clinical shorthand, not a name."""
    from .lexicon import is_clinical

    bare = re.sub(r"['’]s$", "", word.strip(".,;:()+"))
    if not bare:
        return True
    if _ACRONYM.fullmatch(bare) or "/" in bare or (len(bare) <= 4 and any(ch.isupper() for ch in bare[1:])):
        return True  # ECG, NSTEMI, s/p, CrCl: in prompts short capitals are jargon, not identities
    return bare.lower() in _LABEL_WORDS or is_clinical(bare, text, end)


def _common_word(value: str, result: Any, english: frozenset[str]) -> bool:
    """spaCy's small model tags capitalised common nouns ("Wisdom", "Devil") as names."""
    from .names import given_names, surnames

    if not english or " " in value.strip() or (result.recognition_metadata or {}).get(
            "recognizer_name") != "SpacyRecognizer":
        return False
    lowered = value.strip().lower()
    return lowered in english and lowered not in given_names() and lowered not in surnames()


_EDGE_WORD = re.compile(r"\S+")
_HONORIFIC = re.compile(r"(?:mr|mrs|ms|miss|mx|dr|prof|rev|sir|dame|nurse|sister)\.?", re.IGNORECASE)
_STREETISH = re.compile(r"[^\W\d_]{3,40}[\w'’.-]{0,40}[ \t]+\d{1,5}[A-Za-z]?\b|\b\d{1,5}[A-Za-z]?[ \t]+[^\W\d_]{3,}")


def _trim_common_words(text: str, result: Any, english: frozenset[str]) -> None:
    """"Email Jane Roe" -> "Jane Roe": an ordinary word spaCy glued to the front or back of a name."""
    from .names import given_names, surnames

    def ordinary(word: str) -> bool:
        lowered = word.strip(".,;:!?'’\"").lower()
        return (len(lowered) > 2 and lowered in english and lowered not in given_names()
                and lowered not in surnames())

    # Only a sentence's first word: an imperative ("Email", "Ask") taken into the name.
    if text[max(0, result.start - 3):result.start].strip(" \t\n\"'(") not in ("", ".", "!", "?", ":"):
        return
    words = list(_EDGE_WORD.finditer(text, result.start, result.end))
    if len(words) > 1 and ordinary(words[0].group()) and not _HONORIFIC.fullmatch(words[0].group()):
        result.start = words[1].start()


def post_filter(text: str, results: Iterable[Any], english: frozenset[str] = frozenset()) -> Iterable[Any]:
    """Drop non-identifying dates, ages and common words; retype fax numbers and numbered names."""
    for result in results:
        value = text[result.start:result.end]
        if result.entity_type in ("PERSON", "ORGANIZATION") and _common_word(value, result, english):
            continue
        if result.entity_type in ("PERSON", "ORGANIZATION") and english and " " in value.strip():
            _trim_common_words(text, result, english)
            value = text[result.start:result.end]
        if result.entity_type == "DATE_TIME":
            if not is_identifying_date(value):
                if not (value.isdigit() and 4 <= len(value) <= 6 and not _YEAR_ALONE.fullmatch(value)):
                    continue
                # A number spaCy took for a date but that is none: a postcode or house number.
                result.entity_type = "ZIP_CODE"
                result.score = min(result.score, 0.45)
        elif result.entity_type in ("PERSON", "ORGANIZATION", "LOCATION", "NRP") and _not_a_name(
                text, value, result.end, result.entity_type, english):
            continue
        elif result.entity_type in ("PERSON", "ORGANIZATION") and any(ch.isdigit() for ch in value):
            if _STREETISH.search(value):
                result.entity_type = "STREET_ADDRESS"  # "Lindenstraße 12" is not a person
            elif result.entity_type == "PERSON":
                continue  # names hold no digits
        elif result.entity_type == "PHONE_NUMBER" and _FAX.search(text, max(0, result.start - 32), result.start):
            result.entity_type = "FAX_NUMBER"
        yield result
