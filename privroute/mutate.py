"""An evasion generator: rewrite every labeled PII value the way people and attackers hide it.

A list of hand-written evasions measures how well a detector was tuned to that
list. This module turns *any* labeled data set into evasion cases instead: each
labeled value is rewritten by one or more composable, seeded transforms
(separators and spacing, case, homoglyphs, full-width forms, zero-width
characters, leetspeak, spelled-out digits, "at"/"dot" e-mails, line and
table-cell splits, percent/HTML/hex/base64 encodings) and the label spans are
moved with it, so ``text[start:end]`` is always the rewritten value.

A transform applies to the values whose form it can change (digits for the
separator and spelled-digit transforms, e-mails for the at/dot forms, letters
for case and leetspeak, anything for the encodings); a value it does not apply
to is left as is and not counted for that transform. Only the values of
:data:`DIRECT_IDENTIFIERS` types are rewritten: places, organisations,
nationalities, titles and ages (quasi-identifiers) stay as labeled.

``python -m privroute eval --mutate all DATA`` reports the caught rate per transform.
"""

from __future__ import annotations

import base64
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["DIRECT_IDENTIFIERS", "TRANSFORMS", "Mutated", "MutatedSpan", "Transform", "mutate_text",
           "mutate_value", "transform_names"]

DIRECT_IDENTIFIERS = frozenset({
    "PERSON", "PER", "STREET_ADDRESS", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN",
    "IP_ADDRESS", "US_DRIVER_LICENSE", "DATE_TIME", "ZIP_CODE", "MEDICAL_RECORD_NUMBER", "HEALTH_PLAN_ID",
    "ACCOUNT_NUMBER", "US_PASSPORT", "PETITIONER", "RESPONDENT", "WITNESS", "OTHER_PERSON", "CASE_NUMBER",
    "CODE", "", "PII",
})
"""Label types whose values are rewritten ("" / "PII": adversarial records, which have no type)."""

_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_HOMOGLYPHS = {"a": "а", "c": "с", "e": "е", "o": "о", "p": "р", "x": "х", "y": "у", "i": "і", "s": "ѕ",
               "A": "А", "B": "В", "C": "С", "E": "Е", "H": "Н", "K": "К", "M": "М", "O": "О", "P": "Р",
               "T": "Т", "X": "Х", "0": "O", "1": "l"}
_LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7", "A": "4", "E": "3", "I": "1", "O": "0",
         "S": "5", "T": "7"}
_ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\u00ad", "\ufeff")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class Transform:
    """One way of hiding a value: ``apply(value, rng)`` -> the rewritten value, or None (not applicable)."""

    name: str
    apply: Callable[[str, random.Random], str | None]
    description: str
    skip: frozenset[str] = frozenset()
    """Labels it does not apply to (re-spacing a date's digits makes it no date at all)."""


def _digits(value: str) -> int:
    return len(_DIGIT.findall(value))


_NUMBERISH = re.compile(r"[+(]?[A-Za-z0-9][A-Za-z0-9 ().\-/]*")


def _separators(value: str, rng: random.Random) -> str | None:
    """Digit groups re-separated with mixed separators ("4111.1111 1111-1111", "536 / 22 / 8147")."""
    if _digits(value) < 5 or not _NUMBERISH.fullmatch(value) or sum(ch.isalpha() for ch in value) > 4:
        return None
    chars = [ch for ch in value if ch.isalnum()]
    out, group = [], rng.choice((2, 3, 4))
    for index, char in enumerate(chars):
        if index and index % group == 0:
            out.append(rng.choice((" ", ".", "-", "/", " - ", "  ", "_", " . ")))
        out.append(char)
    return ("+" if value.startswith("+") else "") + "".join(out)


def _spacing(value: str, rng: random.Random) -> str | None:
    """Every character spaced out ("J a n e   R o e")."""
    if len(value) > 60 or len(value.replace(" ", "")) < 3:
        return None
    sep = rng.choice((" ", " ", "  "))
    return (sep * 3 if sep == " " else sep * 2).join(sep.join(word) for word in value.split())


def _case(value: str, rng: random.Random) -> str | None:
    if not any(ch.isalpha() for ch in value):
        return None
    style = rng.choice(("lower", "upper", "alternate"))
    if style == "lower":
        out = value.lower()
    elif style == "upper":
        out = value.upper()
    else:
        out = "".join(ch.upper() if i % 2 else ch.lower() for i, ch in enumerate(value))
    return out if out != value else value.swapcase()


