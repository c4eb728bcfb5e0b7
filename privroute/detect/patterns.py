"""privroute's pattern recognizers: numbers, e-mails, labeled identifiers, addresses.

Each finder takes the normalised text (normalize.py has already folded
full-width digits, homoglyphs, zero-width characters and escapes) and yields
Hits. They are written for how people type, not for one data set:

* digit chains: digits spaced, dotted, dashed, slashed or split across a line,
  classified by what they are (Luhn card of any brand and length, SSN, NHS
  number with its checksum, phone) rather than by one layout;
* numbers spelled out in words ("five three six ..."), and dates in words;
* e-mails written "at"/"dot", in brackets, letter-spaced, or with a made-up
  top-level domain;
* IBAN in any case, with or without spaces (checksum verified);
* identifiers after the label a form gives them (MRN, MR#, member id, policy,
  account, licence, certificate, device serial, VIN, case, docket, ...);
* street addresses (English and continental layouts, units, military mail);
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .recognizers import Hit, context_before, iban_ok, luhn_ok

__all__ = ["PATTERN_FINDERS", "PATTERN_TYPES", "assemble_addresses", "classify_digits"]

PATTERN_TYPES: tuple[str, ...] = (
    "CREDIT_CARD", "US_SSN", "UK_NHS", "PHONE_NUMBER", "FAX_NUMBER", "ACCOUNT_NUMBER", "EMAIL_ADDRESS",
    "IBAN_CODE", "SWIFT_CODE", "MEDICAL_RECORD_NUMBER", "HEALTH_PLAN_ID", "LICENSE_NUMBER", "US_DRIVER_LICENSE",
    "US_PASSPORT", "VEHICLE_ID", "DEVICE_ID", "BIOMETRIC_ID", "CASE_NUMBER", "DOCKET_NUMBER", "TAX_ID",
    "NATIONAL_ID", "ROUTING_NUMBER", "US_BANK_NUMBER", "STREET_ADDRESS", "ZIP_CODE", "DATE_TIME", "AGE_OVER_89",
    "IP_ADDRESS",
)

_I = re.IGNORECASE

# ---------------------------------------------------------------- digit chains

_SEP = r"(?:[ \t]{1,2}|[ \t]?[-./_][ \t]?|[ \t]?\)[ \t]?-?[ \t]?|[ \t]*\r?\n[ \t]*)"
_CHAIN = re.compile(rf"(?<![\d.,])(?:\+[ \t]?)?\(?\d(?:{_SEP}?\d){{6,30}}(?![\d]|[.,]\d)")
_SEP_SPLIT = re.compile(r"\D+")

_CTX_SSN = re.compile(r"\bssn|social\s+security|\bss#|\bsocial\b", _I)
_CTX_NHS = re.compile(r"\bnhs\b", _I)
_CTX_FAX = re.compile(r"\bfax\b|facsimile", _I)
_CTX_PHONE = re.compile(r"\b(?:phone|tel|telephone|mobile|cell|call|text|whatsapp|contact|ph|mob)\b", _I)
_CTX_ACCOUNT = re.compile(r"\b(?:account|acct|a/c|iban|routing|sort\s+code|bank)\b", _I)


def _ssn_valid(digits: str) -> bool:
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _nhs_valid(digits: str) -> bool:
    total = sum(int(d) * (10 - i) for i, d in enumerate(digits[:9]))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(digits[9])


def _looks_like_date(groups: list[str], seps: set[str]) -> bool:
    if len(groups) != 3 or not seps <= {".", "/", "-"}:
        return False
    lengths = [len(g) for g in groups]
    return lengths in ([1, 1, 4], [1, 2, 4], [2, 1, 4], [2, 2, 4], [4, 2, 2], [4, 1, 1], [4, 1, 2], [4, 2, 1],
                       [2, 2, 2], [1, 1, 2], [1, 2, 2], [2, 1, 2])


def classify_digits(digits: str, text: str, start: int, *, spaced_out: bool, structured: bool,
                    groups: tuple[int, ...] = ()) -> tuple[str, float] | None:
    """What a run of digits is, from its length, grouping, checksums and the words before it."""
    n = len(digits)
    if 13 <= n <= 19 and luhn_ok(digits):
        return "CREDIT_CARD", 0.9
    ssn_layout = groups == (3, 2, 4)
    if n == 9 and _ssn_valid(digits) and (ssn_layout or spaced_out or context_before(text, start, _CTX_SSN)):
        return "US_SSN", 0.85 if context_before(text, start, _CTX_SSN) or ssn_layout else 0.6
    if n == 10 and _nhs_valid(digits) and context_before(text, start, _CTX_NHS):
        return "UK_NHS", 0.9
    if context_before(text, start, _CTX_FAX, 32):
        return "FAX_NUMBER", 0.75
    if context_before(text, start, _CTX_ACCOUNT, 32):
        return "ACCOUNT_NUMBER", 0.7
    if 7 <= n <= 15 and (structured or spaced_out or context_before(text, start, _CTX_PHONE, 32)):
        return "PHONE_NUMBER", 0.6
    if n >= 8:
        # A long bare number in a prompt is an identifier of some kind far more
        # often than anything else (order, account, member, record ...).
        return "ACCOUNT_NUMBER", 0.45 if structured or spaced_out else 0.41
    return None


_CURRENCY_BEFORE = re.compile(r"[$€£¥][^\n]{0,14}$")
_PERCENT_AFTER = re.compile(r"[ \t]*%")


def _amounts(text: str, match: re.Match[str]) -> bool:
    """Money or percentages in a table run together ("$ 1 , 500 , 000 . 00 30 . 00 %"), not one number."""
    return bool(_CURRENCY_BEFORE.search(text, max(0, match.start() - 15), match.start())
                or _PERCENT_AFTER.match(text, match.end()))


def _digit_chains(text: str) -> Iterator[Hit]:
    for match in _CHAIN.finditer(text):
        raw = match.group()
        groups = [g for g in _SEP_SPLIT.split(raw) if g]
        digits = "".join(groups)
        if len(digits) < 7 or len(digits) > 34:
            continue
        seps = {s.strip() or " " for s in re.findall(r"\D+", raw.strip("+( \t")) if s}
        seps = {("\n" if "\n" in s else s) for s in seps}
        spaced_out = len(groups) >= 5 and all(len(g) == 1 for g in groups)
        mixed = False
        if not spaced_out:
            kinds = {s.replace(")", "").strip() or " " for s in seps} - {""}
            # Mixed separators ("4111.1111 1111-1111") are how people hide a number from
            # patterns; a list of small numbers mixes them too, so such a chain must stand
            # on its own: a checksum, context words, or the length of an identifier.
            mixed = len(kinds - {"\n"}) > 1 and not (raw.lstrip().startswith(("(", "+")))
            if _looks_like_date(groups, kinds):
                continue
            if kinds == {"."} and len(groups) == 4 and all(len(g) <= 3 and int(g) <= 255 for g in groups):
                continue  # an IPv4 address (the IP recognizer types it)
            if len(groups) == 2 and all(len(g) == 4 and g[:2] in ("19", "20") for g in groups):
                continue
        structured = len(groups) > 1
        verdict = classify_digits(digits, text, match.start(), spaced_out=spaced_out,
                                  structured=structured and not mixed, groups=tuple(len(g) for g in groups))
        if mixed and _amounts(text, match):
            continue
        if mixed and "\n" in raw:
            # Over lines, mixed separators are mostly a list ("... 519\n3. 2008"): only a
            # checksum or context words make one number of it, not its length or layout.
            verdict = classify_digits(digits, text, match.start(), spaced_out=False, structured=False)
            if verdict is None or verdict[1] < 0.5:
                continue
        elif verdict is None and mixed and len(digits) >= 9 and len(groups) >= 3:
            verdict = ("ACCOUNT_NUMBER", 0.45)
        if verdict is not None:
            yield Hit(match.start(), match.end(), verdict[0], verdict[1])


# ---------------------------------------------------------------- spelled-out numbers

_NUMBER_WORDS = {
    "zero": "0", "oh": "0", "o": "0", "nought": "0", "nil": "0", "one": "1", "two": "2", "three": "3",
    "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8", "nine": "9",
}
_TEENS = ("ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen").split()
_TENS = ("twenty thirty forty fifty sixty seventy eighty ninety").split()
_DIGIT_WORD = r"(?:zero|oh|nought|one|two|three|four|five|six|seven|eight|nine|double|triple)"
# Inside a run, a digit or a letter that looks like one ("two O two", "eight l four") is one too.
_SPELLED_RUN = re.compile(rf"\b{_DIGIT_WORD}(?:[\s,;-]+(?:and\s+)?(?:{_DIGIT_WORD}|[oOlI0-9]\b)){{3,}}\b", _I)


def _spelled_numbers(text: str) -> Iterator[Hit]:
    for match in _SPELLED_RUN.finditer(text):
        words = re.findall(r"[a-z]+|\d", match.group().lower())
        digits, repeat = [], 1
        for word in words:
            if word == "double":
                repeat = 2
            elif word == "triple":
                repeat = 3
            elif word in _NUMBER_WORDS or word.isdigit() or word in ("l", "i"):
                digits.append(_NUMBER_WORDS.get(word, "1" if word in ("l", "i") else word) * repeat)
                repeat = 1
        value = "".join(digits)
        if len(value) < 4:
            continue
        if len(value) < 6:
            # Four or five digits said one by one: a postcode, house number or PIN, never a count.
            yield Hit(match.start(), match.end(), "ZIP_CODE", 0.5)
            continue
        verdict = classify_digits(value, text, match.start(), spaced_out=True, structured=True)
        yield Hit(match.start(), match.end(), verdict[0] if verdict else "ACCOUNT_NUMBER", 0.7)


_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
          r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_ORDINAL_WORD = (r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|"
                 r"thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|"
                 r"twenty[\s-](?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth)|thirtieth|"
                 r"thirty[\s-]first)")
_YEAR_WORDS = (r"(?:(?:nineteen|twenty)[\s-]+(?:(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)"
               r"(?:[\s-]+(?:one|two|three|four|five|six|seven|eight|nine))?|ten|eleven|twelve|thirteen|fourteen|"
               r"fifteen|sixteen|seventeen|eighteen|nineteen|hundred|oh[\s-]+\w+)|two\s+thousand(?:\s+and)?"
               r"(?:[\s-]+\w+){0,2})")
_DAY = rf"(?:{_ORDINAL_WORD}|\d{{1,2}}(?:st|nd|rd|th)?)"
_SPELLED_DATE = re.compile(
    rf"\b(?:(?:the\s+)?{_DAY}\s+(?:day\s+)?of\s+{_MONTH}|{_MONTH}\s+(?:the\s+)?{_ORDINAL_WORD}|"
    rf"\d{{1,2}}(?:st|nd|rd|th)?\.?\s+{_MONTH}\b\.?)"
    rf"(?:,?\s+(?:in\s+)?(?:{_YEAR_WORDS}|\d{{4}}))?\b", _I)


def _spelled_dates(text: str) -> Iterator[Hit]:
    for match in _SPELLED_DATE.finditer(text):
        yield Hit(match.start(), match.end(), "DATE_TIME", 0.85)


# ---------------------------------------------------------------- e-mails

# "at"/"dot" in words, bracketed or not, also as Spanish/Portuguese/French/German/Italian write them.
_AT_NAMES = r"(?i:at|arroba|arobase|klammeraffe|chiocciola)"  # in any case: "aT", "DoT" hide nothing
_DOT_NAMES = r"(?i:dot|punto|ponto|punkt)"
# Top-level domains accepted after a plain-word "dot" ("at gmail dot com"), where a
# made-up one would turn ordinary sentences into e-mails.
_COMMON_TLDS = frozenset("""
com net org edu gov mil int io co uk de fr it es nl be ch at se no dk fi pl cz sk ru ua br mx ar cl ca au nz in
jp cn kr tw hk sg my id ph th vn info biz me us eu ie pt gr hu ro bg hr si rs tr il ae sa za ng ke eg ma tn
""".split())
_AT_WORD = rf"(?:\s*[\[({{<]\s*(?:{_AT_NAMES}|@|a)\s*[\])}}>]\s*|\s+(?:{_AT_NAMES})\s+)"
_DOT_WORD = rf"(?:\s*[\[({{<]\s*(?:{_DOT_NAMES}|\.)\s*[\])}}>]\s*|\s+(?:{_DOT_NAMES})\s+|[ \t]+\.[ \t]+|\.)"
_DOT_FORM = re.compile(rf"\b(?:{_DOT_NAMES})\b|[\[({{<]\s*(?:{_DOT_NAMES}|\.)\s*[\])}}>]|\s\.\s", _I)
_LOCAL = rf"[A-Za-z0-9][\w+-]*(?:{_DOT_WORD}[\w+-]+)*"
_OBFUSCATED_EMAIL = re.compile(
    rf"(?<![\w.+-]){_LOCAL}(?:{_AT_WORD}|\s*@\s*)[A-Za-z0-9][\w-]*(?:{_DOT_WORD}[A-Za-z0-9][\w-]*)*"
    rf"{_DOT_WORD}[A-Za-z]{{2,12}}(?![\w@])")
_LENIENT_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]*\w@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,12}(?![\w@])")
_SPACED = re.compile(r"(?<!\S)(?:\S ){4,}\S(?!\S)")


def _emails(text: str) -> Iterator[Hit]:
    for match in _LENIENT_EMAIL.finditer(text):
        yield Hit(match.start(), match.end(), "EMAIL_ADDRESS", 0.75)
    for match in _OBFUSCATED_EMAIL.finditer(text):
        value = match.group()
        if "@" in value or re.search(rf"[\[({{<]\s*(?:{_AT_NAMES}|@|a)\s*[\])}}>]", value, _I):
            yield Hit(match.start(), match.end(), "EMAIL_ADDRESS", 0.8)
        elif (_DOT_FORM.search(value) or re.search(r"[._\d]", value.split()[0])) and (
                re.split(r"\W+", value)[-1].lower() in _COMMON_TLDS):
            yield Hit(match.start(), match.end(), "EMAIL_ADDRESS", 0.65)
    if " @ " in text or re.search(r"\S @|@ \S", text):
        for match in _SPACED.finditer(text):
            squeezed = match.group().replace(" ", "")
            if _LENIENT_EMAIL.fullmatch(squeezed):
                yield Hit(match.start(), match.end(), "EMAIL_ADDRESS", 0.8)


# ---------------------------------------------------------------- IBAN / SWIFT

_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])")
_SWIFT = re.compile(r"\b(?:swift|bic)(?:\s*(?:code|no\.?|number|#))?\s*[:#]?\s*([A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?)\b",
                    _I)


def _ibans(text: str) -> Iterator[Hit]:
    for match in _IBAN.finditer(text):
        value = match.group()
        # Spaces may swallow the following word; shrink until the checksum holds.
        while value and not iban_ok(value):
            cut = max(value.rfind(" "), value.rfind("-"))
            if cut < 15:
                value = ""
                break
            value = value[:cut]
        if value:
            yield Hit(match.start(), match.start() + len(value), "IBAN_CODE", 0.95)
    for match in _SWIFT.finditer(text):
        yield Hit(match.start(1), match.end(1), "SWIFT_CODE", 0.85)


# ---------------------------------------------------------------- labeled identifiers

_NO = r"(?:\s*(?:number|num\.?|no\.?|nr\.?|n°|#|id|code)\b\.?)?"
_LABELS: tuple[tuple[str, str], ...] = (
    ("MEDICAL_RECORD_NUMBER", rf"mrn|mr\s*#|mr\s+no\.?|medical\s+record{_NO}|med\s+rec{_NO}|record{_NO}|"
                              rf"chart{_NO}|patient\s+(?:id|no\.?|number|#)|pt\s+(?:id|#)|hospital\s+(?:number|no\.?)|"
                              rf"encounter{_NO}|visit{_NO}|accession{_NO}|specimen{_NO}|"
                              r"(?<![\w-])id(?=\s*[:#])"),
    ("HEALTH_PLAN_ID", rf"member{_NO}|membership{_NO}|subscriber{_NO}|beneficiary{_NO}|policy{_NO}|"
                       rf"(?:health\s+)?plan{_NO}|insurance{_NO}|insurer{_NO}|medicaid{_NO}|medicare{_NO}|group{_NO}|"
                       rf"mbi|hicn|claim{_NO}|authori[sz]ation{_NO}|prior\s+auth{_NO}"),
    ("ACCOUNT_NUMBER", rf"account{_NO}|acct{_NO}|a/c|billing{_NO}|invoice{_NO}|customer{_NO}|client{_NO}|"
                       rf"reference{_NO}|ref{_NO}|order{_NO}|employee{_NO}|student{_NO}|user{_NO}|loan{_NO}"),
    ("US_DRIVER_LICENSE", r"driver'?s?\s+licen[cs]e(?:\s*(?:number|no\.?|#))?|\bdl(?:\s*(?:number|no\.?|#))?"),
    ("LICENSE_NUMBER", rf"licen[cs]e{_NO}|certificate{_NO}|cert{_NO}|dea{_NO}|npi{_NO}|registration{_NO}|"
                       rf"permit{_NO}|badge{_NO}"),
    ("US_PASSPORT", rf"passport{_NO}"),
    ("VEHICLE_ID", rf"vin|vehicle{_NO}|licen[cs]e\s+plate{_NO}|plate{_NO}|registration\s+plate"),
    ("DEVICE_ID", rf"device{_NO}|serial{_NO}|s/n|sn|imei|udi|mac\s+address|implant{_NO}|pacemaker{_NO}|"
                  rf"pump{_NO}"),
    ("BIOMETRIC_ID", rf"biometric{_NO}|fingerprint{_NO}|retina{_NO}|voiceprint{_NO}"),
    ("DOCKET_NUMBER", rf"docket{_NO}"),
    ("CASE_NUMBER", rf"case{_NO}|matter{_NO}|file{_NO}|ticket{_NO}|incident{_NO}"),
    ("TAX_ID", rf"ein|tin|itin|tax\s*(?:payer\s*)?(?:id|identification){_NO}|vat{_NO}|utr|tax\s+(?:number|no\.?)"),
    ("NATIONAL_ID", rf"national\s+(?:id|identity|insurance){_NO}|id\s+card{_NO}|identity\s+card{_NO}|"
                    rf"personal\s+(?:id|code|number)|citizen\s+id{_NO}|personnummer|bsn|pesel|nino|sin|cpr|aadhaar"),
    ("ROUTING_NUMBER", rf"routing{_NO}|aba{_NO}|sort\s+code|transit{_NO}|bsb"),
    ("ZIP_CODE", r"zip(?:\s*code)?|postal\s*code|post\s*code|postcode|plz"),
)
# The value holds a digit within its first token (so a following label word is never taken for it).
_VALUE = r"((?=[A-Z]{0,12}[-./]?[0-9])[A-Z0-9](?:[A-Z0-9]|[-./](?=[A-Z0-9])| (?=[A-Z]{0,3}[0-9])){2,24})"
_LABELED: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (type_, re.compile(rf"\b(?:{label})(?:\s*(?:is|was|:|=|#|-|–)\s*|\s+){{1,2}}(?:of\s+)?{_VALUE}", _I))
    for type_, label in _LABELS
)
_HAS_DIGIT = re.compile(r"\d")


def _labeled_ids(text: str) -> Iterator[Hit]:
    for type_, pattern in _LABELED:
        for match in pattern.finditer(text):
            # An id written in groups ("4471 2290 11") continues through spaces; a word
            # without digits ("and", "NPI") ends it.
            parts = match.group(1).split(" ")
            kept = parts[:1]
            for part in parts[1:]:
                if not _HAS_DIGIT.search(part):
                    break
                kept.append(part)
            value = " ".join(kept)
            digits = sum(ch.isdigit() for ch in value)
            if digits < 2 and not (digits >= 1 and len(value) >= 5):
                continue
            if digits == len(value) and (len(value) <= 2 or (len(value) == 4 and value[:2] in ("19", "20"))):
                continue  # "Vehicle: 2017 Honda": a year is not an id
            start = match.start(1)
            yield Hit(start, start + len(value), type_, 0.8)


# ---------------------------------------------------------------- addresses

_EN_STREET = (r"Street|St|Avenue|Ave|Av|Road|Rd|Lane|Ln|Drive|Dr|Boulevard|Blvd|Court|Ct|Way|Place|Pl|Terrace|"
              r"Close|Grove|Crescent|Cres|Parkway|Pkwy|Square|Sq|Highway|Hwy|Circle|Cir|Trail|Trl|Loop|Pass|"
              r"Crossroad|Crossing|Greens?|Gardens?|Row|Walk|Hill|Mews|Alley|Pike|Plaza|Ridge|Heights|Point|"
              r"View|Vale|Junction|Bypass|Path|Landing|Meadows?|Expressway|Radial|Estates?|Causeway|Quay|Wharf|"
              r"Brook|Glen|Hollow|Manor|Orchard|Harbou?r|Shores?|Springs?|Summit|Turnpike|Vista|Park|Fork|"
              r"Fields?|Falls|Creek|Cove|Common|Cliffs?|Bluffs?|Bend|Route|Rte")
_FOREIGN_SUFFIXES = tuple("""
straße strasse str. weg gasse platz allee ring damm ufer katu tie kuja polku raitti vej gade gatan vägen väg
veien vegen vegur braut gata gränd laan straat gracht dreef plein kade singel utca út tér körút terrasse
sokak caddesi ulica aleja
""".split())
_STREET_PREFIXES = frozenset("""
ul. ulica al. aleja via viale piazza corso largo rue avenue boulevard bd bd. calle avenida av. rua praça
travessa strada plac carrer paseo rambla
""".split())
_CAP = r"[A-ZÀ-ÞĀ-ž][\w'’.-]*"
_EN_ADDRESS = re.compile(rf"\b\d{{1,6}}[A-Za-z]?(?:-\d{{1,4}})?\s+(?:\d{{1,5}}\s+)?(?:[NSEW]\.?\s+)?(?:{_CAP}\s+){{0,4}}"
                         rf"(?:{_EN_STREET})\b\.?(?:\s+\d{{1,5}}[A-Za-z]?\b)?")
# The same shouted ("2450 CROWN ST", "17 OLD MILL ROAD").
_EN_ADDRESS_UPPER = re.compile(rf"\b\d{{1,6}}[A-Z]?(?:-\d{{1,4}})?\s+(?:\d{{1,5}}\s+)?(?:[NSEW]\.?\s+)?"
                               rf"(?:[A-ZÀ-Þ][A-ZÀ-Þ'’.-]{{0,40}}\s+){{1,4}}(?:{_EN_STREET.upper()})\b\.?")
# The same typed in lower case ("24 clarke avenue"): only the unambiguous street types, and not
# after a count of something ("a 4 lane road", "2 way street", "a 10 minute road").
_EN_ADDRESS_LOWER = re.compile(
    r"\b\d{1,6}[a-z]?(?:-\d{1,4})?\s+(?:\d{1,5}\s+)?(?!(?i:lane|way|mile|minute|min|hour|block|storey|story|"
    r"foot|feet|metre|meter|year|day|week|car|bus|track|mph|km)s?\b)(?:[^\W\d_][\w'’.-]{0,40}[ \t]+){1,3}"
    r"(?:street|st|avenue|ave|road|rd|lane|boulevard|blvd|terrace|crescent|parkway)\b\.?"
    # ... nor a compound noun ("3 best road trips", "2 street food stalls")
    r"(?![ \t]+(?:trip|map|sign|food|work|rage|safety|test|tax|network|name|light|closure|market|vendor|art|"
    r"level|race|racing|bike|side|smart|sense|crossing|user|block|show|team|game|runner|cred)s?\b)")
# Continental layout: street word(s) then the house number ("Lindenstraße 12", "ul. Zamkowa 33").
# Street words are short; the bound keeps a hostile run of "a.a.a..." linear.
_WORD_NUMBER = re.compile(r"([^\W\d_][\w'’.-]{0,60})[ \t]+\d{1,5}[A-Za-z]?\b\.?")
_WORD_BEFORE = re.compile(r"(?:([^\W\d_][\w'’.-]*|\d{1,6})[ \t]+)$")
_ADDRESS_PATTERNS = (
    # Number first, then the street type (French, Spanish, Italian, Portuguese layouts).
    re.compile(r"\b\d{1,5}(?:\s?(?:bis|ter|[A-Za-z]))?,?\s+(?:rue|avenue|av\.|boulevard|bd|place|allée|impasse|chemin|"
               r"route|quai|cours|calle|via|rua|avenida)\s+(?:(?:de|du|des|la|le|les|del|da|do|dos|della|di)\s+|[ld]['’])*"
               r"[\w'’-]+(?:\s+[A-ZÀ-Þ][\w'’-]+){0,3}", _I),
    re.compile(r"\b(?:apt|apartment|suite|ste|unit|flat|p\.?[ \t]?o\.?[ \t]+box|box|bldg|building)\.?[ \t]*#?[ \t]*"
               r"\d{1,6}[A-Za-z]?\b", _I),
    re.compile(r"\b(?:PSC|CMR|Unit)\s+\d{3,5},?\s+Box\s+\d{3,5}\b", _I),  # military mail, in any case
    re.compile(r"\b(?:APO|FPO|DPO)\s+(?:AA|AE|AP)\s+\d{5}\b", _I),
    re.compile(r"\b(?:USNS|USNV|USS|USCGC)\s+[A-Z][a-z]+\b"),
    re.compile(r"\b(corner\s+of\s+(?:[\w'’.-]+\s+){0,4}?[\w'’.-]+\s+and\s+(?:[\w'’.-]+\s+){0,3}?[\w'’-]+)"
               r"(?=\s*(?:[.,;!?\n]|$))", _I),
)
_ZIP = re.compile(r"\b(?:[A-Z]{2}\s+)?\d{5}(?:-\d{4})?\b")
_ZIP_CONTEXT = re.compile(r"\b(?:zip|postal|post)\s*(?:code)?\s*[:#]?\s*$", _I)
_STATE_ZIP = re.compile(r"(?<=[A-Za-z],\s)[A-Z]{2}\s+\d{5}(?:-\d{4})?\b|(?<=[A-Za-z]\s)[A-Z]{2}\s+\d{5}(?:-\d{4})?\b")
_UK_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b")


def _continental(text: str) -> Iterator[Hit]:
    for match in _WORD_NUMBER.finditer(text):
        word = match.group(1).lower()
        start = match.start()
        prefixed = any(w.lower() in _STREET_PREFIXES for w in text[max(0, start - 30):start].split()[-3:])
        if not (word.endswith(_FOREIGN_SUFFIXES) or prefixed):
            continue
        # Take in up to two words before (the rest of the street name) and a house number.
        for _ in range(3):
            before = _WORD_BEFORE.search(text, max(0, start - 40), start)
            if before is None:
                break
            token = before.group(1)
            if not (token[0].isupper() or token[0].isdigit() or token.lower() in _STREET_PREFIXES
                    or (prefixed and token.lower() in _PARTICLES)):
                break
            start = before.start()
            if token[0].isdigit():
                break
        yield Hit(start, match.end(), "STREET_ADDRESS", 0.7)


_PARTICLES = frozenset("de da do dos das di del della la le van von der den du el al ul. u. k nan".split())
_NOT_ADDRESS_WORDS = frozenset("""
i the this that thanks thank please regards best dear hi hello we you he she it they my our your in on at for
and but or if when then so also is are was were be will can could would should have has had do does did
""".split())
_NEXT_PIECE = re.compile(r"[ \t]*(?:,|\r?\n)[ \t>|*•?-]*(?:,[ \t]*)?(?P<piece>(?:[^,\n.!?;:]|\.(?![ \t]+[A-Z]|[ \t]*$))+?)"
                         r"[ \t.]*(?=[,\n!?;:]|\.[ \t]+[A-Z]|\.?[ \t]*$)")
_ADDRESS_CUE = re.compile(
    r"\b(?:address(?:es)?(?:\s+(?:is|was|are|to|of\s+[\w'’]+\s+is))?\s*[:=-]?|(?:located|situated)\s+(?:at|on|in)|"
    r"(?:lives?|living|resides?|residing|stays?|staying)\s+(?:at|on)|"
    r"(?:moved?|ship(?:ped)?|send|sent|mail(?:ed)?|deliver(?:ed)?|return(?:ed)?|forward(?:ed)?)\s+(?:it\s+|them\s+)?to|"
    r"stop\s+at|(?:meet|see)\s+(?:you|me|us)\s+at)[ \t]*\n?[ \t>]*", _I)
_CUE_WORDS = re.compile(r"[^\s,]+")


def _address_word(word: str) -> bool:
    word = word.strip("()[]")
    if not word:
        return False
    lowered = word.lower().strip(".")
    if lowered in _NOT_ADDRESS_WORDS:
        return False
    return word[0].isupper() or word[0].isdigit() or lowered in _PARTICLES or word in ("-", "&")


def _grow(text: str, end: int) -> int:
    """Extend an address over the following comma- or line-separated parts (city, region, postcode)."""
    for _ in range(6):
        match = _NEXT_PIECE.match(text, end)
        if match is None:
            break
        words = match.group("piece").split()
        if not words or len(words) > 5 or not all(_address_word(w) for w in words):
            break
        end = match.end("piece")
    return end


def _after_cues(text: str) -> Iterator[Hit]:
    for cue in _ADDRESS_CUE.finditer(text):
        start = cue.end()
        end, has_digit = start, False
        for count, word in enumerate(_CUE_WORDS.finditer(text[start:start + 120])):
            if count >= 8 or not _address_word(word.group()):
                break
            if "\n" in text[start + (end - start):start + word.start()] and count:
                break
            end = start + word.end()
            has_digit = has_digit or any(ch.isdigit() for ch in word.group())
        if has_digit and end > start:
            yield Hit(start, end, "STREET_ADDRESS", 0.65)


def _address_hits(text: str) -> Iterator[Hit]:
    for match in _EN_ADDRESS.finditer(text):
        yield Hit(match.start(), match.end(), "STREET_ADDRESS", 0.7)
    for pattern in (_EN_ADDRESS_LOWER, _EN_ADDRESS_UPPER):
        for match in pattern.finditer(text):
            yield Hit(match.start(), match.end(), "STREET_ADDRESS", 0.6)
    yield from _continental(text)
    yield from _after_cues(text)
    for pattern in _ADDRESS_PATTERNS:
        for match in pattern.finditer(text):
            start, end = match.span(1) if pattern.groups else match.span()
            yield Hit(start, end, "STREET_ADDRESS", 0.7)


def _addresses(text: str) -> Iterator[Hit]:
    for hit in _address_hits(text):
        yield Hit(hit.start, _grow(text, hit.end), hit.type, hit.score)
    for match in _SHOUTED_POLITY.finditer(text):
        yield Hit(match.start(1), match.end(1), "LOCATION", 0.6)
    for match in _STATE_ZIP.finditer(text):
        yield Hit(match.start(), match.end(), "ZIP_CODE", 0.6)
    for match in _ZIP.finditer(text):
        if _ZIP_CONTEXT.search(text, max(0, match.start() - 20), match.start()):
            yield Hit(match.start(), match.end(), "ZIP_CODE", 0.8)
    for match in _UK_POSTCODE.finditer(text):
        if any(ch.isdigit() for ch in match.group()[:4]):
            yield Hit(match.start(), match.end(), "ZIP_CODE", 0.6)


# Contracts shout their jurisdiction clauses ("COURTS LOCATED IN THE STATE OF CALIFORNIA"),
# where the NER reads no place; the words after "STATE OF" are one, up to a function word.
_SHOUT_WORD = r"(?!(?:AND|OR|BUT|FOR|THE|IN|OF|WITHOUT|WITH|AS|TO|ON|AT|BY|SHALL|WILL|IS|ARE|ANY)\b)[A-Z]{2,}"
_SHOUTED_POLITY = re.compile(rf"\b(?:STATE|COMMONWEALTH|REPUBLIC|KINGDOM|PROVINCE|COUNTY|CITY)[ \t]+OF[ \t]+"
                             rf"({_SHOUT_WORD}(?:[ \t]+{_SHOUT_WORD})?)\b")


# ---------------------------------------------------------------- ages

_AGE_OVER_89 = re.compile(r"\b(?:(?:age[ds]?|aged)\s*:?\s*(9\d|1[0-1]\d)\b|(9\d|1[0-1]\d)[\s-]*(?:years?|yrs?|y/?o|yo)"
                          r"(?:[\s-]*old)?\b)", _I)


def _old_ages(text: str) -> Iterator[Hit]:
    for match in _AGE_OVER_89.finditer(text):
        yield Hit(match.start(), match.end(), "AGE_OVER_89", 0.85)


PATTERN_FINDERS: tuple[Callable[[str], Iterable[Hit]], ...] = (
    _digit_chains, _spelled_numbers, _spelled_dates, _emails, _ibans, _labeled_ids, _addresses, _old_ages,
)


_ADDRESS_TYPES = frozenset({"STREET_ADDRESS", "ZIP_CODE"})
_PLACE_TYPES = frozenset({"STREET_ADDRESS", "ZIP_CODE", "LOCATION"})
_NAMED_TYPES = frozenset({"ORGANIZATION", "PERSON", "LOCATION"})
_NUMBER_BEFORE = re.compile(r"(?<![\w.,-])\d{1,6}[A-Za-z]?[ \t]+$")
_NUMBER_AFTER = re.compile(r"[ \t]+\d{1,6}(?![\w-]|[.,]\d)")
_GLUE = re.compile(r"[\s,]*")
_POSTCODE_AFTER = re.compile(r"[ \t]+(?:[A-Z]{1,2}[ \t-]?)?\d{3,6}(?:[ \t-]\d{2,3})?(?![\w-]|[.,]\d)")
_POSTCODE_BEFORE = re.compile(r"(?<![\w.,-])(?:[A-Z]{1,2}-)?\d{3,6}[ \t]+$")


def assemble_addresses(text: str, entities: list[Any]) -> list[Any]:
    """One address out of its parts: house numbers beside a street, and the
    street, town and postcode spans of one address block joined together.

    ``entities`` are sorted, non-overlapping privroute Entities; returns new ones.
    """
    from .base import Entity

    out: list[Any] = []
    for entity in entities:
        start, end = entity.start, entity.end
        if entity.type in _NAMED_TYPES:
            # "353 Kirkegata 227": a name between a house number and a number is a street.
            before = _NUMBER_BEFORE.search(text, max(0, start - 12), start)
            after = _NUMBER_AFTER.match(text, end)
            if before is not None and after is not None and (not out or out[-1].end <= before.start()):
                entity = Entity(before.start(), after.end(), "STREET_ADDRESS", max(entity.score, 0.6), entity.source)
                start, end = entity.start, entity.end
        if entity.type == "LOCATION":
            # A postcode written beside the town or country ("Slovenia 82709", "02100 Espoo").
            after = _POSTCODE_AFTER.match(text, end)
            before = _POSTCODE_BEFORE.search(text, max(0, start - 12), start)
            if after is not None:
                end = after.end()
            if before is not None and (not out or out[-1].end <= before.start()):
                start = before.start()
        if entity.type in _ADDRESS_TYPES:
            before = _NUMBER_BEFORE.search(text, max(0, start - 12), start)
            if before is not None and (not out or out[-1].end <= before.start()):
                start = before.start()
            after = _NUMBER_AFTER.match(text, end)
            if after is not None:
                end = after.end()
        current = Entity(start, end, entity.type, entity.score, entity.source)
        if out and out[-1].end <= start:
            previous = out[-1]
            glue = _GLUE.fullmatch(text, previous.end, start)
            joined = {previous.type, current.type}
            if glue is not None and joined <= _PLACE_TYPES and joined & _ADDRESS_TYPES:
                out[-1] = Entity(previous.start, current.end, "STREET_ADDRESS", max(previous.score, current.score),
                                 previous.source)
                continue
        out.append(current)  # an overlap left by the number growth is merged by the caller
    # Parts spaCy did not see (a country on the next line) still belong to the block.
    return [Entity(e.start, _grow(text, e.end), e.type, e.score, e.source) if e.type == "STREET_ADDRESS" else e
            for e in out]
