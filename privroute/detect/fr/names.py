"""French names: after a civility or title, with particles, hyphenated given names.

* ``M. Dupont``, ``Mme E. Palm``, ``Me Jean-Marc Le Gall``, ``MM. R. Reed, I. Jamieson
  et A. Dickson`` (a list after a plural civility), ``Sir John Freeland``: the civility
  (``M.``, ``Mme``, ``Mlle``, ``Me``, ``Dr``, ``Pr``, ``Monsieur``, ``Madame``, ``Maître``,
  ...) then initials, particles (``de``, ``du``, ``des``, ``d'``, ``de la``, ``Le``, ``La``,
  ``van``, ``von``) and capitalised words; a role after the civility (``M. le Président``,
  ``Mme la juge``) is not a name;
* a hyphenated given name and what follows it (``Jean-Pierre Dupont``,
  ``Marie-Claire de Villiers``), when the first part is a known given name;
* ``X, né le ...`` / ``née X``: the name a birth cue points at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..recognizers import Hit

__all__ = ["french_name_finders"]

_UPPER = "A-ZÀ-ÖØ-Ý"
_CIVILITY = (r"(?:(?:MM|Mmes|Mlles|Mme|Mlle|Mes|Me|M|Dr|Drs|Pr|Mgr)(?:\s?\.)?|Monsieur|Madame|Mademoiselle|Messieurs|"
             r"Mesdames|Ma[îi]tres?|Docteur|Professeur|Sir|Lord|Lady|Dame)")
_INITIAL = rf"[{_UPPER}](?:[a-z]{{0,2}})?\s?\.(?:\s?-\s?[{_UPPER}]\s?\.)?"
_PARTICLE = (r"(?:de\s+la|de\s+l['’]|d['’]|de|du|des|van\s+der|van\s+den|van|von|der|den|da|di|dos|das|del|"
             r"della|Le|La|Ben|Al|El|ter|ten|zu|af)")
_CAPWORD = rf"[{_UPPER}][\w'’]*(?:\s?-\s?[{_UPPER}][\w'’]*)*"
_NAME = (rf"(?:{_INITIAL}\s*)*(?:{_PARTICLE}\s*)?{_CAPWORD}"
         rf"(?:[ \t]+(?:{_PARTICLE}\s*)?{_CAPWORD}){{0,3}}")
# Role and office words written after a civility: the office is meant, not a name.
_ROLES = frozenset("""
président présidente juge juges greffier greffière greffiers agent agents ministre procureur procureure avocat
avocate avocats conseil conseiller conseillère délégué déléguée rapporteur rapporteure commissaire préfet maire
directeur directrice secrétaire gouvernement requérant requérante requérants défendeur défenderesse le la les
""".split())
_ROLE_WORDS = re.compile(r"[\w'’]+")
_CIVIL_NAME = re.compile(rf"(?<![\w])({_CIVILITY})\s*({_NAME})"
                         rf"((?:\s*(?:,|et)\s*(?:{_CIVILITY}\s*)?{_NAME})*)")
_PLURAL = re.compile(r"MM|Mmes|Mlles|Mes|Messieurs|Mesdames|Ma[îi]tres|Drs", re.IGNORECASE)
_HYPHENATED = re.compile(rf"(?<![\w-])([{_UPPER}][a-zà-ÿ]+)-([{_UPPER}][a-zà-ÿ]+)(?:[ \t]+(?:{_PARTICLE}\s*)?"
                         rf"{_CAPWORD}){{1,3}}")
_LIST_ITEM = re.compile(rf"\s*(?:,|et)\s*((?:{_CIVILITY}\s*)?{_NAME})")


def _a_role(value: str) -> bool:
    first = _ROLE_WORDS.search(value)
    return first is None or first.group().casefold() in _ROLES


def _civility_names(text: str) -> Iterator[Hit]:
    for match in _CIVIL_NAME.finditer(text):
        name = match.group(2)
        if _a_role(name):
            continue
        yield Hit(match.start(), match.end(2), "PERSON", 0.85)
        if match.group(3) and (_PLURAL.fullmatch(match.group(1).rstrip(" .")) or "et" in match.group(3)):
            base = match.end(2)
            for item in _LIST_ITEM.finditer(match.group(3)):
                if not _a_role(item.group(1)):
                    yield Hit(base + item.start(1), base + item.end(1), "PERSON", 0.8)


def _hyphenated(given: frozenset[str]) -> object:
    def find(text: str) -> Iterator[Hit]:
        for match in _HYPHENATED.finditer(text):
            if match.group(1).casefold() in given or match.group(2).casefold() in given:
                yield Hit(match.start(), match.end(), "PERSON", 0.7)
    return find


_INITIALED = re.compile(rf"(?<![\w.’'])((?:[{_UPPER}]\s?\.\s?(?:-\s?[{_UPPER}]\s?\.\s?)?){{1,3}})"
                        rf"((?:{_PARTICLE}\s*)?{_CAPWORD})")


def _initialed(vocabulary: frozenset[str]) -> object:
    """``I. Jamieson``, ``J.-A. Mackenzie``: initials before a word that is not an ordinary French word."""
    def find(text: str) -> Iterator[Hit]:
        for match in _INITIALED.finditer(text):
            word = re.split(r"[\s'’-]", match.group(2).strip())[-1]
            if len(word) >= 2 and word.casefold() not in vocabulary and not word.isupper():
                yield Hit(match.start(), match.end(), "PERSON", 0.7)
    return find


def french_name_finders(given: frozenset[str], vocabulary: frozenset[str] = frozenset()) -> tuple[object, ...]:
    return (_civility_names, _hyphenated(given), _initialed(vocabulary))
