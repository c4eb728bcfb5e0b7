"""Which language a text is in, and which language pack reads it.

A policy lists the languages it covers (``detect.languages``; the first is its
primary language) and says what happens to text in any other
(``detect.unknown_language``):

* ``redact-with-en``: the English pipeline reads it (what privroute did before it
  knew other languages; the decision says ``unknown-language``);
* ``local``: the prompt is answered by the local model, never sent;
* ``block``: the prompt is refused.

A text is cut into segments at line breaks; each segment long enough to judge is
identified (``identify``), shorter ones take the language of the line before
(after a blank line: of the line after), and
neighbours in the same language are joined, so an English question about a
French document is read by both pipelines. A policy may also fix the language
(``identify_language: false``): every text is then taken to be in its primary
language. A policy that covers English alone and reads other text with it
(``general``) identifies nothing: the answer could not change what it does.

Identification: the grammar words of a covered language (``le``, ``de``,
``the``, ``of``, ...) decide a short segment, because names and numbers, which
fill prompts, say nothing about the language; otherwise lingua (offline, its
models ship in the wheel; low-accuracy mode, which is reliable from about a
sentence on) names the language, and a segment it is unsure of counts as
undetermined. Nothing here loads spaCy.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..errors import LanguageNotCovered, MissingDependency
from ..policy import LANGUAGE_PIPELINES
from .packs import LanguagePack

if TYPE_CHECKING:
    from ..policy import DetectConfig

__all__ = ["PACKS", "UNKNOWN_REASON", "LanguagePack", "Segment", "dominant_language", "identify", "language_pack",
           "model_for", "needs_identification", "segments", "uncovered_languages"]

UNKNOWN_REASON = "unknown-language"
"""The reason a decision carries when some text is in a language the policy does not cover."""


PACKS = LANGUAGE_PIPELINES
"""Languages privroute reads, with their default spaCy pipeline and install extra."""


def language_pack(code: str) -> LanguagePack:
    """The pack for ``code``: English's is the default detector's own rules."""
    if code == "fr":
        from .fr import FRENCH

        return FRENCH
    model, extra = PACKS.get(code, ("", "detect"))
    return LanguagePack(code, model, extra)


def model_for(config: "DetectConfig", code: str) -> str:
    """The spaCy pipeline that reads ``code`` under ``config`` ('' when none is known)."""
    return config.pipeline_for(code)


def needs_identification(config: "DetectConfig") -> bool:
    """Whether the language of a text can change what the policy does with it."""
    if not config.identify_language:
        return False
    return len(config.languages) > 1 or config.unknown_language != "redact-with-en" \
        or config.languages[0] != config.language


# ---------------------------------------------------------------- identification

# Grammar words: frequent, short, and telling. English and French are the languages
# privroute reads; the others are there so that their grammar words are not taken for a
# covered language's ("de", "la", "que", "in" are shared).
_GLUE: dict[str, frozenset[str]] = {
    "en": frozenset("the of and to is that for with by was be are this it from or at which you my your what how why "
                    "who can do does did please me we our have has not his her he she they their had were been would "
                    "will an there than about into also no am but in on a i so if all just get got here some "
                    "any".split()),
    "fr": frozenset("le la les des du de d l un une et est à au aux en dans pour par sur pas que qui ne se ce il elle "
                    "ils sont été avec son sa ses leur cette je vous nous quel quelle comment pourquoi".split()),
    "de": frozenset("der die das und ist nicht ein eine einen dem den des mit für auf sich auch zu im vom zum zur wir "
                    "ich sie er es wie was sind wird werden wurde hat haben bitte können von in".split()),
    "es": frozenset("el los las y es del por con para una pero como más está son fue ser al lo mi su sus qué cómo "
                    "usted de la que en se un".split()),
    "it": frozenset("il lo gli e è di della del che per con una sono non come più anche nel alla questo questa mi ti "
                    "la un si".split()),
    "pt": frozenset("o os as e é do da dos das em no na com para uma não que por mais como você seu sua um se".split()),
    "nl": frozenset("de het een en is van dat die niet op met voor zijn ook maar als bij naar er wat ik je".split()),
}
_WORDS = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_MIN_LETTERS = 12
"""Below this many letters a segment is not judged (``Hi``, ``Thanks!``)."""
_GLUE_SHARE = 0.15
_GLUE_WORDS = 3
"""Grammar words decide from this many lower-case words on."""
_LINGUA_WORDS = 5
"""Without grammar words, lingua judges from this many lower-case words on (names and forms say nothing)."""
_STAY_SHARE = 0.08
"""A line of a document with this share of the document language's grammar words stays in it."""
_LINE_WORDS = 6
"""Lower-case words a line of a longer text needs to be judged on its own."""
_LINGUA_SURE = 0.5
_LINGUA_CHARS = 2000
# Languages lingua chooses among: the EU's, its neighbours' and the world's most written.
_CANDIDATES = ("ENGLISH FRENCH GERMAN ITALIAN SPANISH PORTUGUESE DUTCH POLISH SWEDISH DANISH BOKMAL FINNISH CZECH "
               "SLOVAK HUNGARIAN ROMANIAN GREEK BULGARIAN CROATIAN SLOVENE ESTONIAN LATVIAN LITHUANIAN RUSSIAN "
               "UKRAINIAN TURKISH ARABIC CHINESE JAPANESE KOREAN HINDI VIETNAMESE INDONESIAN CATALAN HEBREW "
               "PERSIAN").split()


