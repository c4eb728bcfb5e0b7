"""Person names that spaCy's small English model misses.

spaCy finds well-formed English names in running text. People also write
names in lower or upper case, as initials ("Anna S.", "Mr. James T."), after
a form label ("Last name: Okonkwo"), in other scripts, and in structured data.
These finders use form labels, honorifics, the spaCy tags of the tokens, and
the US Census given-name and surname lists shipped in the ``names`` package
(public-domain data), plus a short list of common given names from outside
the US.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import MissingDependency
from .lexicon import COMMON_NAME_WORDS, is_clinical, is_english
from .recognizers import Hit

__all__ = ["NAME_TYPES", "given_names", "grow_people", "name_finders", "signature_blocks", "surnames"]

NAME_TYPES: tuple[str, ...] = ("PERSON", "ORGANIZATION", "LOCATION")

_SURNAME_RANK_LIMIT = 40_000
# Given names common outside the US census lists (lower case).
_WORLD_GIVEN = frozenset("""
mohammed muhammad mohamed mohammad ahmed ahmad ali omar umar hassan hussein hussain ibrahim yusuf youssef
khalid fatima fatma aisha ayesha zainab maryam mariam layla leila nour noor amira yasmin hamza bilal tariq
rashid karim abdul abdullah abdallah mustafa mahmoud samir walid nadia salma huda rania khadija
raj rahul amit anil arjun ravi sanjay suresh vijay deepak ajay priya pooja anjali neha sunita kavita
lakshmi aditya vikram rohan nikhil ananya divya shreya arun kiran manoj rajesh ramesh mahesh ganesh
wei li jing ying hui xin yan ming hong jun lei tao yang hao chen lin mei xiao zhang wang liu jie feng
hiroshi takashi yuki haruto sakura yuto hana kenji akira naoko keiko yoko satoshi kaito riku sota
minh anh linh thanh huong lan hoa tuan duc hung nam quang trang thuy ngoc phuong
chidi chinedu emeka ngozi adaeze oluwaseun olu tunde ayodele kwame kofi ama abena yaw akua femi bola
sipho thabo lerato themba zanele kagiso amara ibrahima mamadou fatou aminata moussa oumar
jurgen jörg jürgen klaus dieter wolfgang helmut uwe heike ursula birgit sabine gunther günther
francois françois jean pierre jacques yves sylvie nathalie isabelle benoit benoît thierry
giuseppe giovanni luca marco matteo francesca chiara giulia alessandro lorenzo paolo andrea emidio roberto
salvatore vincenzo antonio francesco stefano riccardo federica valentina alessia elena silvia simona
jose josé juan carlos luis jorge javier alejandro pablo miguel sergio lucia lucía sofia sofía
joão joao pedro thiago rafael gabriel ana beatriz mariana camila larissa
sven lars anders johan erik nils bjorn björn ingrid astrid sigrid freya mette kirsten jens
piotr pawel paweł krzysztof tomasz andrzej katarzyna agnieszka malgorzata małgorzata magdalena
ivan dmitri dmitry sergei sergey vladimir alexei aleksandr nikolai olga natalia tatiana svetlana irina
yerlan aigerim nurlan asel dauren
""".split())

# Vietnamese family names: the first word of most Vietnamese full names.
_VIETNAMESE_SURNAMES = ("Nguyễn|Nguyen|Trần|Tran|Lê|Phạm|Pham|Hoàng|Hoang|Huỳnh|Huynh|Phan|Vũ|Võ|Vo|Đặng|Dang|"
                        "Bùi|Bui|Đỗ|Do|Hồ|Ngô|Ngo|Dương|Duong|Lý|Đinh|Dinh|Trương|Truong|Đào|Dao|Lâm|Lam")
_ARABIC_GIVEN = ("محمد|أحمد|احمد|علي|عمر|خالد|يوسف|إبراهيم|ابراهيم|حسن|حسين|عبد|فاطمة|عائشة|مريم|زينب|"
                 "سارة|نور|ليلى|مصطفى|محمود|سعيد|سعد|فهد|ناصر|سلمان|طارق|كريم|هشام|ياسر|منى|هدى|سلمى|رانيا")

_HONORIFIC = (r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Rev|Sir|Dame|Herr|Frau|Mme|Mlle|M|Sr|Sra|Srta|Sig|Sig\.ra|Dott|"
              r"Mevr|Dhr|Pan|Pani|Fr|Sister|Nurse)")
_NAME_TOKEN = r"(?:[^\W\d_][\w'’-]*|[A-Z]\.)"
_CAP_TOKEN = r"(?:[A-ZÀ-ÖØ-ÞĀ-ſА-ЯΑ-Ω][\w'’-]*|[A-Z]\.)"
_HONORIFIC_NAME = re.compile(
    rf"(?<![\w.])(?:{_HONORIFIC})\.?\s+({_CAP_TOKEN}(?:[ \t]+{_CAP_TOKEN}){{0,3}})", re.UNICODE)
_HONORIFIC_LOWER = re.compile(r"(?<![\w.])(?i:mr|mrs|ms|miss|dr|prof)\.?\s+([a-z][\w'’-]+)(?:\s+([a-z][\w'’-]+))?")

# A form field that holds a name: the whole value is a name, whatever its case.
_NAME_LABEL = re.compile(
    r"(?im)(?:^[ \t>*|-]*(?:(?:full|first|last|given|family|middle|maiden|sur|nick|user)[ \t]*)?|"
    r"\b(?:full|first|last|given|family|middle|maiden|patient'?s?|client'?s?|customer'?s?|member'?s?|insured|"
    r"subscriber|contact|guardian|mother'?s?|father'?s?|spouse'?s?|sur|nick|user|legal|birth)[ \t]*)name"
    r"(?:[ \t]*\((?:first|last|given|family)\))?[ \t]*[:=][ \t]*(" + _NAME_TOKEN + r"(?:[ \t]+" + _NAME_TOKEN
    + r"){0,3})")
# Phrases that introduce a name in running text ("my name is borna jerković", "call me Vik").
_NAME_CUE = re.compile(
    r"\b(?i:my\s+name\s+is|my\s+name's|name\s+is|(?:first|last|full|sur|maiden)\s*name(?:\s+is)?\??|"
    r"(?:people|everyone|they|friends)\s+calls?\s+me|call\s+me|named|goes\s+by)[ \t:]+"
    r"([^\W\d_][\w'’-]*(?:[ \t]+[^\W\d_]\.?(?=[ \t]))?(?:[ \t]+[^\W\d_][\w'’-]*)?)")
# A role label followed by a capitalised name ("Patient: Sarah Connor", "Attn: J. Wu").
_ROLE_LABEL = re.compile(
    r"\b(?i:patient|pt|client|customer|member|beneficiary|insured|subscriber|employee|applicant|contact|"
    r"attn|attention|(?:to|from|cc|signed)(?=[ \t]*:)|dear|hi|hello|guardian|parent|mother|father|spouse|wife|husband|son|"
    r"daughter|nok|next of kin|emergency contact|referring (?:physician|provider|doctor)|physician|provider|"
    r"doctor|surgeon|nurse|pcp|caregiver|witness|plaintiff|defendant|claimant|tenant|landlord|borrower|"
    r"account holder|cardholder|ship to|bill to|deliver to)"
    r"[ \t]*[:,-]?[ \t]*\n?[ \t]*(" + _CAP_TOKEN + r"(?:[ \t]+" + _CAP_TOKEN + r"){0,3})")
_INITIAL_AFTER = re.compile(r"\b([A-Z][a-z]+)[ \t]+[A-Z]\.(?=[\s,;:)]|$)")
_INITIALS_ONTO = re.compile(r"(?<![A-Za-z0-9])(?:[A-Z]\.){1,3}(?P<name>[A-Z][a-z]{2,}[\w'’-]*)")
_INITIAL_AFTER_DOT = re.compile(r"(?<![\w.])(?P<name>[A-Z][a-z]{2,}[\w'’-]*)\.(?:[A-Z]\.?){1,2}(?![\w.])")
_INITIAL_BEFORE = re.compile(r"(?<![\w.])[A-Z]\.[ \t]?(?:[A-Z]\.[ \t]?)?([A-Z][a-z]+)\b")
# The second word sits in a lookahead so pairs overlap: "patient maria lopez" tries
# "patient maria" and then "maria lopez".
_PAIR = re.compile(r"(?<![\w'’-])([^\W\d_][\w'’]+)(?=[ \t]+([^\W\d_][\w'’-]+)(?![\w'’-]))")
_QUOTED = re.compile(r"['\"]([A-Z][a-z]+)['\"]")
_VIETNAMESE = re.compile(rf"\b(?:{_VIETNAMESE_SURNAMES})(?:[ \t]+[A-ZÀ-ỸĐ][\wÀ-ỹ]*){{1,3}}")
_ARABIC = re.compile(rf"(?:{_ARABIC_GIVEN})(?:[ \t]+(?:(?:عبد|بن|ابن|أبو|ابو)[ \t]+)?[\u0621-\u064A]+){{1,3}}")
_CYRILLIC_GREEK = re.compile(r"\b[А-ЯЁΑ-Ω][а-яёα-ω]+(?:[ \t]+[А-ЯЁΑ-Ω][а-яёα-ω]+){1,2}\b")
# Chinese, Japanese and Korean write no spaces, so only a name's label or honorific anchors it:
# "姓名：张伟", "患者王芳", "山田太郎さん", "김민수 씨", "이름: 박지훈".
_CJK_NAME = r"[\u4e00-\u9fff]{2,4}|[\u3040-\u30ff\u4e00-\u9fff]{2,6}|[\uac00-\ud7a3]{2,4}"
_CJK_LABELED = re.compile(
    rf"(?:姓名|名字|患者|病人|客户|顾客|联系人|氏名|名前|患者名|이름|성명|환자|고객)[ \t]*[：:]?[ \t]*({_CJK_NAME})")
_CJK_HONORIFIC = re.compile(rf"({_CJK_NAME})[ \t]?(?:先生|女士|小姐|医生|醫生|老师|さん|様|さま|君|씨|님|선생님)")

# Words that head a label value but are not names (field headings, pronouns, clinical words).
_NOT_NAMES = frozenset("""
the a an and or of to in on at for with by from is was are be he she they we i you it his her their our my
your this that these those not no yes n/a na none unknown patient client customer doctor nurse male female
man woman boy girl adult child baby infant mr mrs ms dr team all everyone sir madam
""".split())


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency(package, "detect")
    return Path(next(iter(spec.submodule_search_locations)))


def _census(file_name: str, limit: int | None = None) -> frozenset[str]:
    folder = _package_dir("names")
    out = set()
    with open(folder / file_name, encoding="ascii") as handle:
        for rank, line in enumerate(handle):
            if limit is not None and rank >= limit:
                break
            word = line.split(" ", 1)[0].strip().lower()
            if len(word) > 1:
                out.add(word)
    return frozenset(out)


@lru_cache(maxsize=1)
def given_names() -> frozenset[str]:
    """Lower-case given names: US Census lists plus common ones from elsewhere."""
    return _census("dist.male.first") | _census("dist.female.first") | _WORLD_GIVEN


@lru_cache(maxsize=1)
def surnames() -> frozenset[str]:
    """Lower-case surnames: the most frequent US Census surnames."""
    return _census("dist.all.last", _SURNAME_RANK_LIMIT)


@lru_cache(maxsize=1)
def _known_names() -> frozenset[str]:
    return given_names() | surnames()


class _TokensByStart:
    """The token starting at a character offset of a spaCy Doc, or None.

    Built from the Doc's offset array and kept on the Doc, so the finders sharing
    a Doc build it once, and a Token object is made only for the offsets asked.
    """

    def __init__(self, doc: Any) -> None:
        self._doc = doc
        self._index: dict[int, int] = {}
        if doc is not None:
            from spacy.attrs import IDX

            self._index = dict(zip(doc.to_array(IDX).tolist(), range(len(doc))))

    def get(self, offset: int) -> Any:
        position = self._index.get(offset)
        return None if position is None else self._doc[position]


_TOKENS_KEY = "privroute.tokens_by_start"


def _tokens_by_start(doc: Any) -> _TokensByStart:
    if doc is None:
        return _TokensByStart(None)
    cached = doc.user_data.get(_TOKENS_KEY)
    if cached is None:
        cached = doc.user_data[_TOKENS_KEY] = _TokensByStart(doc)
    return cached


def _name_like(token: Any) -> bool:
    """Not a stop word by spaCy's lexicon (pronouns, auxiliaries, determiners ...)."""
    return token is None or not token.is_stop


