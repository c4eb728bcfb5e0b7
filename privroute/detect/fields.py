"""What a column or key name says about the values under it.

A bare cell or JSON value has no context words: ``4471123`` under ``mrn`` is a
medical record number, ``XJ99812`` under ``Member ID`` a health plan id, ``Roe``
under ``lastName`` a surname, whatever they look like. Exports spell field names
in every convention (``MRN``, ``mrn_no``, ``Member ID``, ``patientName``,
``DateOfBirth``, ``acct_no``, ``PT_DOB``, ``e-mail``, ``zip+4``), so the name is
not looked up whole: it is cut into words (camelCase, snake_case, kebab, dots,
spaces, glued words split against the vocabulary below), abbreviations are
expanded to concepts, and the type follows from the concepts:

* an attribute of a person (name, date or place of birth, phone, e-mail,
  address, IP, ...) types the field whoever it belongs to (``guarantor_phone``);
* a subject that owns an identifier (patient, member, account, customer, policy,
  case, ...) together with an id word (id, no, num, number, #, code, key, ref)
  types it as that subject's identifier (``Member ID``, ``acct_no``);
* a word that is itself an identifier (mrn, ssn, iban, vin, ...) types it alone;
* a person role alone (``patient``, ``guardian``) holds a name;
* ``name`` after a thing (``product_name``, ``file_name``) holds no personal
  data, after an organisation (``employer_name``) an organisation;
* a trailing qualifier (``phone_type``, ``email_verified``, ``address_count``)
  describes the field, not the person, and types nothing.

A bare ``id`` (``id``, ``uuid``, ``#``) is :data:`RECORD_ID`: it identifies the
person only when the same record holds personal fields, which the caller (a
table or an object walker) knows; :func:`resolve_record_ids` settles it.

Policies add exact field names (``detect.fields.names``) and silence others
(``detect.fields.ignore``); both are compared in the same normalised form.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = ["FIELD_TYPES", "RECORD_ID", "FieldClassifier", "default_classifier", "field_words", "is_field_value",
           "resolve_record_ids", "type_values"]

RECORD_ID = "RECORD_ID"
"""A generic id field: personal only in a record that holds other personal fields."""
_RECORD_TYPE = "ACCOUNT_NUMBER"
"""What a generic id of a personal record is redacted as."""

# Abbreviations and spellings -> one concept word.
_ALIASES: dict[str, str] = {
    "acct": "account", "acc": "account", "accnt": "account", "acount": "account",
    "no": "#", "num": "#", "nbr": "#", "nr": "#", "number": "#", "numb": "#", "nro": "#", "nummer": "#",
    "numero": "#", "id": "#", "ident": "#", "identifier": "#", "identification": "#", "ref": "#",
    "reference": "#", "uid": "#", "guid": "#", "uuid": "#", "key": "#", "code": "#",
    "pt": "patient", "pat": "patient", "ptnt": "patient", "mbr": "member", "mem": "member", "subscr": "subscriber",
    "cust": "customer", "clnt": "client", "emp": "employee", "empl": "employee", "stud": "student",
    "fname": "first name", "lname": "last name", "mname": "middle name", "fullname": "full name",
    "firstname": "first name", "lastname": "last name", "givenname": "given name", "familyname": "family name",
    "surname": "last name", "forename": "first name", "nom": "last name", "prenom": "first name",
    "nombre": "name", "apellido": "last name", "apellidos": "last name", "vorname": "first name",
    "nachname": "last name", "cognome": "last name", "nome": "name", "naam": "name",
    "username": "user name", "nickname": "nick name",
    "dob": "birth", "bday": "birth", "birthday": "birth", "birthdate": "birth", "born": "birth",
    "geburtsdatum": "birth", "dod": "death", "deceased": "death",
    "tel": "phone", "telephone": "phone", "mobile": "phone", "cell": "phone", "cellphone": "phone",
    "landline": "phone", "msisdn": "phone", "pager": "phone", "telefon": "phone", "telefono": "phone",
    "ph": "phone", "phn": "phone", "whatsapp": "phone",
    "email": "email", "mail": "email", "emailaddress": "email", "courriel": "email",
    "addr": "address", "adr": "address", "street": "address", "residence": "address", "domicile": "address",
    "mailing": "address", "adresse": "address", "direccion": "address", "indirizzo": "address",
    "strasse": "address", "line1": "address", "line2": "address",
    "zip": "zip", "zipcode": "zip", "postcode": "zip", "postal": "zip", "plz": "zip", "postleitzahl": "zip",
    "cep": "zip",
    "city": "city", "town": "city", "village": "city", "county": "city", "municipality": "city",
    "suburb": "city", "locality": "city", "borough": "city", "ort": "city", "ciudad": "city", "ville": "city",
    "ipv4": "ip", "ipv6": "ip", "ipaddr": "ip", "ipaddress": "ip",
    "socsec": "ssn", "ss": "ssn",
    "licence": "license", "lic": "license", "dl": "driver", "drivers": "driver", "driving": "driver",
    "cc": "card", "ccn": "card", "pan": "card", "cardnumber": "card", "cvv": "card", "cvc": "card",
    "credit": "card", "debit": "card",
    "bic": "swift", "aba": "routing", "rtn": "routing",
    "imei": "device", "udi": "device", "serial": "device", "meid": "device", "imsi": "device", "mac": "device",
    "vin": "vehicle", "plate": "vehicle",
    "homepage": "website", "linkedin": "website", "twitter": "website", "facebook": "website",
    "instagram": "website", "url": "url",
    "taxpayer": "tax", "tin": "tax", "ein": "tax", "fein": "tax", "vat": "tax", "utr": "tax",
    "nin": "national", "nino": "national", "nid": "national", "aadhaar": "national", "bsn": "national",
    "pesel": "national", "cpr": "national", "personnummer": "national", "dni": "national", "curp": "national",
    "sin": "national", "nir": "national", "insee": "national", "nhs": "national", "identity": "national",
    "mrn": "mrn", "ehr": "mrn", "emr": "mrn", "pid": "mrn", "chart": "mrn",
    "hicn": "member #", "mbi": "member #", "medicaid": "member #", "medicare": "member #", "insured": "member",
    "subscriber": "member", "beneficiary": "member", "membership": "member",
    "docket": "docket", "matter": "case",
    "org": "organization", "organisation": "organization", "company": "organization",
    "employer": "organization", "business": "organization", "firm": "organization",
    "hospital": "organization", "facility": "organization", "clinic": "organization",
    "practice": "organization", "pharmacy": "organization", "school": "organization",
    "university": "organization", "insurer": "organization", "payer": "organization",
    "bank": "organization", "vendor": "organization", "supplier": "organization", "merchant": "organization",
    "agency": "organization",
}

# Concept words that are themselves an identifier kind: the field is typed with or without an id word.
_ID_WORDS: dict[str, str] = {
    "mrn": "MEDICAL_RECORD_NUMBER", "ssn": "US_SSN", "itin": "US_ITIN", "iban": "IBAN_CODE",
    "swift": "SWIFT_CODE", "routing": "ROUTING_NUMBER", "passport": "US_PASSPORT", "national": "NATIONAL_ID",
    "tax": "TAX_ID", "vehicle": "VEHICLE_ID", "device": "DEVICE_ID", "docket": "DOCKET_NUMBER",
    "npi": "LICENSE_NUMBER", "dea": "LICENSE_NUMBER", "card": "CREDIT_CARD",
}

# Subjects that own an identifier: typed only together with an id word (``account`` alone also counts).
_SUBJECTS: dict[str, str] = {
    "patient": "MEDICAL_RECORD_NUMBER", "medical": "MEDICAL_RECORD_NUMBER", "mr": "MEDICAL_RECORD_NUMBER",
    "record": "MEDICAL_RECORD_NUMBER",
    "encounter": "MEDICAL_RECORD_NUMBER", "visit": "MEDICAL_RECORD_NUMBER", "admission": "MEDICAL_RECORD_NUMBER",
    "accession": "MEDICAL_RECORD_NUMBER", "specimen": "MEDICAL_RECORD_NUMBER",
    "member": "HEALTH_PLAN_ID", "policy": "HEALTH_PLAN_ID", "insurance": "HEALTH_PLAN_ID",
    "claim": "HEALTH_PLAN_ID", "plan": "HEALTH_PLAN_ID",
    "account": "ACCOUNT_NUMBER", "customer": "ACCOUNT_NUMBER", "client": "ACCOUNT_NUMBER",
    "user": "ACCOUNT_NUMBER", "employee": "ACCOUNT_NUMBER", "staff": "ACCOUNT_NUMBER",
    "student": "ACCOUNT_NUMBER", "person": "ACCOUNT_NUMBER", "individual": "ACCOUNT_NUMBER",
    "applicant": "ACCOUNT_NUMBER", "guest": "ACCOUNT_NUMBER", "contact": "PHONE_NUMBER",
    "voter": "ACCOUNT_NUMBER", "citizen": "NATIONAL_ID", "billing": "ACCOUNT_NUMBER",
    "loyalty": "ACCOUNT_NUMBER", "login": "ACCOUNT_NUMBER", "borrower": "ACCOUNT_NUMBER",
    "loan": "ACCOUNT_NUMBER", "tenant": "ACCOUNT_NUMBER", "resident": "ACCOUNT_NUMBER",
    "license": "LICENSE_NUMBER", "certificate": "LICENSE_NUMBER", "case": "CASE_NUMBER",
    "social": "US_SSN", "security": "US_SSN", "sort": "ROUTING_NUMBER",
}
# A subject alone holds the person's name ({"patient": "Jane Roe"}).
_PERSON_ROLES = frozenset("""
patient client customer member guarantor guardian parent mother father spouse partner kin nok
holder owner contact physician doctor provider attending referring nurse signer signatory witness
attorney lawyer counsel plaintiff defendant petitioner respondent recipient beneficiary employee
applicant tenant borrower lender agent caregiver emergency insured author person individual
""".split())

# Things (not people) whose ``name`` is not personal data.
_THINGS = frozenset("""
product item drug medication med medicine file test field column table app application service host
hostname server domain event course category brand model project role group team department dept unit
ward room diagnosis procedure tag label variable param parameter class function method module package
image document doc attachment template campaign channel queue bucket database db schema index attribute
property setting option step task job action state country region currency language lang type display_type
plugin tool feature metric sku vessel ship building floor lab specialty
""".split()) - {"display"}

# A last word that describes the field rather than holding the value.
_QUALIFIERS = frozenset("""
type types status count counts total flag flags kind category format verified valid validated enabled
opt optin optout consent preference preferences source length size label labels visible visibility
hash hashed masked mask present missing exists required changed updated created modified is has
amount rate pct percent fee fees balance limit score level
""".split())

# Words that may stand before a person role without changing what it is ("next of kin", "emergency contact").
_MODIFIERS = frozenset("next of primary secondary alt other emergency home legal main".split())

_ORDER: tuple[tuple[str, str], ...] = (
    # attribute concept -> type, checked in this order (the first that applies wins)
    ("email", "EMAIL_ADDRESS"), ("ip", "IP_ADDRESS"), ("fax", "FAX_NUMBER"), ("phone", "PHONE_NUMBER"),
    ("website", "URL"), ("zip", "ZIP_CODE"),
)

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])")
_SPLIT = re.compile(r"[^a-z0-9#]+")

FIELD_TYPES: tuple[str, ...] = tuple(sorted(
    {t for _, t in _ORDER} | set(_ID_WORDS.values()) | set(_SUBJECTS.values())
    | {"PERSON", "ORGANIZATION", "DATE_TIME", "LOCATION", "STREET_ADDRESS", "US_DRIVER_LICENSE", _RECORD_TYPE}))


@lru_cache(maxsize=1)
def _vocabulary() -> frozenset[str]:
    """Every word a glued field name ("memberid", "dateofbirth") may be made of."""
    words = set(_ALIASES) | set(_ID_WORDS) | set(_SUBJECTS) | _PERSON_ROLES | {
        c for c, _ in _ORDER} | {"name", "first", "last", "middle", "given", "family", "full", "maiden",
                                 "nick", "date", "of", "place", "birth", "death", "address", "city", "line",
                                 "home", "work", "primary", "secondary", "alt", "other", "day", "at", "on",
                                 "dt", "house", "holder", "display"} | _THINGS
    return frozenset(w for w in words if len(w) >= 2 and w.isalpha())


@lru_cache(maxsize=4096)
def _unglue(word: str) -> tuple[str, ...]:
    """Split a glued lower-case word into vocabulary words, or keep it whole when it does not split."""
    vocab = _vocabulary()
    if word in vocab or len(word) > 40 or not word.isalpha():
        return (word,)
    for plural in ("es", "s"):  # "phones", "addresses"
        if word.endswith(plural) and word[:-len(plural)] in vocab:
            return (word[:-len(plural)],)
    # Fewest pieces wins ("surname" before "sur"+"name"); every piece must be known.
    best: list[tuple[str, ...] | None] = [None] * (len(word) + 1)
    best[0] = ()
    for end in range(2, len(word) + 1):
        for start in range(max(0, end - 16), end - 1):
            prefix, piece = best[start], word[start:end]
            if prefix is not None and piece in vocab and (best[end] is None or len(prefix) + 1 < len(best[end])):
                best[end] = (*prefix, piece)
    return best[-1] or (word,)


def field_words(name: str) -> tuple[str, ...]:
    """The concept words of a field name: ``"patientName"`` -> ``("patient", "name")``."""
    spaced = _CAMEL.sub(" ", name.strip())
    words: list[str] = []
    for raw in _SPLIT.split(spaced.lower().replace("e-mail", "email").replace("e_mail", "email")):
        if not raw:
            continue
        for token in re.findall(r"#|[a-z]+|[0-9]+", raw):
            pieces = _unglue(token) if token.isalpha() else (token,)
            for piece in pieces:
                words.extend(_ALIASES.get(piece, piece).split())
    return tuple(words)


def _normal(name: str) -> str:
    return " ".join(field_words(name))


@dataclass(frozen=True)
class FieldClassifier:
    """Field name -> entity type of its values (None: not personal, scan the value as text)."""

    names: Mapping[str, str] = field(default_factory=dict)
    """Extra exact field names (any spelling) and their types, from the policy."""
    ignore: frozenset[str] = frozenset()
    """Field names (normalised) that never type their values."""

    @classmethod
    def from_config(cls, names: Mapping[str, str] = {}, ignore: Sequence[str] = ()) -> "FieldClassifier":
        return cls({_normal(k): v for k, v in names.items()}, frozenset(_normal(n) for n in ignore))

    def type_of(self, name: str) -> str | None:
        """The type of the values under ``name``; :data:`RECORD_ID` for a bare id."""
        if not name or len(name) > 80:
            return None
        words = field_words(name)
        key = " ".join(words)
        if key in self.names:
            return self.names[key]
        if not words or key in self.ignore:
            return None
        return _classify(words)


def _classify(words: tuple[str, ...]) -> str | None:
    present = set(words)
    if words[-1] in _QUALIFIERS or (words[-1] in ("date", "time", "at", "on") and len(words) > 1
                                    and words[-2] in _QUALIFIERS):
        return None
    for concept, type_ in _ORDER:
        if concept in present:
            return type_
    has_id = "#" in present
    if "birth" in present or "death" in present:
        return "LOCATION" if "place" in present or "city" in present else "DATE_TIME"
    if "driver" in present:
        return "US_DRIVER_LICENSE"
    for word in words:
        if word in _ID_WORDS:
            return _ID_WORDS[word]
    if "address" in present:
        return "STREET_ADDRESS"
    if "city" in present:
        return "LOCATION"
    name_parts = present & {"first", "last", "middle", "maiden", "given"}
    if "name" in present or (name_parts and not present - name_parts - _PERSON_ROLES):
        subjects = present - {"name", "first", "last", "middle", "maiden", "given", "family", "full", "nick",
                              "display", "user", "#"}
        if "organization" in present:
            return "ORGANIZATION"
        if subjects & _THINGS:
            return None
        return "PERSON"
    if present & {"date", "dt"} and present & {"admission", "discharge", "visit", "encounter", "service",
                                               "appointment", "procedure", "surgery"}:
        return "DATE_TIME"
    if has_id or "account" in present:
        for word in words:
            if word in _SUBJECTS and (has_id or word == "account"):
                return _SUBJECTS[word]
        if len(words) <= 2 and not (present - {"#", "record", "row", "internal", "external"}) - _PERSON_ROLES:
            return RECORD_ID
        return None
    if words[-1] in _PERSON_ROLES and not present - _PERSON_ROLES - _MODIFIERS:
        return "PERSON"
    return None


_NOT_VALUES = frozenset({"", "null", "none", "n/a", "na", "nil", "-", "--", "unknown", "true", "false", "yes",
                         "no", "redacted", "[redacted]", "***"})


def is_field_value(value: str) -> bool:
    """Whether a field's value is worth typing: not empty, a null word, or only issued placeholders."""
    from ..vault import ISSUED_TOKEN

    bare = value.strip().strip("\"'")
    return bare.lower() not in _NOT_VALUES and bool(ISSUED_TOKEN.sub("", bare).strip())