@lru_cache(maxsize=1)
def _lingua() -> Any:
    try:
        from lingua import Language, LanguageDetectorBuilder
    except ImportError as exc:
        raise MissingDependency("lingua-language-detector", "fr") from exc
    languages = [getattr(Language, name) for name in _CANDIDATES]
    return LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode().build()


_ADDRESSES = re.compile(r"\S*(?:://|@|www\.|\.(?:com|org|net)\b)\S*", re.IGNORECASE)


def _lower_words(text: str) -> list[str]:
    """The words not written capitalised, outside URLs and e-mails: names, acronyms and
    addresses say nothing of the language."""
    plain = _ADDRESSES.sub(" ", text[:_LINGUA_CHARS])
    return [w.casefold() for w in _WORDS.findall(plain) if not w[0].isupper()]


def _glue_share(text: str, code: str) -> float:
    """The share of grammar words of ``code`` among the lower-case words of ``text``."""
    glue = _GLUE.get(code)
    words = _lower_words(text)
    if not glue or not words:
        return 0.0
    return sum(1 for w in words if w in glue or re.split("['’]", w)[0] in glue) / len(words)


def _lingua_guess(text: str) -> str | None:
    values = _lingua().compute_language_confidence_values(text[:_LINGUA_CHARS])
    if not values or values[0].value < _LINGUA_SURE:
        return None
    return values[0].language.iso_code_639_1.name.lower()


def identify(text: str, covered: Sequence[str] = ("en", "fr")) -> str | None:
    """The ISO 639-1 code of ``text``'s language, or None when it cannot be told.

    Grammar words decide when there are enough of them (a covered language wins a
    tie); lingua judges the rest: other scripts, and languages without a word list.
    """
    letters = [c for c in text[:_LINGUA_CHARS] if c.isalpha()]
    if len(letters) < _MIN_LETTERS:
        return None
    if sum(1 for c in letters if ord(c) < 0x250) < len(letters) / 2:
        return _lingua_guess(text)  # another script: lingua tells them apart reliably
    words = _lower_words(text)
    if len(words) >= _GLUE_WORDS:
        ranked = sorted(((_glue_share(text, code), code in covered, code) for code in _GLUE), reverse=True)
        share, _, code = ranked[0]
        if share >= _GLUE_SHARE:
            return code
    if len(words) < _LINGUA_WORDS:
        return None
    return _lingua_guess(text)


@dataclass(frozen=True)
class Segment:
    start: int
    end: int
    language: str
    """The language it is read in (a covered one, or the English fallback)."""
    found: str | None
    """The language identified (None: too short to tell, read as its neighbours)."""

    @property
    def covered(self) -> bool:
        return self.found is None or self.found == self.language