def _clean_value(text: str, start: int, end: int) -> tuple[int, int] | None:
    words = list(re.finditer(r"\S+", text[start:end]))
    while words and words[-1].group().lower().strip(".,") in _NOT_NAMES:
        words.pop()
    while words and words[0].group().lower().strip(".,") in _NOT_NAMES:
        words.pop(0)
    if not words:
        return None
    return start + words[0].start(), start + words[-1].end()


def _cued(text: str, english: frozenset[str]) -> Iterator[Hit]:
    """Names after "my name is", "call me": only words that can be names (not "call me tomorrow")."""
    for match in _NAME_CUE.finditer(text):
        words = list(re.finditer(r"\S+", match.group(1)))
        kept = []
        for word in words:
            value = word.group().strip(".,")
            lowered = value.lower()
            if len(value) == 1 and kept:
                kept.append(word)
                continue
            if lowered in _NOT_NAMES or (is_english(lowered, english) and lowered not in _known_names()):
                break
            kept.append(word)
        while kept and len(kept[-1].group().strip(".")) == 1:
            kept.pop()
        if kept:
            base = match.start(1)
            yield Hit(base + kept[0].start(), base + kept[-1].end(), "PERSON", 0.75)


def _labeled(text: str) -> Iterator[Hit]:
    for match in _NAME_LABEL.finditer(text):
        span = _clean_value(text, *match.span(1))
        if span:
            yield Hit(span[0], span[1], "PERSON", 0.85)
    for match in _ROLE_LABEL.finditer(text):
        span = _clean_value(text, *match.span(1))
        if span is None:
            continue
        raw = text[span[0]:span[1]]
        value = raw.lower().split()
        known = _known_names()
        if any(word.strip(".,'’") in known for word in value) or (len(value) >= 2 and not raw.isupper()):
            yield Hit(span[0], span[1], "PERSON", 0.7)


