"""French identifiers: each a form with a checksum or a label, never a value from data.

* NIR (numéro de sécurité sociale / INSEE): sex, year, month, département
  (``2A``/``2B`` in Corsica), commune, order and a key ``97 - (number mod 97)``
  (Corsica: ``2A`` counts as 19, ``2B`` as 18); a number with a valid key is
  reported alone, one without its key only after its name;
* SIREN (9 digits) and SIRET (14 digits), Luhn, after their name or ``RCS``;
* IBAN ``FR76 ...`` (ISO 13616) and RIB after its name;
* phone numbers: ``06 12 34 56 78``, ``06.12.34.56.78``, ``+33 6 12 34 56 78``,
  ``+33 (0)6 ...``, ``0033 6 ...``;
* postal addresses: number (``bis``/``ter``), way type (rue, avenue, bd, chemin,
  allée, impasse, quai, place, ...), its name, then a postcode and town; ``BP``,
  ``CEDEX``; a postcode and a capitalised town after an address cue;
* dates in words: ``3 mars 1975``, ``le 1er janvier``, ``14 ou 15 février 1990``,
  ``mars 1975`` (a month with its year; a month alone is not a date);
* passport (``12AB34567``) and identity card numbers (12 digits, or 9 letters
  and digits since 2021) after their names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from ..recognizers import Hit, iban_ok, luhn_ok

__all__ = ["FRENCH_PATTERN_TYPES", "french_pattern_finders", "nir_ok", "siren_ok"]

FRENCH_PATTERN_TYPES = ("NATIONAL_ID", "TAX_ID", "IBAN_CODE", "ACCOUNT_NUMBER", "PHONE_NUMBER", "STREET_ADDRESS",
                        "ZIP_CODE", "DATE_TIME", "US_PASSPORT")
_I = re.IGNORECASE
_WINDOW = 60


def _cued(text: str, start: int, cue: re.Pattern[str], window: int = _WINDOW) -> bool:
    return cue.search(text, max(0, start - window), start) is not None


# ---------------------------------------------------------------- NIR

_NIR = re.compile(r"(?<![\w])([1-478])[ .]?(\d{2})[ .]?(0[1-9]|1[0-2]|[2-9]\d)[ .]?(\d{2}|2[AaBb])[ .]?(\d{3})"
                  r"[ .]?(\d{3})(?:[ .]?(\d{2}))?(?![\w])")
_NIR_CUE = re.compile(r"\b(?:nir|insee|s[ée]curit[ée]\s+sociale|s[ée]cu|num[ée]ro\s+d['’]inscription|carte\s+vitale|"
                      r"immatriculation)\b", _I)


def nir_ok(number: str, key: str) -> bool:
    """The NIR key: 97 - (the 13 characters as a number, Corsica's 2A/2B as 19/18) mod 97."""
    digits = number.upper().replace("2A", "19", 1) if "2A" in number.upper()[5:7] else number.upper()
    digits = digits.replace("2B", "18", 1) if "2B" in digits[5:7] else digits
    if not digits.isdigit() or len(digits) != 13 or not key.isdigit():
        return False
    return 97 - int(digits) % 97 == int(key)


def _nir(text: str) -> Iterator[Hit]:
    for match in _NIR.finditer(text):
        number = "".join(match.group(i) for i in range(1, 7))
        key = match.group(7)
        if key is not None and nir_ok(number, key):
            yield Hit(match.start(), match.end(), "NATIONAL_ID", 0.95)
        elif _cued(text, match.start(), _NIR_CUE):
            yield Hit(match.start(), match.end(), "NATIONAL_ID", 0.75)


# ---------------------------------------------------------------- SIREN / SIRET, IBAN, RIB

_SIREN = re.compile(r"(?<![\w])(\d{3}[ .]?\d{3}[ .]?\d{3})(?:[ .]?(\d{5}))?(?![\w])")
_SIREN_CUE = re.compile(r"\b(?:siren|siret|rcs|immatricul[ée]e?|registre\s+du\s+commerce)\b", _I)


def siren_ok(digits: str) -> bool:
    """Luhn over a SIREN or SIRET; La Poste's SIRETs (SIREN 356000000) sum to a multiple of 5."""
    if len(digits) == 14 and digits.startswith("356000000"):
        return sum(int(d) for d in digits) % 5 == 0
    return luhn_ok(digits)


def _siren(text: str) -> Iterator[Hit]:
    for match in _SIREN.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if siren_ok(digits) and _cued(text, match.start(), _SIREN_CUE):
            yield Hit(match.start(), match.end(), "TAX_ID", 0.85)


_IBAN_FR = re.compile(r"(?<![\w])FR\s?\d{2}(?:[ ]?[0-9A-Z]{4}){5}[ ]?[0-9A-Z]{3}(?![\w])", _I)
_RIB = re.compile(r"(?<![\w])\d{5}[ ]?\d{5}[ ]?[0-9A-Z]{11}[ ]?\d{2}(?![\w])")
_RIB_CUE = re.compile(r"\b(?:rib|relev[ée]\s+d['’]identit[ée]\s+bancaire|compte(?:\s+bancaire)?)\b", _I)


def _bank(text: str) -> Iterator[Hit]:
    for match in _IBAN_FR.finditer(text):
        if iban_ok(match.group()):
            yield Hit(match.start(), match.end(), "IBAN_CODE", 0.95)
    for match in _RIB.finditer(text):
        if _cued(text, match.start(), _RIB_CUE):
            yield Hit(match.start(), match.end(), "ACCOUNT_NUMBER", 0.8)


# ---------------------------------------------------------------- phones

_PHONE = re.compile(r"(?<![\w+])(?:(?:\+|00)\s?33[ .-]?(?:\(0\)[ .-]?)?[1-9]|0[1-9])(?:[ .-]?\d{2}){4}(?![\w])")


def _phones(text: str) -> Iterator[Hit]:
    for match in _PHONE.finditer(text):
        yield Hit(match.start(), match.end(), "PHONE_NUMBER", 0.75)


# ---------------------------------------------------------------- addresses

_WAY = (r"rue|avenue|av\.?|boulevard|bd|bld|place|pl\.|chemin|ch\.|all[ée]e|impasse|quai|route|rte|cours|square|"
        r"passage|faubourg|fbg|rond-point|lieu-dit|voie|villa|cit[ée]|r[ée]sidence|hameau|sentier|esplanade|"
        r"promenade|parvis|mont[ée]e|traverse|lotissement|domaine")
_NAME_WORD = r"[\w'’.-]+"
_STREET = re.compile(
    rf"(?<![\w])\d{{1,4}}(?:\s?(?:bis|ter|quater|[A-D])\b)?\s?,?\s+(?:{_WAY})(?=\s)"
    rf"(?:\s+(?:de\s+la|de\s+l['’]|des|du|de|d['’]|la|le|les|l['’]|aux|au)?\s*{_NAME_WORD}){{1,5}}", _I)
_TOWN = re.compile(r"\s*,?\s*(?:(?:\d{5}|\d{2}\s\d{3})\s+[A-ZÀ-Ý][\w'’-]*(?:[ -][A-ZÀ-Ý][\w'’-]*){0,3}"
                   r"(?:\s+cedex(?:\s+\d{1,2})?)?)", _I)
_BP = re.compile(r"(?<![\w])(?:BP|B\.P\.|bo[iî]te\s+postale|CS)\s?\d{1,6}(?![\w])", _I)
_POSTCODE_CUE = re.compile(r"\b(?:demeurant|domicili[ée]e?|r[ée]sidant|habitant|adresse|sis|sise|situ[ée]e?)\b", _I)
_POSTCODE_TOWN = re.compile(r"(?<![\w])(?:\d{5}|\d{2}\s\d{3})\s+[A-ZÀ-Ý][\w'’-]+(?:[ -][A-ZÀ-Ý][\w'’-]+){0,3}"
                            r"(?:\s+cedex(?:\s+\d{1,2})?)?")
_CAP_START = re.compile(r"[A-ZÀ-Ý0-9]")


def _addresses(text: str) -> Iterator[Hit]:
    for match in _STREET.finditer(text):
        end = match.end()
        # The way's name stops at the first lower-case word after its capitalised part.
        words = list(re.finditer(_NAME_WORD, text[match.start():end]))
        cut = end
        for word in words[2:]:
            value = word.group()
            if value[0].islower() and value.lower() not in ("de", "du", "des", "la", "le", "les", "d'", "d’",
                                                               "l'", "l’", "aux", "au", "bis", "ter"):
                cut = match.start() + word.start()
                break
        end = cut
        town = _TOWN.match(text, end)
        if town is not None:
            end = town.end()
        value = text[match.start():end].rstrip(" ,.")
        yield Hit(match.start(), match.start() + len(value), "STREET_ADDRESS", 0.7)
    for match in _BP.finditer(text):
        yield Hit(match.start(), match.end(), "STREET_ADDRESS", 0.6)
    for match in _POSTCODE_TOWN.finditer(text):
        if _cued(text, match.start(), _POSTCODE_CUE, 80):
            yield Hit(match.start(), match.end(), "STREET_ADDRESS", 0.6)


# ---------------------------------------------------------------- dates

MONTHS = (r"janvier|f[ée]vrier|mars|avril|mai|juin|juillet|ao[uû]t|septembre|octobre|novembre|d[ée]cembre|"
          r"janv\.|f[ée]vr?\.|avr\.|juil\.|sept\.|oct\.|nov\.|d[ée]c\.")
_DAY = r"(?:1er|1\s?er|premier|[12]\d|3[01]|0?[1-9])"
_WEEKDAY = r"(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)\s+"
_DATE = re.compile(
    rf"(?<![\w])(?:{_WEEKDAY})?{_DAY}(?:\s*(?:,|et|ou|au|-)\s*{_DAY})*\s+(?:{MONTHS})(?![\w])(?:\s+(?:19|20)\d{{2}})?"
    rf"|(?<![\w])(?:{MONTHS})\s+(?:19|20)\d{{2}}(?![\w])", _I)


def _dates(text: str) -> Iterator[Hit]:
    for match in _DATE.finditer(text):
        yield Hit(match.start(), match.end(), "DATE_TIME", 0.7)


# ---------------------------------------------------------------- passport, identity card

_PASSPORT = re.compile(r"\bpasseport\b[^\n\d]{0,40}?(?<![\w])(\d{2}\s?[A-Z]{2}\s?\d{5})(?![\w])", _I)
_ID_CARD = re.compile(r"\b(?:carte\s+(?:nationale\s+)?d['’]identit[ée]|cni|pi[eè]ce\s+d['’]identit[ée])\b"
                      r"[^\n]{0,40}?(?<![\w])(\d{12}|\d{4}\s\d{4}\s\d{4}|(?=[A-Z0-9]{9}\b)(?=[A-Z]*\d)[A-Z0-9]{9})"
                      r"(?![\w])", _I)


def _documents(text: str) -> Iterator[Hit]:
    for match in _PASSPORT.finditer(text):
        yield Hit(match.start(1), match.end(1), "US_PASSPORT", 0.85)
    for match in _ID_CARD.finditer(text):
        yield Hit(match.start(1), match.end(1), "NATIONAL_ID", 0.85)


def french_pattern_finders() -> tuple[object, ...]:
    return (_nir, _siren, _bank, _phones, _addresses, _dates, _documents)