_LINE = re.compile(r"[^\n]*(?:\n|$)")
_cache: OrderedDict[tuple[str, tuple[str, ...], str], tuple[Segment, ...]] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 256


def segments(text: str, config: "DetectConfig") -> tuple[Segment, ...]:
    """``text`` cut into runs of one language, covering it entirely.

    Cached on a digest of the text (the router asks once for the decision and
    the detector once for the pipelines); the cache holds offsets, never text.
    """
    if not needs_identification(config):
        return (Segment(0, len(text), config.languages[0], None),) if text else ()
    key = (hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(), config.languages,
           config.unknown_language)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    found = _segments(text, config)
    with _cache_lock:
        _cache[key] = found
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return found


def _segments(text: str, config: "DetectConfig") -> tuple[Segment, ...]:
    covered = config.languages
    lines = [(m.start(), m.end()) for m in _LINE.finditer(text) if m.end() > m.start()]
    if not lines:
        return ()
    whole = identify(text, covered)
    # One identification for the whole text when its lines would agree anyway.
    judged: list[tuple[int, int, str | None]] = []
    if len(lines) == 1 or len(text) <= 200:
        judged = [(0, len(text), whole)]
    else:
        for start, end in lines:
            line = text[start:end]
            # A line of names ("M. J. Turner, conseiller") is read in its neighbours' language.
            found = identify(line, covered) if len(_lower_words(line)) >= _LINE_WORDS else None
            if found != whole and whole is not None and _glue_share(line, whole) >= _STAY_SHARE:
                found = whole  # a line that still uses the document's grammar words is in its language
            judged.append((start, end, found))
        # Undetermined lines take the language of the line before (else after, else the whole text's).
        known = [lang for _, _, lang in judged if lang is not None]
        if not known:
            judged = [(0, len(text), whole)]
        else:
            filled, previous = [], None
            following = _following(judged)
            for (start, end, lang), after in zip(judged, following):
                if not text[start:end].strip():
                    previous = None  # a blank line starts a paragraph: it goes with what follows
                lang = lang or previous or after
                filled.append((start, end, lang))
                previous = lang
            judged = filled
    out: list[Segment] = []
    for start, end, lang in judged:
        read = _reading(lang, config)
        if out and out[-1].found == lang:
            out[-1] = Segment(out[-1].start, end, read, lang)
        else:
            out.append(Segment(start, end, read, lang))
    return tuple(out)


def _following(judged: list[tuple[int, int, str | None]]) -> list[str | None]:
    out: list[str | None] = [None] * len(judged)
    nxt = None
    for index in range(len(judged) - 1, -1, -1):
        out[index] = nxt
        if judged[index][2] is not None:
            nxt = judged[index][2]
    return out


def _reading(found: str | None, config: "DetectConfig") -> str:
    """The covered language a segment is read in."""
    if found is None:
        return config.languages[0]
    if found in config.languages:
        return found
    return "en"


def uncovered_languages(text: str, config: "DetectConfig") -> tuple[str, ...]:
    """The languages identified in ``text`` that the policy does not cover, in order."""
    if not needs_identification(config):
        return ()
    out: list[str] = []
    for segment in segments(text, config):
        if not segment.covered and segment.found not in out:
            out.append(segment.found or "")
    return tuple(out)


def refuse_uncovered(text: str, config: "DetectConfig") -> None:
    """Raise LanguageNotCovered when redaction alone would read ``text`` in a language the
    policy does not cover and the policy does not allow reading it as English."""
    if config.unknown_language == "redact-with-en":
        return
    found = uncovered_languages(text, config)
    if found:
        raise LanguageNotCovered(found, config.unknown_language)


def dominant_language(text: str, covered: Sequence[str] = ("en", "fr")) -> str:
    """The language of most of ``text`` ('und' when it cannot be told): for per-language reports."""
    try:
        return identify(text, covered) or "und"
    except MissingDependency:
        return "und"