def _honorifics(text: str) -> Iterator[Hit]:
    for match in _HONORIFIC_NAME.finditer(text):
        span = _clean_value(text, *match.span(1))
        if span:
            yield Hit(match.start(), span[1], "PERSON", 0.85)
    for match in _HONORIFIC_LOWER.finditer(text):
        words = [w for w in match.groups() if w]
        if words and words[0].lower() in _known_names():
            end = match.end(2) if match.group(2) and match.group(2).lower() in surnames() else match.end(1)
            yield Hit(match.start(), end, "PERSON", 0.75)


def _initials(text: str) -> Iterator[Hit]:
    for match in _INITIAL_AFTER.finditer(text):
        if match.group(1).lower() in given_names():
            yield Hit(match.start(), match.end(), "PERSON", 0.75)
    for match in _INITIAL_BEFORE.finditer(text):
        if match.group(1).lower() in surnames():
            yield Hit(match.start(), match.end(), "PERSON", 0.65)


def _joined_initials(text: str, english: frozenset[str]) -> Iterator[Hit]:
    """Initials written onto a name ("K.I.Thankachan", "Sri.A.Saleem", "Anandagopan.K"): the
    form of a person's name in much of South Asian writing. The name word must not be
    English, so "U.S.Army" or "Sec.Treasury" stay."""
    for pattern in (_INITIALS_ONTO, _INITIAL_AFTER_DOT):
        for match in pattern.finditer(text):
            word = match.group("name")
            if word.lower() not in _NOT_NAMES and not is_english(word.lower(), english):
                yield Hit(match.start(), match.end(), "PERSON", 0.6)