@lru_cache(maxsize=1)
def default_classifier() -> FieldClassifier:
    return FieldClassifier()


def resolve_record_ids(types: Sequence[str | None]) -> list[str | None]:
    """A bare id in a record with another personal field identifies that person; else nothing."""
    personal = any(t is not None and t != RECORD_ID for t in types)
    return [(_RECORD_TYPE if personal else None) if t == RECORD_ID else t for t in types]


def type_values(values: Sequence[str], fields: Sequence[str | None], records: Sequence[int],
                classifier: FieldClassifier | None = None) -> list[str | None]:
    """The type each value takes from its field name (None: scan it as text).

    ``fields[i]`` is the name ``values[i]`` sits under (CSV header, JSON key) and
    ``records[i]`` the record it belongs to (row, object): a bare ``id`` counts
    only in a record that also holds a personal field. A field whose value is a
    placeholder, empty or a null word is left alone.
    """
    classify = (classifier or default_classifier()).type_of
    by_name: dict[str, str | None] = {}  # a column's name is classified once, not once per cell
    types = [(by_name[name] if name in by_name else by_name.setdefault(name, classify(name)))
             if name and is_field_value(value) else None for name, value in zip(fields, values)]
    personal_records = {record for record, t in zip(records, types) if t is not None and t != RECORD_ID}
    return [(_RECORD_TYPE if record in personal_records else None) if t == RECORD_ID else t
            for record, t in zip(records, types)]