def _homoglyph(value: str, rng: random.Random) -> str | None:
    """One to three characters swapped for look-alikes from other scripts (or O for 0, l for 1)."""
    places = [i for i, ch in enumerate(value) if ch in _HOMOGLYPHS]
    if not places:
        return None
    chosen = set(rng.sample(places, min(len(places), rng.randint(1, 3))))
    return "".join(_HOMOGLYPHS[ch] if i in chosen else ch for i, ch in enumerate(value))


def _fullwidth(value: str, rng: random.Random) -> str | None:
    if not any("!" <= ch <= "~" for ch in value):
        return None
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ("\u3000" if ch == " " else ch) for ch in value)


def _zero_width(value: str, rng: random.Random) -> str | None:
    if len(value) < 2:
        return None
    inner = list(range(1, len(value)))
    cuts = sorted(rng.sample(inner, min(len(inner), rng.randint(1, 3))), reverse=True)
    out = value
    for cut in cuts:
        out = out[:cut] + rng.choice(_ZERO_WIDTH) + out[cut:]
    return out


def _leetspeak(value: str, rng: random.Random) -> str | None:
    """Letters typed as digits ("J4ne R0e"); e-mails keep their domain readable."""
    if _digits(value) * 2 > len(value) or not any(ch in _LEET for ch in value):
        return None
    places = [i for i, ch in enumerate(value) if ch in _LEET]
    chosen = set(rng.sample(places, min(len(places), rng.randint(1, 3))))
    return "".join(_LEET[ch] if i in chosen else ch for i, ch in enumerate(value))


def _spelled_digits(value: str, rng: random.Random) -> str | None:
    """Digits written as words ("four four seven one, one two three")."""
    if _digits(value) < 4 or sum(ch.isalpha() for ch in value) > 3:
        return None
    words = []
    for ch in value:
        if ch.isdigit():
            words.append(_DIGIT_WORDS[int(ch)])
        elif ch in "-./":
            words.append(",")  # a group separator becomes a pause
        elif ch.isalpha():
            words.append(ch)
    if rng.random() < 0.3:
        return "-".join(w for w in words if w != ",")
    return " ".join(words).replace(" ,", ",").strip(", ")


def _email_words(value: str, rng: random.Random) -> str | None:
    """"jane.roe at example dot com" and its bracketed and spaced variants."""
    if not _EMAIL.match(value):
        return None
    at = rng.choice((" at ", " [at] ", " (at) ", "[at]", " AT ", " {at} ", "(a)"))
    dot = rng.choice((" dot ", " [dot] ", " (dot) ", "[.]", " DOT ", " . "))
    local, domain = value.split("@", 1)
    return local + at + domain.replace(".", dot)


def _line_split(value: str, rng: random.Random) -> str | None:
    """The value broken across two lines (at a space, or mid-token with or without a hyphen)."""
    if len(value) < 4:
        return None
    spaces = [i for i, ch in enumerate(value) if ch == " "]
    if spaces and rng.random() < 0.5:
        cut = rng.choice(spaces)
        return value[:cut] + "\n" + value[cut + 1:]
    cut = rng.randint(2, len(value) - 2)
    return value[:cut] + rng.choice(("\n", "-\n", "\r\n")) + value[cut:]


def _cell_split(value: str, rng: random.Random) -> str | None:
    """The value split over two table cells ("4111 1111 | 1111 1111")."""
    if len(value) < 4:
        return None
    spaces = [i for i, ch in enumerate(value) if ch == " "]
    cut = rng.choice(spaces) if spaces else rng.randint(2, len(value) - 2)
    left, right = value[:cut].rstrip(), value[cut:].lstrip()
    return left + rng.choice((" | ", "|", "\t", " ; ", " || ")) + right


def _percent(value: str, rng: random.Random) -> str | None:
    quoted = quote(value, safe="")
    return "".join(f"%{b:02X}" for b in value.encode("utf-8")) if rng.random() < 0.5 or quoted == value else quoted


def _html(value: str, rng: random.Random) -> str | None:
    if rng.random() < 0.5:
        return "".join(f"&#{ord(ch)};" for ch in value)
    return "".join(f"&#x{ord(ch):x};" if not ch.isalnum() or rng.random() < 0.6 else ch for ch in value)


def _hex(value: str, rng: random.Random) -> str | None:
    raw = value.encode("utf-8").hex()
    style = rng.choice(("plain", "0x", "escaped", "spaced"))
    if style == "0x":
        return "0x" + raw
    if style == "escaped":
        return "".join(f"\\x{raw[i:i + 2]}" for i in range(0, len(raw), 2))
    if style == "spaced":
        return " ".join(raw[i:i + 2] for i in range(0, len(raw), 2))
    return raw.upper() if rng.random() < 0.5 else raw