def _gazetteer_pairs(text: str, doc: Any, english: frozenset[str]) -> Iterator[Hit]:
    first, last = given_names(), surnames()
    tokens = _tokens_by_start(doc)
    for match in _PAIR.finditer(text):
        a, b = match.group(1), match.group(2)
        la, lb = a.lower(), b.lower()
        if la not in first or la in _NOT_NAMES or lb in _NOT_NAMES or a.islower() != b.islower():
            continue  # "Mary said" / "john Smith": mixed case is rarely a name pair
        if not (_name_like(tokens.get(match.start(1))) and _name_like(tokens.get(match.start(2)))):
            continue
        if a.islower() and (la in COMMON_NAME_WORDS or (lb in english and lb not in last)):
            continue  # lower-case ordinary words ("grace period", "will smith the metal")
        if a.isupper() and la in COMMON_NAME_WORDS:
            continue  # capitals carry no hint of a name: "WILL SMITH THE METAL"
        if lb in last or (lb not in english and len(lb) > 2 and b.isalpha()):
            yield Hit(match.start(), match.end(2), "PERSON", 0.6 if a.islower() else 0.65)
    for match in _QUOTED.finditer(text):
        word = match.group(1).lower()
        if word in first or word in last:
            yield Hit(match.start(1), match.end(1), "PERSON", 0.6)
    for match in _MIDDLE_INITIAL.finditer(text):
        a = match.group(1).lower()
        if a in first or (a not in english and a not in _NOT_NAMES):
            yield Hit(match.start(), match.end(), "PERSON", 0.7)
    for match in _LOWER_MIDDLE_INITIAL.finditer(text):
        a, b = match.group(1), match.group(2)
        if a in first and a not in COMMON_NAME_WORDS and (b in last or not is_english(b, english)):
            yield Hit(match.start(), match.end(), "PERSON", 0.6)
    for match in _SPEAKER.finditer(text):
        word = match.group(1)
        if word.lower() not in _NOT_NAMES and (word.lower() in first or not is_english(word, english)):
            yield Hit(match.start(1), match.end(1), "PERSON", 0.6)
    for match in _LOWER_WORD.finditer(text):
        word = match.group()
        if word in first and word not in english and word not in COMMON_NAME_WORDS and word not in _NOT_NAMES:
            token = tokens.get(match.start())
            if token is None or not token.is_stop:
                yield Hit(match.start(), match.end(), "PERSON", 0.45)
    for match in _FIRM.finditer(text):
        if "," in match.group():
            # "Davis, Reynolds and Williamson" is a firm; "Japanese, Korean and Swahili" is a list.
            parts = [w.lower() for w in re.findall(r"[^\W\d_]+", match.group()) if w.lower() not in ("and",)]
            if not all(w in last or not is_english(w, english) for w in parts):
                continue
        yield Hit(match.start(), match.end(), "ORGANIZATION", 0.6)
    for match in _CAPITALISED.finditer(text):
        word = match.group().lower()
        speaker = text.startswith(":", match.end())  # "Alice: Who are you?"
        if (word in first and word not in COMMON_NAME_WORDS and word not in _NOT_NAMES
                and (speaker or not _sentence_start(text, match.start()))):
            yield Hit(match.start(), match.end(), "PERSON", 0.5)


