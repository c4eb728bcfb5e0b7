"""French keep rules: what the French recognizer takes for a name or a place but is not personal data.

They run before the document steps (document.py), under the names of the English
rules the policy chose (``detect.keep``), and like them they follow the form or
the context of a span, never a list of values:

* ``public_bodies`` / ``legal_references``: institutions, courts and instruments,
  named by their head word (``Cour``, ``tribunal``, ``ministère``, ``Commission``,
  ``gouvernement``, ``Protocole``, ``État``, ``Royaume-Uni``; also the English ones an
  ECHR judgment quotes: ``High Court``, ``Home Office``, ``Registrar``);
* ``general_places``: a place with no residence, birth or detention cue before it
  (``vit à``, ``demeurant``, ``né à``, ``détenu à``) and not beside an address or
  another place: where a court sits, a country, a region in the narrative;
* ``headings``: spans in an all-capital heading line of ordinary words (``EN DROIT``);
* always: a span of ordinary words the document itself also writes in lower case
  (``Cour`` beside ``la cour``, ``Avis``), unless a civility or a given name marks a person.

Spans the French name recognizer anchored on a civility, numbers, addresses and
every pattern's span are never touched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..base import Entity

__all__ = ["french_keep"]

_SOFT = frozenset({"PERSON", "ORGANIZATION", "LOCATION", "NRP"})
_ANCHORED = "privroute-fr-names"
_WORD = re.compile(r"[^\W\d_][\w'’]*")
_PARTICLES = frozenset("de du des d la le les l et en à au aux of the and for".split())

# Head words of institutions, courts and legal instruments (French, and the English an ECHR judgment quotes).
_INSTITUTION = frozenset("""
cour cours tribunal tribunaux conseil commission comité ministère ministre gouvernement parlement assemblée sénat
chambre parquet préfecture préfet mairie municipalité police gendarmerie office agence autorité administration
état etat états république royaume union convention protocole règlement code loi charte traité constitution
direction service services département région conseil bureau caisse institut inspection ordre barreau greffe
juridiction section grande haute procureur procureure ombudsman médiateur défenseur inspecteur
court house office department ministry secretary registrar board council commission tribunal crown home
foreign high supreme appeal appeals divisional chancery queen king parliament government state lord lords
""".split())
_RESIDENCE = re.compile(r"\b(?:vi[tv]\w*|habit\w*|demeur\w*|domicili\w*|r[ée]sid\w*|n[ée]e?s?|naissance|originaire|"
                        r"adresse|village|commune|d[ée]tenue?s?|incarc[ée]r\w*|prison|maison\s+d['’]arr[êe]t|"
                        r"install[ée]e?s?|h[ée]berg[ée]e?s?|log[ée]e?s?|travaill\w*|employ[ée]e?s?)\b[^.;\n]{0,30}$",
                        re.IGNORECASE)
_CIVILITY_BEFORE = re.compile(r"(?:\b(?:M|MM|Mme|Mlle|Me|Dr|Pr)\s?\.?|Monsieur|Madame|Ma[îi]tre|Sir|Lord|Lady)\s*$")


_ROLES = frozenset("""
président présidente vice-président juge juges greffier greffière greffiers agent agents avocat avocate avocats
conseil conseils conseiller conseillère délégué déléguée rapporteur rapporteure commissaire suppléant requérant
requérante requérants requérantes défendeur défenderesse intéressé intéressée témoin expert médecin
""".split())


def _content(value: str) -> list[str]:
    words = (w.rstrip("'’") for w in _WORD.findall(value))
    return [w for w in words if w.casefold() not in _PARTICLES and len(w) > 2]


def _institution(value: str) -> bool:
    """Headed by an institution or an office: "Cour d'appel", "président de la Cour"."""
    words = _content(value)
    if not words:
        return False
    head = words[0].casefold()
    if head in _ROLES and words[0][0].islower():
        return all(w[0].islower() or w.casefold() in _INSTITUTION for w in words[1:])
    return head in _INSTITUTION


def _lower_elsewhere(word: str, text: str) -> bool:
    folded = word.casefold()
    return re.search(rf"(?<![\w'’-]){re.escape(folded)}(?![\w'’-])", text) is not None


def _ordinary(value: str, text: str, context: Any) -> bool:
    """Every content word is a French word the document also writes in lower case, none a given name."""
    words = _content(value)
    if not words:
        return True
    for word in words:
        folded = word.casefold()
        if folded in context.given or folded not in context.english or not _lower_elsewhere(word, text):
            return False
    return True


def _heading(text: str, start: int, end: int) -> bool:
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line = text[line_start:line_end if line_end >= 0 else len(text)]
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 3 and all(c.isupper() for c in letters) and len(line) <= 120


def _place_kept(text: str, entity: Entity, places: Sequence[Entity]) -> bool:
    if _RESIDENCE.search(text, max(0, entity.start - 60), entity.start):
        return False
    for other in places:
        if other is entity:
            continue
        gap = text[min(entity.end, other.end):max(entity.start, other.start)] if not entity.overlaps(other) else ""
        if len(gap) <= 6 and re.fullmatch(r"[\s,(]*(?:en|au|aux|à|dans|le|la)?[\s,(]*", gap):
            return False  # "Perth, en Écosse": a place made precise is an address
    return True


_CIVILITY_WORDS = frozenset("m mm mme mmes mlle mlles me mes dr pr monsieur madame mademoiselle messieurs mesdames "
                            "maître maîtres sir lord lady dame".split())


def _no_name_after_civility(value: str) -> bool:
    """Only civilities, or civilities before lower-case words: "Madame", "Mme la rapporteure"."""
    words = [w for w in _WORD.findall(value) if w.casefold() not in _CIVILITY_WORDS]
    return not any(w[0].isupper() for w in words)


def french_keep(text: str, entities: Sequence[Entity], context: Any, rules: Sequence[str] = ()) -> list[Entity]:
    chosen = set(rules)
    survivors = []
    for entity in entities:
        if entity.type not in _SOFT or entity.source == _ANCHORED:
            survivors.append(entity)
            continue
        value = text[entity.start:entity.end]
        if _no_name_after_civility(value):
            continue  # French writes names, places and institutions' names with a capital
        civil = _CIVILITY_BEFORE.search(text, max(0, entity.start - 12), entity.start) is not None
        if not civil and ({"public_bodies", "legal_references"} & chosen) and _institution(value):
            continue
        if not civil and "headings" in chosen and _heading(text, entity.start, entity.end) and _ordinary(
                value, text.lower(), context):
            continue
        if not civil and entity.type != "LOCATION" and _ordinary(value, text, context):
            continue
        survivors.append(entity)
    if "general_places" not in chosen:
        return survivors
    # Judged after the rest: "la Cour siège à Strasbourg" is no longer a place beside a place.
    places = [e for e in survivors if e.type in ("LOCATION", "STREET_ADDRESS", "ZIP_CODE")]
    return [e for e in survivors if not (e.type == "LOCATION" and e.source != _ANCHORED
                                         and _place_kept(text, e, places))]
