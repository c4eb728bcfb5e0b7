"""Personal data in pasted structured data: CSV/TSV with a header row, JSON and key=value pairs.

The field name says what a value is even when the value alone says nothing
("Luca" at the start of a CSV row, a surname in a JSON string). Both finders
only type values whose field name is a known personal-data field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .recognizers import Hit

__all__ = ["STRUCTURED_FINDERS", "STRUCTURED_TYPES", "field_type"]

# Words in a field name -> the type of its values (checked in this order).
_FIELD_WORDS: tuple[tuple[str, frozenset[str]], ...] = (
    ("EMAIL_ADDRESS", frozenset({"email", "e-mail", "mail", "emailaddress"})),
    ("FAX_NUMBER", frozenset({"fax"})),
    ("PHONE_NUMBER", frozenset({"phone", "tel", "telephone", "mobile", "cell", "phonenumber"})),
    ("US_SSN", frozenset({"ssn", "social"})),
    ("DATE_TIME", frozenset({"dob", "birthdate", "birthday", "birth", "born"})),
    ("MEDICAL_RECORD_NUMBER", frozenset({"mrn", "record", "chart", "patientid"})),
    ("HEALTH_PLAN_ID", frozenset({"member", "memberid", "policy", "subscriber", "beneficiary", "insurance"})),
    ("CREDIT_CARD", frozenset({"card", "cardnumber", "pan", "cc"})),
    ("IBAN_CODE", frozenset({"iban"})),
    ("ACCOUNT_NUMBER", frozenset({"account", "acct", "accountnumber"})),
    ("STREET_ADDRESS", frozenset({"address", "street", "addr", "address1", "address2", "line1", "line2"})),
    ("ZIP_CODE", frozenset({"zip", "zipcode", "postcode", "postal", "postalcode", "plz"})),
    ("LOCATION", frozenset({"city", "town", "county", "municipality"})),
    ("IP_ADDRESS", frozenset({"ip", "ipaddress"})),
    ("PERSON", frozenset({"name", "first", "last", "firstname", "lastname", "surname", "fullname", "given",
                          "family", "middle", "patient", "client", "customer", "contact", "username",
                          "nome", "cognome", "nombre", "apellido", "vorname", "nachname", "prenom", "nom"})),
)
STRUCTURED_TYPES: tuple[str, ...] = tuple(sorted({t for t, _ in _FIELD_WORDS}))

_SPLIT_KEY = re.compile(r"[^a-z0-9-]+")
_NOT_VALUES = frozenset({"", "null", "none", "n/a", "na", "nil", "-", "unknown", "true", "false"})


def field_type(name: str) -> str | None:
    """The type of the values of a field called ``name`` (None when it is not personal data)."""
    lowered = name.strip().lower()
    words = set(_SPLIT_KEY.split(lowered)) | {_SPLIT_KEY.sub("", lowered)}
    for type_, keys in _FIELD_WORDS:
        if words & keys:
            return type_
    return None


_QUOTED_PAIR = re.compile(
    r"""["']?([A-Za-z][\w .-]{0,30}?)["']?[ \t]*[:=][ \t]*(?:"([^"\n]{1,120})"|'([^'\n]{1,120})')""")


# Every pair holds this: prose with apostrophes but no pair is skipped without trying
# _QUOTED_PAIR's lazy key at every letter.
_PAIR_HINT = re.compile(r"""[:=][ \t]*["']""")


def _key_values(text: str) -> Iterator[Hit]:
    if _PAIR_HINT.search(text) is None:
        return
    for match in _QUOTED_PAIR.finditer(text):
        type_ = field_type(match.group(1))
        group = 2 if match.group(2) is not None else 3
        value = match.group(group)
        if type_ is None or value.strip().lower() in _NOT_VALUES:
            continue
        yield Hit(match.start(group), match.end(group), type_, 0.7)


_DELIMITERS = (",", "\t", ";", "|")


def _cells(line: str, delimiter: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for index, char in enumerate(line + delimiter):
        if char == delimiter:
            spans.append((start, index))
            start = index + 1
    return spans


def _tables(text: str) -> Iterator[Hit]:
    if "\n" not in text:
        return
    lines = [(m.start(), m.group()) for m in re.finditer(r"[^\n]+", text)]
    index = 0
    while index < len(lines) - 1:
        offset, line = lines[index]
        index += 1
        for delimiter in _DELIMITERS:
            header = _header(line, delimiter)
            if header is None:
                continue
            types = [field_type(name) for name in header]
            while index < len(lines):
                row_offset, row = lines[index]
                cells = _cells(row, delimiter)
                if len(cells) != len(header):
                    break
                index += 1  # a row is never read as another table's header
                for (start, end), type_ in zip(cells, types):
                    value = row[start:end].strip().strip("\"'")
                    if type_ is None or value.lower() in _NOT_VALUES:
                        continue
                    lead = len(row[start:end]) - len(row[start:end].lstrip().lstrip("\"'"))
                    begin = row_offset + start + lead
                    yield Hit(begin, begin + len(value), type_, 0.7)
            break


_HEADER_CELL = re.compile(r"[A-Za-z_][\w .()/#-]{0,30}")


def _header(line: str, delimiter: str) -> list[str] | None:
    """The column names when ``line`` is a table header (short names, half of them personal fields)."""
    if line.count(delimiter) < 1:
        return None
    names = [line[s:e].strip().strip("\"'") for s, e in _cells(line, delimiter)]
    if not all(_HEADER_CELL.fullmatch(name) and len(name.split()) <= 3 for name in names):
        return None
    known = sum(field_type(name) is not None for name in names)
    return names if known and known * 2 >= len(names) else None


STRUCTURED_FINDERS = (_key_values, _tables)