_LOWER_WORD = re.compile(r"(?<![\w'’@.#/-])[a-z]{3,}(?![\w'’@-])")
_FIRM_SUFFIX = (r"Inc|Incorporated|LLC|LLP|Ltd|Limited|Corp|Corporation|Co|Company|Group|Holdings|Partners|"
                r"Associates|Technologies|Technology|Systems|Solutions|Labs|Laboratories|Consulting|Capital|"
                r"Ventures|Markets|Media|Networks|Industries|Enterprises|International|Foundation|Institute|"
                r"Club|Bank|Insurance|Pharmaceuticals|Pharma|Therapeutics|Health|Healthcare|Hospital|Clinic|"
                r"Medical Center|University|College|School|GmbH|AG|SA|S\.A|SpA|BV|NV|AB|Oy|plc|PLC")
_FIRM = re.compile(
    rf"\b(?:[A-Z][\w&'’-]{{0,40}}[ \t]+){{1,3}}(?:{_FIRM_SUFFIX})\b\.?"
    r"|\b[A-Z][a-z]+,[ \t]+[A-Z][a-z]+,?[ \t]+(?:and|&)[ \t]+[A-Z][a-z]+\b")
_LOWER_MIDDLE_INITIAL = re.compile(r"(?<![\w'’-])([a-z]{3,})[ \t]+[a-z]\.?[ \t]+([a-z][\w'’-]{2,})(?![\w'’-])")
# A speaker or addressee at the start of a line: "Éva: What a wife." / "Warrane, can I ..."
_SPEAKER = re.compile(r"(?m)^[ \t>]*([^\W\d_][\w'’-]{2,})(?=[ \t]*(?::[^/]|,[ \t]+(?:can|could|would|will|please|"
                      r"thanks|thank|i|we|you)\b))")
