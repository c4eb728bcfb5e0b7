"""Keep rules: what looks like a name or a place to NER but is not personal data.

Redaction that destroys a contract's defined terms or a judgment's courts and
citations leaves a frontier model nothing to work with. Each rule here removes
(or trims) detected spans of one documented class, chosen by its form, its
context or its role in the document, never by a list of values; which rules run
is the policy's ``detect.keep`` (names in ``KEEP_RULES``):

* ``honorifics``: honorifics and role words (``Mr.``, ``Hon'ble``, ``Justice``,
  ``Sri``, ``Adv.``) are trimmed off a span, and a span of nothing else is dropped;
* ``legal_references``: courts and tribunals (``the High Court of Delhi``),
  statutes (``the Companies Act, 1956``), provisions (``Section 51A``), reporter
  citations (``(2013) 2 SCC 77``, ``AIR 2011 SC 2566``) and precedents cited in
  running text (``in X v. Y`` followed by a citation or after a citing cue);
* ``defined_terms``: terms a contract defines (``("Borrower")``, ``"Loan
  Documents" means``, ``hereinafter "the Company"``) and, in a text that defines
  terms or is drafted ("hereof", "shall"), capitalised phrases of ordinary words
  (``Credit Extensions``): English words that are not names, or that the text also
  writes in lower case;
  a term that is part of a person's name is never kept;
* ``headings``: spans in an all-capital heading line of ordinary words, and what
  follows ``Article 6`` / ``Section 2.1``;
* ``general_places``: a place with no personal anchor (no first person, no
  residence or birth cue, no person in the sentence, not part of an address):
  "What is the capital of France?";
* ``governing_law``: the jurisdiction of a governing-law, forum or incorporation
  clause (``the laws of the State of New York``, ``a Delaware corporation``);
* ``public_bodies``: organisations of the state (a government, ministry, police,
  municipality, commission, parliament, central bank): never a person;
* ``public_roles``: judges and counsel named in their office (``Justice X``,
  ``X, J.``, ``Mr. X, Advocate for the Respondent``, ``Through: X, Y and Z,
  Advocates``): their names are part of the public record of a judgment;
* ``dates``: dates, unless a birth or death cue precedes them.

Persons, their addresses and identifiers are never touched by these rules;
party blocks and propagation (document.py) run after them and win.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .base import Entity
from .lexicon import is_english

__all__ = ["KEEP_RULES", "KeepContext", "apply_keep_rules"]

# Types a keep rule may drop: what NER (not a checksum or a pattern) produced.
_SOFT = frozenset({"PERSON", "ORGANIZATION", "NRP", "LOCATION", "TITLE", "DATE_TIME", "STREET_ADDRESS"})

_NUMERIC = frozenset({"ZIP_CODE", "PHONE_NUMBER", "DATE_TIME"})
_ROLE_WORD = (r"(?:Coram|Oral|J|Appellants?|Petitioners?|Respondents?|Plaintiffs?|Defendants?|Applicants?|"
              r"Complainants?|Accused|Versus|Vs|Mr|Mrs|Ms|Miss|Dr|Prof|Hon'?ble|Hon’ble|Honou?rable|Hon|Justice|Sri|Shri|Smt|Srimathi|Kum|Km|"
              r"Adv|Advocate|Advocates|Advs|Ld|Learned|Late|Govt|Government|Sr|Jr|Judge|Magistrate|Counsel|M/[sS])")
_ROLE_ONLY = re.compile(rf"^(?:(?:{_ROLE_WORD}|the|The|THE|a|an)(?:\(s\)?|/s)?\.?\s*)+$", re.IGNORECASE)
# Trimmed off a name: office and role words. Social titles (Mr., Mrs., Dr.) stay
# inside the span: with the name they say who is meant, and they cost nothing to redact.
_OFFICE_WORD = (r"(?:Coram|Hon'?ble|Hon’ble|Honou?rable|Justice|Sri|Shri|Smt|Srimathi|Kum|Km|Adv|Advocate|"
                r"Advocates|Advs|Ld|Learned|Govt|Government|Judge|Magistrate|Counsel|M/[sS])")
_LEADING_ROLE = re.compile(rf"^(?:(?:(?:Mr|Mrs|Ms|Dr)\.?[ \t]*(?={_OFFICE_WORD}))?(?:the[ \t]+)?{_OFFICE_WORD}"
                           r"(?:\.[ \t]*|[ \t]+))+", re.IGNORECASE)
# NER reads "Versus\n\nState of X" in a cause title as one name.
_LEADING_VERSUS = re.compile(r"^(?:versus|vs\.?|v/s\.?)\s+", re.IGNORECASE)
_TRAILING_ROLE = re.compile(r"(?:[\s,]+(?:Adv|Advocate|Advocates|Advs|J|Sr|Ld)\.?)+$")

# A court and where it sits: "the High Court of Judicature at Patna", "Apex Court".
_COURT = re.compile(r"(?:the\s+)?(?:hon'?ble\s+|hon’ble\s+|honou?rable\s+)?(?:[^\W\d][\w.'’-]*\s+){0,4}"
                    r"(?:court|tribunal|bench|judicature)s?\b(?:\s+(?:of|at|for)\s+(?:the\s+)?"
                    r"(?:judicature\s+(?:at|of|for)\s+)?(?-i:[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){0,3}))*",
                    re.IGNORECASE)
_COURT_SEAT = re.compile(r"\b(?:court|tribunal|bench|judicature)s?\s+(?:of|at|for)\s+(?:the\s+)?(?:judicature\s+"
                         r"(?:of|at|for)\s+)?$", re.IGNORECASE)
_AFTER_COURT = re.compile(r"\s*(?:,|\bin\b|\bthat\b|\bwhile\b)?\s*", re.IGNORECASE)
_STATUTE = re.compile(r"\b(?:act|code|rules|regulations?|constitution|ordinance|convention|treaty|statute|"
                      r"sanhita|adhiniyam)\b(?:\s*(?:,|of)?\s*(?:19|20)\d{2})?\s*$", re.IGNORECASE)
_PROVISION = re.compile(r"^(?:sections?|secs?|articles?|arts?|orders?|rules?|clauses?|chapters?|schedules?|exhibits?|"
                        r"annexures?|paragraphs?|paras?|regulations?)\b\.?\s*(?:no\.?\s*)?[\dIVXLC(]", re.IGNORECASE)
_REPORTER = r"[A-Z][A-Za-z.]{0,12}(?:\s?\([A-Za-z.]+\))?"
_CITATION = re.compile(
    rf"[\[(](?:19|20)\d{{2}}[\])]\s*\(?\d{{0,3}}\)?\s*{_REPORTER}\s+\d+"      # (2013) 2 SCC 77, [2019] 1 WLR 12
    rf"|\bAIR\s+(?:19|20)\d{{2}}\s+{_REPORTER}\s+\d+"                          # AIR 2011 SC 2566
    rf"|\b(?:19|20)\d{{2}}\s*\(\d+\)\s*{_REPORTER}\s+\d+"                      # 2008(3) ALT 123
    rf"|\b\d{{1,4}}\s+(?:U\.\s?S\.|F\.\s?(?:2d|3d|4th|Supp\.)|S\.\s?Ct\.)\s+\d+")  # 410 U.S. 113
_CASE_NAME = re.compile(r"\b(?:v|vs|versus)\b\.?", re.IGNORECASE)
# The other side of "X v. Y": capitalised words, with "of", "the", "and", "&" between.
_OTHER_PARTY = re.compile(r"(?:\s*(?:(?:of|the|and|&|for|through)\s+)*[A-Z][\w.'’&-]*\.?){1,8}")
_CITING_CUE = re.compile(r"(?:\bin|\bsee|\bcf\.?|\bcase\s+of|\bdecisions?\s+(?:in|of)|\bjudgments?\s+(?:in|of)|"
                         r"\brelied\s+(?:up)?on|\bfollowed|\breference\s+to|\bheld\s+in|\bruling\s+in|"
                         r"\bmatter\s+of|\bvide|\bre)\s*:?\s*$", re.IGNORECASE)

_TERM = r"[\"“]\s*([A-Z][^\"”“\n]{0,60}?)\s*[\"”]"
_DEFINITIONS = (
    re.compile(r"\(\s*(?:(?:each|together|collectively|individually|hereinafter|herein|referred|to|as|called|the|"
               r"an?|and|or|its|their|any|such)\s+){0,6}" + _TERM),
    re.compile(_TERM + r"\s*(?::|means\b|shall\s+mean\b|mean\b|is\b|are\b|has\s+the\s+meaning|shall\s+have\s+the"
               r"\s+meaning|includes?\b|refers?\s+to\b|shall\s+refer)"),
    re.compile(r"(?:hereinafter|herein|referred\s+to\s+as|called)\s+(?:referred\s+to\s+as\s+|called\s+)?(?:the\s+)?"
               + _TERM),
)
# Words of legal drafting: a text that uses them is a contract or a judgment.
_DRAFTING = re.compile(r"\b(?:here(?:of|to|under|in|inafter|by|with)|there(?:of|to|under|in)|shall)\b", re.IGNORECASE)
_DETERMINER = re.compile(r"^(?:(?:the|such|each|any|all|an?|this|that|said|its|their|other|every|no)\s+)+",
                         re.IGNORECASE)
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
# "the Loan", "this Loan Agreement", "each Lender", "any Lien": in drafted text a
# determiner before a capitalised common noun marks a term of the contract; a person's
# name does not take "this", "each" or "any" (and "the" only in plural forms).
_OF_NAME = re.compile(r"\bof\s+(?:the\s+)?[A-Z]")
_DETERMINED = re.compile(r"(?<![\w'’])(?:the|this|that|such|each|any|every|all|no|said)\s+$", re.IGNORECASE)

_HEADING_LEAD = re.compile(r"(?:\b(?:article|section|clause|schedule|exhibit|chapter|part|annex)\s*"
                           r"[\dIVXLCivxlc.\s]{0,12})$", re.IGNORECASE)
_ROMAN = re.compile(r"^[IVXLC]+$")
# A heading is a short line; a longer all-capital line is a shouted clause (waivers,
# jurisdiction), whose places are places.
_HEADING_WORDS = 16

# In a document a place is kept unless a residence cue ties it to someone.
_RESIDENCE_CUE = re.compile(
    r"\b(?:live[sd]?|living|reside[sd]?|residing|resident|residence|born|birth|hometown|native|citizen|r/o|s/o|"
    r"d/o|w/o|c/o|address\w*|domiciled|house|village|villa|flat|apartment|village|post|p\.o|taluk|tehsil|"
    r"mandal|ward)\b[^.\n]{0,40}$", re.IGNORECASE)
_PERSONAL_ANCHOR = re.compile(
    r"\b(?:I|my|me|mine|we|our|us|live[sd]?|living|reside[sd]?|residing|resident|residence|born|birth|moved|"
    r"relocat\w*|address\w*|hometown|home|stay(?:s|ed|ing)?|native|citizen|r/o|s/o|d/o|w/o|located\s+at|"
    r"from|visit\w*|trip|travel\w*|flight|flew|fly|flies|went|grew|raised|ship\w*|deliver\w*|mail\w*|he|she|his|"
    r"her|him|they|their|them|mr|mrs|ms|miss|dr)\b", re.IGNORECASE)
_SHORT_TEXT = 400
_PLACE_BEFORE = re.compile(r"\b(?:in|of|to|from|at|near|across|about|between|and|visit|visiting|the)\s+$",
                           re.IGNORECASE)
_SENTENCE_BREAK = re.compile(r"[.!?\n](?=\s)|\n")

_GOVERNING_BEFORE = re.compile(
    r"(?:\blaws?|\bjurisdiction|\bcourts(?:\s+(?:located|sitting))?|\bincorporated|\borganized|\borganised|"
    r"\bexisting|\bformed|\bchartered|\bgoverned\s+by)\s+(?:(?:of|in|under|within|by)\s+)+(?:the\s+)?"
    r"(?:(?:state|commonwealth|province|republic|kingdom|government|people's\s+republic)\s+of\s+)?$",
    re.IGNORECASE)
_GOVERNING_AFTER = re.compile(
    r"^\s*(?:-\s*)?(?:law|laws|corporation|company|limited\s+liability\s+company|limited\s+partnership|"
    r"general\s+partnership|partnership|banking\s+corporation|statutory\s+trust|business\s+trust|chartered|"
    r"state\s+bank|national\s+bank|courts?)\b", re.IGNORECASE)

_HONORIFIC_BEFORE = (r"(?:(?:Mr|Mrs|Ms|Dr|Sri|Shri|Smt|Kum|Hon'?ble|Hon’ble|Honou?rable|Justice|Chief|Sr|Ld|"
                     r"Learned|Dr)\.?\s*)*")
_JUDGE_BEFORE = re.compile(r"(?:\bJustice|\bJudges?|\bCoram\s*:?|\bMagistrate|\bBefore\s*:|\bPresiding\s+Officer"
                           r"\s*:?|\bMember\s*(?:\([A-Z]\))?\s*:?)\s*" + _HONORIFIC_BEFORE + r"$", re.IGNORECASE)
_COUNSEL_CUE = re.compile(
    r"(?:\bThrough\s*:|\bPresent\s*:|\bAppearance\s*:|\bCounsel\b[^\n:]{0,60}:|\b(?:for|on\s+behalf\s+of)\s+the\s+"
    r"(?:petitioner|respondent|appellant|applicant|complainant|accused|plaintiff|defendant|state|revisionist|"
    r"claimant)s?(?:\s*(?:no|nos)\.?\s*[\d,&\sand]*)?(?:\(s\))?\s*:|\bAdv\.|\bAdvocates?\s+for\b|"
    r"\b(?:learned|ld\.?)\s+(?:senior\s+|sr\.?\s+)?counsel)\s*" + _HONORIFIC_BEFORE + r"$", re.IGNORECASE)
_COUNSEL_AFTER = re.compile(
    r"\b(?:Advocates?|Advs?\.|Adv\b|Counsel|Senior\s+Advocate|Sr\.?\s*Adv|Amicus|Public\s+Prosecutor|"
    r"Govt\.?\s+Pleader|Government\s+Pleader|Government\s+Advocate|Standing\s+Counsel|A\.?P\.?P\b|A\.?G\.?P\b|"
    r"learned\s+(?:senior\s+)?counsel|Ld\.?\s+counsel|for\s+the\s+(?:petitioner|respondent|appellant|applicant|"
    r"complainant|accused|plaintiff|defendant|state)|for\s+(?:petitioner|respondent|appellant)s?|"
    r"for\s+R-?\d|J\.|C\.\s?J\.|JJ\.)", re.IGNORECASE)
_PARTY_AFTER = re.compile(r"(?:\.{2,}|…|_{2,})\s*(?:the\s+)?(?:appellant|petitioner|respondent|plaintiff|defendant|"
                          r"applicant|complainant|accused|claimant|opposite)|\b(?:versus|vs\.?|v/s|s/o|d/o|w/o|"
                          r"aged|r/o|resident)\b", re.IGNORECASE)
_NAMES_BETWEEN = re.compile(r"^(?:[\s,&;.]|\band\b|\bwith\b|\ba/w\b|\bi/b\b|\balong\s+with\b|\(\d+\)|"
                            r"[A-Z][\w'’.-]*|[A-Z]\.)*$")

# Organisations of the state: government, ministries, police, courts' registries,
# councils, public universities and hospitals. Not persons, and never a client's secret.
_PUBLIC_BODY = re.compile(
    r"\b(?:government|govt|ministry|department|dept|police|municipal|municipality|commission|commissioner|"
    r"authority|directorate|bureau|council|parliament|assembly|legislature|senate|congress|panchayat|"
    r"collectorate|union\s+of\s+india|state\s+of|republic\s+of|secretariat|cabinet|customs|excise|"
    r"securities\s+and\s+exchange|reserve\s+bank|central\s+bank|treasury)\b", re.IGNORECASE)
# "the laws of the State of X", "courts in the Republic of Y": there "State of X" is the
# territory (governing_law's business), not a body acting in the case.
_TERRITORY = re.compile(r"\b(?:laws?|courts?|in|within|throughout|outside)\s+(?:of\s+)?(?:the\s+)?$", re.IGNORECASE)
_BIRTH_CUE = re.compile(r"\b(?:born|birth|dob|d\.o\.b|died|death|deceased|aged?|b\.|d\.)\s*[:.,-]?\s*(?:on\s+)?$",
                        re.IGNORECASE)


@dataclass(frozen=True)
class KeepContext:
    """What the rules consult besides the text: the English word list and given names."""

    english: frozenset[str]
    given: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    """Given names and surnames (lower case)."""


Rule = Callable[[str, list[Entity], KeepContext], list[Entity]]


def _replace(entity: Entity, start: int, end: int) -> Entity | None:
    return Entity(start, end, entity.type, entity.score, entity.source) if start < end else None


_FUNCTION_WORDS = frozenset("the of and for to in on at a an or by with under per from into upon as its".split())


def _ordinary(words: Sequence[str], context: KeepContext, text: str) -> bool:
    """Every word is an ordinary word *in this document*: an English word that is not
    also a person's name, or one the document itself writes in lower case ("Loan
    Documents" beside "the loan", "Bank" beside "a chartered bank"). WordNet lists
    many names and places, so English alone is not enough."""
    content = [w for w in words if w.casefold() not in _FUNCTION_WORDS and not _ROMAN.match(w)]
    if not content:
        return False
    for word in content:
        folded = word.casefold()
        if not is_english(folded, context.english):
            return False
        if (folded in context.names or _singular(folded) in context.names) and not re.search(
                rf"(?<![\w'’-]){re.escape(folded)}", text):
            return False
    return True


def honorifics(text: str, entities: list[Entity], context: KeepContext) -> list[Entity]:
    out = []
    for entity in entities:
        value = text[entity.start:entity.end]
        if entity.type not in _SOFT:
            out.append(entity)
            continue
        if _ROLE_ONLY.match(value):
            continue
        start, end = entity.start, entity.end
        lead = _LEADING_ROLE.match(value) or _LEADING_VERSUS.match(value)
        if lead and entity.type in {"PERSON", "ORGANIZATION", "NRP", "TITLE"}:
            start += lead.end()
        tail = _TRAILING_ROLE.search(text, start, end)
        if tail and tail.start() > start:
            end = tail.start()
        trimmed = _replace(entity, start, end)
        if trimmed is not None:
            out.append(trimmed)
    return out


def legal_references(text: str, entities: list[Entity], context: KeepContext) -> list[Entity]:
    citations = [m.span() for m in _CITATION.finditer(text)] if any(c.isdigit() for c in text) else []
    precedents = _precedent_spans(text, citations)
    out = []
    for entity in entities:
        value = text[entity.start:entity.end].strip()
        # Inside a reporter citation, numbers are volumes and pages, not zip codes or phones.
        if entity.type in _SOFT | _NUMERIC and _only_citations(text, entity, citations):
            continue
        # "the High Court of [Delhi]": the seat of a court identifies nobody, whatever NER called it.
        if (entity.type in {"LOCATION", "PERSON", "ORGANIZATION"}
                and _COURT_SEAT.search(text, max(0, entity.start - 40), entity.start)
                and len(_WORD.findall(value)) <= 3):
            continue
        if entity.type in _SOFT and entity.type not in {"STREET_ADDRESS", "TITLE"}:
            court = _COURT.match(text, entity.start, entity.end)
            if court:
                # "this Court in V. Narasaiah's case": the court goes, the case name stays redacted.
                rest = _AFTER_COURT.match(text, court.end(), entity.end)
                if rest and rest.end() < entity.end:
                    out.append(Entity(rest.end(), entity.end, entity.type, entity.score, entity.source))
                continue
        if entity.type in _SOFT and (
                _STATUTE.search(value) or _PROVISION.match(value)
                or any(s <= entity.start and entity.end <= e for s, e in citations)
                or any(s <= entity.start and entity.end <= e for s, e in precedents)):
            continue
        out.append(entity)
    return out


def _only_citations(text: str, entity: Entity, citations: list[tuple[int, int]]) -> bool:
    """The span is reporter citations and what joins them ("3 SCC 350 8. (2014) 12 SCC 696"):
    no word of three letters or more is left once the citations are taken out."""
    inside = [(max(s, entity.start), min(e, entity.end)) for s, e in citations if s < entity.end and entity.start < e]
    if not inside:
        return False
    rest, position = [], entity.start
    for s, e in sorted(inside):
        rest.append(text[position:s])
        position = max(position, e)
    rest.append(text[position:entity.end])
    return not re.search(r"[^\W\d_]{3,}", " ".join(rest))


def _precedent_spans(text: str, citations: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``X v. Y`` cited in running text: followed by a citation or after a citing cue."""
    spans = []
    for match in _CASE_NAME.finditer(text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        line_end = text.find("\n", match.end())
        line_end = len(text) if line_end < 0 else line_end
        start = max(line_start, match.start() - 80)
        other_side = _OTHER_PARTY.match(text, match.end(), min(line_end, match.end() + 100))
        end = other_side.end() if other_side else match.end()
        cited = any(match.end() <= s <= match.end() + 120 for s, _ in citations)
        before = text[start:match.start()]
        # The cited case's name starts after the cue: "in X v. Y", "see X v. Y".
        cue = None
        for found in re.finditer(r"\b(?:in|see|cf|of|vide|on|upon|followed|re)\b", before, re.IGNORECASE):
            cue = found
        if cue is not None and _CITING_CUE.search(before[:cue.end()]):
            start += cue.end()
        elif not cited:
            continue
        spans.append((start, end))
    return spans


def defined_terms(text: str, entities: list[Entity], context: KeepContext) -> list[Entity]:
    terms: set[str] = set()
    for pattern in _DEFINITIONS:
        for match in pattern.finditer(text):
            term = _normal_term(match.group(1))
            words = _WORD.findall(term)
            # A short name defined for a person ("Smith") is that person: never kept.
            if words and not _names_person(text, entities, match.start(), words):
                terms.add(term)
    if not terms and len(_DRAFTING.findall(text)) < 2:
        return entities
    out = []
    for entity in entities:
        words = _WORD.findall(text[entity.start:entity.end])
        if entity.type in _SOFT and entity.type not in {"DATE_TIME", "STREET_ADDRESS", "LOCATION"}:
            term = _normal_term(text[entity.start:entity.end])
            if term in terms or _singular(term) in terms:
                continue
            # "the Commonwealth of Massachusetts": WordNet knows both words, but "X of Y" with a
            # capital Y names a place or a body; only a definition in the text keeps it.
            if not _OF_NAME.search(text, entity.start, entity.end) and _ordinary(words, context, text):
                continue
        if _determined_common_noun(text, entity, words, context):
            continue
        out.append(entity)
    return out


def _determined_common_noun(text: str, entity: Entity, words: Sequence[str], context: KeepContext) -> bool:
    """A determiner, then English words only ("the Loan", "each Lender"): a contract's term
    even where the word is also a surname. A name among them (not English) keeps the span;
    a place is kept only after a determiner no place name takes ("each", "any", "such")."""
    if entity.type not in {"PERSON", "ORGANIZATION", "NRP", "LOCATION"} or not words:
        return False
    value = text[entity.start:entity.end]
    before = _DETERMINED.search(text, max(0, entity.start - 12), entity.start)
    determiner = before.group(0) if before else (_DETERMINER.match(value) or [""])[0]
    # "the United States" is a place; only "each/any/such/this ..." rules a place name out.
    if not determiner or (entity.type == "LOCATION" and determiner.split()[0].casefold() == "the"):
        return False
    # "the Commonwealth of Virginia", "the Republic of China": "X of Y" names a place or a
    # body, and WordNet lists both words; such a span is left to the other rules.
    if _OF_NAME.search(value):
        return False
    content = [w for w in words if w.casefold() not in _FUNCTION_WORDS and not _ROMAN.match(w)]
    return bool(content) and all(w[0].isupper() and is_english(w.casefold(), context.english) for w in content)


def _normal_term(value: str) -> str:
    value = _DETERMINER.sub("", " ".join(value.split()).strip(" \"'“”‘’()"))
    return re.sub(r"\s*['’]\s*s?$", "", value).casefold()


def _singular(term: str) -> str:
    if term.endswith("ies"):
        return term[:-3] + "y"
    return term[:-1] if term.endswith("s") else term


def _names_person(text: str, entities: list[Entity], where: int, words: list[str]) -> bool:
    folded = {w.casefold() for w in words}
    for entity in entities:
        if entity.type == "PERSON" and where - 120 <= entity.end <= where + 2:
            if folded & {w.casefold() for w in _WORD.findall(text[entity.start:entity.end])}:
                return True
    return False


def headings(text: str, entities: list[Entity], context: KeepContext) -> list[Entity]:
    out = []
    for entity in entities:
        if entity.type in _SOFT and entity.type != "PERSON":
            line_start = text.rfind("\n", 0, entity.start) + 1
            line_end = text.find("\n", entity.end)
            line = text[line_start:len(text) if line_end < 0 else line_end]
            words = _WORD.findall(text[entity.start:entity.end])
            if (_HEADING_LEAD.search(text, max(0, entity.start - 30), entity.start)
                    or (not any(c.islower() for c in line) and 2 <= len(_WORD.findall(line)) <= _HEADING_WORDS
                        and _ordinary(words, context, text))):
                continue
        out.append(entity)
    return out


def general_places(text: str, entities: list[Entity], context: KeepContext) -> list[Entity]:
    people = [e for e in entities if e.type != "LOCATION"]
    places = [e for e in entities if e.type in {"LOCATION", "STREET_ADDRESS", "ZIP_CODE"}]
    out = []
    for entity in entities:
        # A "place" named like a person (NER's frequent confusion: "Rebecca") is not
        # kept; a given name that is also a place in WordNet ("France") is a place.
        if (entity.type == "LOCATION" and not _anchored(text, entity, people, places, context)
                and not any(w.casefold() in context.given and not is_english(w, context.english)
                            for w in _WORD.findall(text[entity.start:entity.end]))):
            continue
        out.append(entity)
    return out


def _sentence(text: str, start: int, end: int) -> tuple[int, int]:
    left = max(0, start - 200)
    breaks = [m.end() for m in _SENTENCE_BREAK.finditer(text, left, start)]
    right = _SENTENCE_BREAK.search(text, end, min(len(text), end + 200))
    return (breaks[-1] if breaks else left), (right.start() if right else min(len(text), end + 200))


def _anchored(text: str, entity: Entity, people: list[Entity], places: list[Entity], context: KeepContext) -> bool:
    """Whether a place may say something about a person: it then stays redacted."""
    if len(text) <= _SHORT_TEXT:
        # A prompt is one context: any first person, pronoun, travel word or other
        # personal data in it may make the place about someone. And NER calls many
        # names places: only a known place (every word in WordNet, which lists
        # countries and large cities) after a preposition is taken for one.
        if _PERSONAL_ANCHOR.search(text) or people:
            return True
        words = _WORD.findall(text[entity.start:entity.end])
        if not words or not all(is_english(w, context.english) for w in words):
            return True
        if not _PLACE_BEFORE.search(text, max(0, entity.start - 20), entity.start):
            return True
    elif _RESIDENCE_CUE.search(text, max(0, entity.start - 60), entity.start):
        return True
    # Next to another place or an address: part of an address.
    return any(p is not entity and (0 <= entity.start - p.end <= 3 or 0 <= p.start - entity.end <= 3)
               for p in places)


def public_bodies(text: str, entities: list[Entity], context: KeepContext) -> list[Entity]:
    out = []
    for entity in entities:
        if (entity.type in {"ORGANIZATION", "NRP"} and _PUBLIC_BODY.search(text, entity.start, entity.end)
                and not _TERRITORY.search(text, max(0, entity.start - 24), entity.start)):
            continue
        out.append(entity)
    return out


def governing_law(text: str, entities: list[Entity], context: KeepContext) -> list[Entity]:
    out = []
    for entity in entities:
        if entity.type in {"LOCATION", "ORGANIZATION", "NRP"} and (
                _GOVERNING_BEFORE.search(text, max(0, entity.start - 80), entity.start)
                or _GOVERNING_AFTER.match(text, entity.end, min(len(text), entity.end + 40))):
            continue
        out.append(entity)
    return out


def public_roles(text: str, entities: list[Entity], context: KeepContext) -> list[Entity]:
    out = []
    for entity in entities:
        # Name finders sometimes type a judge ORGANIZATION ("X, J."): the office decides.
        if (entity.type == "PERSON" and _in_office(text, entity.start, entity.end)) or (
                entity.type == "ORGANIZATION" and _on_the_bench(text, entity.start, entity.end)):
            continue
        out.append(entity)
    return out


_JUDGE_AFTER = re.compile(r"\s*,?\s*(?:J|C\.?\s?J|JJ)\.")
_JUDGE_INSIDE = re.compile(r"^(?:(?:Mr|Mrs|Ms|Dr)\.?\s*)?(?:Justice|Judge)\b", re.IGNORECASE)


# Words a header line of appearances may hold besides names ("Mr. X, Advocate for Respondent No. 2").
_APPEARANCE_WORDS = frozenset("""and for the with along no nos mr mrs ms dr sri shri smt kum adv advs advocate advocates
counsel senior sr ld learned standing government govt public prosecutor pleader addl additional assistant general
petitioner petitioners respondent respondents appellant appellants applicant applicants complainant state accused
plaintiff plaintiffs defendant defendants through present coram hon'ble hon’ble honourable justice judge chief j
amicus curiae a w s r i b on behalf of person by in""".split())
_LOWER_WORD = re.compile(r"(?<![\w'’])[a-z][\w'’]*")


def _appearance_line(text: str, start: int, end: int) -> bool:
    """The name sits in a header line of the bench or appearances, not in the judgment's prose.

    Counsel and judges who argue or are cited in the reasoning are left to the
    ordinary rules: the record names them, the prose discusses them."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end
    window = text[max(line_start, start - 120):min(line_end, end + 120)]
    prose = [w for w in _LOWER_WORD.findall(window) if w.casefold() not in _APPEARANCE_WORDS]
    return not prose


def _on_the_bench(text: str, start: int, end: int) -> bool:
    return _appearance_line(text, start, end) and bool(
        _JUDGE_BEFORE.search(text, max(0, start - 60), start) or _JUDGE_INSIDE.match(text, start, end)
        or _JUDGE_AFTER.match(text, end, min(len(text), end + 8)))


def _in_office(text: str, start: int, end: int) -> bool:
    if not _appearance_line(text, start, end):
        return False
    before = text[max(0, start - 250):start]
    if _JUDGE_BEFORE.search(before[-60:]) or _JUDGE_INSIDE.match(text, start, end):
        return True
    # A counsel cue, then only names, commas and "and" up to this one.
    for cue in _COUNSEL_CUE.finditer(before):
        if _NAMES_BETWEEN.match(before[cue.end():]):
            return True
    after = text[end:end + 250]
    role = _COUNSEL_AFTER.search(after)
    if role is None:
        return False
    party = _PARTY_AFTER.search(after, 0, role.start())
    between = after[:role.start()]
    return party is None and bool(_NAMES_BETWEEN.match(re.sub(r"\b(?:learned|ld\.?|sr\.?|senior)\s*$", "",
                                                              between, flags=re.IGNORECASE)))


def dates(text: str, entities: list[Entity], context: KeepContext) -> list[Entity]:
    return [e for e in entities
            if e.type != "DATE_TIME" or _BIRTH_CUE.search(text, max(0, e.start - 30), e.start)]


KEEP_RULES: dict[str, Rule] = {
    "honorifics": honorifics,
    "legal_references": legal_references,
    "defined_terms": defined_terms,
    "headings": headings,
    "public_roles": public_roles,
    "public_bodies": public_bodies,
    "governing_law": governing_law,
    "general_places": general_places,
    "dates": dates,
}
"""In the order they run (honorifics first: the others look at what is left)."""


def apply_keep_rules(text: str, entities: Sequence[Entity], names: Sequence[str],
                     context: KeepContext) -> list[Entity]:
    """Run the named rules, in ``KEEP_RULES`` order, over ``entities``."""
    # A JSON key or string typed by its field name is a value by construction: the keep rules,
    # which read prose ("the Company", a quoted defined term), never judge it. A bare
    # "Counsel for X : name" line in prose is still prose.
    fielded = [e for e in entities if e.source == _FIELD_SOURCE and e.start > 0
               and text[e.start - 1] == '"' and text[e.end:e.end + 1] == '"']
    if fielded:
        rest = [e for e in entities if e not in fielded]
        return sorted([*fielded, *apply_keep_rules(text, rest, names, context)], key=lambda e: (e.start, e.end))
    chosen = set(names)
    if not _reads_as_english(text):
        # The rules read English cues ("born", "laws of", "hereof"); on another
        # language they would keep what they cannot judge. Only the language-free
        # forms run: role words and reporter citations.
        chosen &= {"honorifics", "legal_references"}
    out = list(entities)
    for name, rule in KEEP_RULES.items():
        if name in chosen and out:
            out = rule(text, out, context)
    return out


_FIELD_SOURCE = "privroute-fields"  # structured.FIELD_SOURCE (not imported: structured imports the field classifier)
_ENGLISH_GLUE = frozenset("the of and to in is that for on with by as was be are this it from or at which".split())


def _reads_as_english(text: str) -> bool:
    """English prose is about a fifth glue words; a short prompt gets the benefit of the doubt."""
    words = _WORD.findall(text[:3000].casefold())
    if len(words) < 40:
        return True
    return sum(1 for w in words if w in _ENGLISH_GLUE) >= 0.08 * len(words)