def _base64(value: str, rng: random.Random) -> str | None:
    encoded = base64.b64encode(value.encode("utf-8")).decode("ascii")
    return encoded.rstrip("=") if rng.random() < 0.3 else encoded


_DATES = frozenset({"DATE_TIME", "DATE", "DATETIME", "AGE"})
TRANSFORMS: dict[str, Transform] = {t.name: t for t in (
    Transform("separators", _separators, "digit groups with mixed separators", _DATES),
    Transform("spacing", _spacing, "every character spaced out"),
    Transform("case", _case, "lower, upper or alternating case"),
    Transform("homoglyph", _homoglyph, "Cyrillic/Greek look-alike letters, O for 0, l for 1"),
    Transform("fullwidth", _fullwidth, "full-width forms (U+FF01..FF5E, ideographic space)"),
    Transform("zero_width", _zero_width, "zero-width and other invisible characters inside"),
    Transform("leetspeak", _leetspeak, "letters typed as digits"),
    Transform("spelled_digits", _spelled_digits, "digits written as English words", _DATES),
    Transform("email_words", _email_words, "'at' / 'dot' e-mail forms"),
    Transform("line_split", _line_split, "split across two lines"),
    Transform("cell_split", _cell_split, "split across two table cells"),
    Transform("percent", _percent, "percent-encoded"),
    Transform("html", _html, "HTML numeric entities"),
    Transform("hex", _hex, "hex-encoded UTF-8"),
    Transform("base64", _base64, "base64-encoded UTF-8"),
)}


def transform_names(spec: str) -> tuple[str, ...]:
    """``"all"`` or a comma list (``"case,homoglyph"``; ``"case+hex"`` composes); ValueError on unknown names."""
    if spec.strip() == "all":
        return tuple(TRANSFORMS)
    names = tuple(part.strip() for part in spec.split(",") if part.strip())
    unknown = [part for name in names for part in name.split("+") if part not in TRANSFORMS]
    if unknown or not names:
        raise ValueError(f"unknown transform(s): {', '.join(unknown) or '(none)'}; "
                         f"known: {', '.join(TRANSFORMS)}")
    return names


def mutate_value(value: str, chain: str, rng: random.Random, label: str = "") -> str | None:
    """``value`` through the transforms of ``chain`` (``"case+hex"``), or None if any does not apply."""
    out: str | None = value
    for name in chain.split("+"):
        if label in TRANSFORMS[name].skip:
            return None
        out = TRANSFORMS[name].apply(out, rng)
        if out is None:
            return None
    return out


@dataclass(frozen=True)
class MutatedSpan:
    label: str
    start: int
    end: int
    mutated: bool
    """Whether this span's value was rewritten (only those are scored per transform)."""


@dataclass(frozen=True)
class Mutated:
    """A rewritten text; ``text[s.start:s.end]`` is each span's (rewritten) value."""

    text: str
    spans: tuple[MutatedSpan, ...]

    def __repr__(self) -> str:
        return f"Mutated(<{len(self.text)} chars>, spans={len(self.spans)})"


def mutate_text(text: str, spans: Iterable[tuple[str, int, int]], chain: str, seed: int | str,
                types: frozenset[str] = DIRECT_IDENTIFIERS) -> Mutated:
    """Rewrite each labeled value of ``types`` in ``text`` with ``chain``; labels follow the values.

    ``spans`` are ``(label, start, end)``, end-exclusive; overlapping spans are
    dropped (only the first of an overlapping group is kept). The
    same ``seed`` gives the same output.
    """
    rng = random.Random(f"{seed}:{chain}")
    ordered = sorted(spans, key=lambda s: (s[1], s[2]))
    out: list[str] = []
    result: list[MutatedSpan] = []
    cursor = 0
    shift = 0
    for label, start, end in ordered:
        if start < cursor:  # overlaps the previous span: its offsets would not hold, so it is dropped
            continue
        value = text[start:end]
        new = mutate_value(value, chain, rng, label) if label in types else None
        out.append(text[cursor:start])
        begin = start + shift
        if new is None or new == value:
            out.append(value)
            result.append(MutatedSpan(label, begin, begin + len(value), False))
        else:
            out.append(new)
            result.append(MutatedSpan(label, begin, begin + len(new), True))
            shift += len(new) - len(value)
        cursor = end
    out.append(text[cursor:])
    return Mutated("".join(out), tuple(result))


def mutate_all(texts: Sequence[tuple[str, Sequence[tuple[str, int, int]]]], chain: str,
               seed: int | str = 0) -> list[Mutated]:
    """:func:`mutate_text` over a data set, each text seeded by its index."""
    return [mutate_text(text, spans, chain, f"{seed}:{index}") for index, (text, spans) in enumerate(texts)]