# Word lengths are bounded here and below so that a hostile run like "Ab-Ab-Ab-..." stays linear.
_MIDDLE_INITIAL = re.compile(r"\b([A-Z][a-z][\w'’-]{0,40})[ \t]+[A-Z]\.?[ \t]+([A-Z][a-z][\w'’-]+)\b")
_CAPITALISED = re.compile(r"(?<![\w'’-])[A-Z][a-z]{2,}(?![\w'’-])")
_SENTENCE_END = re.compile(r"(?:^|[.!?:;\n>\"“(]\s*)$")


_TITLE_WORD = re.compile(r"(?<![\w'’@.#/-])([^\W\d_][^\W\d_'’-]*(?:[-'’][^\W\d_]+)*)(?![\w'’@-]|\.\w)")
_NEXT_CAPITAL = re.compile(r"[ \t]+([^\W\d_][^\W\d_'’-]*)")
_PLACE_BEFORE = re.compile(r"\b(?:in|at|from|near|to|of|outside|around|visiting|visited)[ \t]+$", re.IGNORECASE)


def _proper_nouns(text: str, doc: Any, english: frozenset[str]) -> Iterator[Hit]:
    """Capitalised words that are not English (and not drugs): names of people, places, firms."""
    tokens = _tokens_by_start(doc)
    for match in _TITLE_WORD.finditer(text):
        word = match.group(1)
        if not word[0].isupper() or len(word) < 3:
            continue
        lowered = word.lower()
        if lowered in _NOT_NAMES or lowered in COMMON_NAME_WORDS or is_english(lowered, english):
            continue
        before = text[max(0, match.start() - 12):match.start()]
        if word.isupper() and len(word) <= 5 and not _PLACE_BEFORE.search(before):
            continue  # acronyms (COPD, HIPAA), unless after "in"/"at"/"from": "based in ESPOO"
        if any(ch.isupper() for ch in word[1:]) and not word.isupper():
            continue  # camel case product names: iPhone, PostgreSQL, GitHub
        base = re.sub(r"['’]s$", "", lowered)
        if base in english or is_clinical(base, text, match.end()):
            continue
        token = tokens.get(match.start())
        if token is not None and (token.is_stop or token.like_url or token.like_email):
            continue
        if _sentence_start(text, match.start()) and (match.end() >= len(text) or text[match.end()] != " " or
                                                     _NEXT_CAPITAL.match(text, match.end()) is None):
            continue  # a foreign word opening a sentence is too often not a name
        end = match.end()
        for _ in range(3):
            nxt = _NEXT_CAPITAL.match(text, end)
            if nxt is None or not nxt.group(1)[0].isupper() or nxt.group(1).lower() in _NOT_NAMES:
                break
            end = nxt.end()
        if _PLACE_BEFORE.search(before):
            type_ = "LOCATION"
        elif lowered in given_names() or lowered in surnames():
            type_ = "PERSON"
        else:
            type_ = "ORGANIZATION"
        yield Hit(match.start(), end, type_, 0.45)


def _sentence_start(text: str, start: int) -> bool:
    return _SENTENCE_END.search(text, max(0, start - 4), start) is not None


def _other_scripts(text: str) -> Iterator[Hit]:
    if text.isascii():
        return
    for pattern, score in ((_VIETNAMESE, 0.7), (_ARABIC, 0.7), (_CYRILLIC_GREEK, 0.5)):
        for match in pattern.finditer(text):
            end = match.end()
            if pattern is _ARABIC:
                # Stop after the family name (al-...): the next word is the sentence.
                words = list(re.finditer(r"\S+", match.group()))
                for index, word in enumerate(words[1:], 1):
                    if word.group().startswith("ال") and word.group() not in ("الله", "الرحمن"):
                        end = match.start() + word.end()
                        break
            yield Hit(match.start(), end, "PERSON", score)
    for pattern in (_CJK_LABELED, _CJK_HONORIFIC):
        for match in pattern.finditer(text):
            yield Hit(match.start(1), match.end(1), "PERSON", 0.7)


def name_finders(english: frozenset[str]) -> tuple[Any, ...]:
    """The name finders, each ``finder(text, doc)``; ``english`` is an English word list."""

    def text_only(finder: Any) -> Any:
        def run(text: str, doc: Any = None) -> Iterator[Hit]:
            return finder(text)

        return run

    def pairs(text: str, doc: Any = None) -> Iterator[Hit]:
        yield from _gazetteer_pairs(text, doc, english)
        yield from _cued(text, english)
        yield from _joined_initials(text, english)

    def proper(text: str, doc: Any = None) -> Iterator[Hit]:
        return _proper_nouns(text, doc, english) if english else iter(())

    return (text_only(_labeled), text_only(_honorifics), text_only(_initials), pairs, text_only(_other_scripts),
            proper)


_WORD_LEFT = re.compile(r"([^\W\d_][\w'’-]*)[ \t]+$")
_WORD_RIGHT = re.compile(r"[ \t]+([^\W\d_][\w'’-]*)")


def _name_part(word: str, english: frozenset[str]) -> bool:
    lowered = word.lower()
    if lowered in _NOT_NAMES or lowered in COMMON_NAME_WORDS or not word[0].isupper():
        return False
    return lowered in given_names() or lowered in surnames() or not is_english(lowered, english)


def grow_people(text: str, entities: list[Any], english: frozenset[str]) -> list[Any]:
    """Take in a given name or surname standing right beside a detected person ("Maha <PERSON>")."""
    from .base import Entity

    out = []
    for entity in entities:
        if entity.type == "PERSON":
            start, end = entity.start, entity.end
            left = _WORD_LEFT.search(text, max(0, start - 30), start)
            if left is not None and _name_part(left.group(1), english) and not _sentence_start(text, left.start()):
                start = left.start()
            right = _WORD_RIGHT.match(text, end)
            if right is not None and _name_part(right.group(1), english):
                end = right.end()
            entity = Entity(start, end, entity.type, entity.score, entity.source)
        out.append(entity)
    return out


_LINE = re.compile(r"[^\n]*")
_QUOTE_MARKS = " \t>|*-•"
_SIGNATURE_STOPWORDS_OK = frozenset("and of the for & de la du von van at in".split())
_GREETINGS = frozenset("""
thanks thank regards best cheers sincerely yours kind warm hi hello dear re subject sent from to cc date
please note ps p.s. confidential
""".split())
_JOB_WORD = re.compile(r"(?:er|or|ist|ian|ant|ent|ary|manager|director|officer|clerk|assistant|nurse|head|lead|"
                       r"chief|president|partner|associate|intern|specialist|analyst|technician|scientist|"
                       r"engineer|designer|developer|librarian|counsel|attorney|physician|surgeon|md|rn|phd)s?$",
                       re.IGNORECASE)


def _lines(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _LINE.finditer(text) if m.start() < len(text) or m.end() > m.start()]


def _content(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start] in _QUOTE_MARKS:
        start += 1
    while end > start and text[end - 1] in " \t":
        end -= 1
    return start, end


def _signature_line(value: str, stop: frozenset[str]) -> bool:
    words = value.split()
    if not words or len(words) > 6 or any(ch in value for ch in ":?!@/\\") or value.endswith("."):
        return False
    if any(ch.isdigit() for ch in value) or words[0].lower().strip(",") in _GREETINGS:
        return False
    for word in words:
        lowered = word.lower().strip(",.")
        if lowered in stop and lowered not in _SIGNATURE_STOPWORDS_OK:
            return False
    return True


def signature_blocks(text: str, entities: list[Any], stop_words: frozenset[str]) -> list[Any]:
    """In a signature ("Name\\nJob title\\nCompany"), the short lines under a name line go too."""
    from .base import Entity

    people = [e for e in entities if e.type == "PERSON"]
    added: list[Any] = []
    lines = [_content(text, s, e) for s, e in _lines(text)] if people and "\n" in text else []
    for index, (start, end) in enumerate(lines):
        if start >= end or not any(p.start <= start and end <= p.end for p in people):
            continue
        taken = 0
        for next_start, next_end in lines[index + 1:]:
            if taken == 2:
                break
            if next_start >= next_end:
                continue  # blank lines between name and title
            value = text[next_start:next_end]
            covered = any(e.start < next_end and next_start < e.end for e in entities)
            if covered or not _signature_line(value, stop_words):
                break
            type_ = "TITLE" if _JOB_WORD.search(value.split()[-1].strip(",.")) else "ORGANIZATION"
            added.append(Entity(next_start, next_end, type_, 0.5, "privroute-signature"))
            taken += 1
    for person in people:
        apposition = _APPOSITION.match(text, person.end)
        if apposition is not None and _JOB_WORD.search(apposition.group(1).split()[-1]):
            added.append(Entity(apposition.start(1), apposition.end(1), "TITLE", 0.5, "privroute-signature"))
    for match in _WORKS_AS.finditer(text):
        words = match.group(1).split()
        if _JOB_WORD.search(words[-1]) and (len(words) > 1 or words[0][0].isupper()):
            added.append(Entity(match.start(1), match.end(1), "TITLE", 0.5, "privroute-signature"))
    return sorted(entities + added) if added else entities


# "Jane Roe, the Technical writer, said" / "I worked for Acme as a machine operator, but ..."
_APPOSITION = re.compile(r",[ \t]+(?:the|our|my|their|a|an)[ \t]+([A-Za-z][\w'’-]*(?:[ \t]+[A-Za-z][\w'’-]*){0,4}?),")
_WORKS_AS = re.compile(r"\b(?:work(?:s|ed|ing)?|employed|hired|job)\b[^.\n]{0,60}?\bas[ \t]+(?:an?[ \t]+|the[ \t]+)?"
                       r"([A-Za-z][\w'’-]*(?:[ \t]+[A-Za-z][\w'’-]*){0,4}?)(?=[ \t]*(?:[,.;!?]|$|[ \t]+(?:but|and|at|for|in|"
                       r"until|since|with)\b))", re.IGNORECASE)
