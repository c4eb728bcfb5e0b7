"""Personal data in pasted structured data: JSON, CSV/TSV with a header row, key=value pairs.

The field name says what a value is even when the value alone says nothing
(``4471123`` under ``mrn``, ``XJ99812`` under ``member_id``, a surname in a JSON
string). fields.py turns a field name into a type; the finders here find the
fields and their values in a prompt:

* JSON objects and arrays anywhere in the text (tool results, API payloads):
  every scalar (string or number) under a typed key is typed, whatever it
  looks like; a key that is itself a value (``{"Jane Roe": {...}}``,
  ``{"4471123": {...}}``) is typed too;
* CSV/TSV blocks whose header names personal fields: every cell of a typed
  column;
* ``key: value`` and ``key=value`` pairs (quoted values always; unquoted ones
  when the value has the shape of its type, so prose after ``Patient:`` that
  is not a name is left to the other recognizers).

A bare ``id`` field counts only in a record (object, row) that holds other
personal fields. Unknown fields are left to the text recognizers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator

from .fields import FIELD_TYPES, RECORD_ID, FieldClassifier, default_classifier, is_field_value, resolve_record_ids
from .recognizers import Hit

__all__ = ["FIELD_SOURCE", "STRUCTURED_TYPES", "field_type", "key_is_value", "structured_finders"]

STRUCTURED_TYPES: tuple[str, ...] = FIELD_TYPES
FIELD_SOURCE = "privroute-fields"
"""Recognizer name of field-typed hits: the judgement calls do not second-guess them."""
_SCORE = 0.85  # the field name is stronger evidence than any value pattern



def key_is_value(key: str) -> bool:
    """A JSON key shaped like a value (a name, an id) rather than like a field name."""
    return _name_shaped(key) or _ID_SHAPE.fullmatch(key) is not None


def field_type(name: str) -> str | None:
    """The type of a field called ``name`` under the default classifier (None: not personal)."""
    found = default_classifier().type_of(name)
    return None if found == RECORD_ID else found


# ---------------------------------------------------------------- JSON in text

_JSON_START = re.compile(r"\{\s*\"|\[\s*[\{\"\d-]")
_TOKEN = re.compile(r'\s*(?:("(?:[^"\\\n]|\\.)*")|(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)|(true|false|null)|([{}\[\]:,]))')
_NAME_SHAPE = re.compile(r"[A-Z][a-zà-ÿ'’-]+(?: [A-Z][a-zà-ÿ'’.-]*){1,3}")
_ID_SHAPE = re.compile(r"(?=(?:[^\d]*\d){4})[A-Za-z0-9][\w.-]{3,40}")
_PERSON_WORDS_MAX = 6


def _json_blocks(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each JSON object or array in ``text`` (outermost only)."""
    decoder = json.JSONDecoder()
    budget = 8 * len(text) + 10_000  # characters raw_decode may read in failed attempts: linear time
    position = 0
    while budget > 0:
        match = _JSON_START.search(text, position)
        if match is None:
            return
        start = match.start()
        try:
            _, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            budget -= max(1, exc.pos - start)
            position = start + 1
            continue
        except RecursionError:
            return
        yield start, end
        position = end


def _name_shaped(value: str) -> bool:
    return _NAME_SHAPE.fullmatch(value) is not None


class _Frame:
    """One open JSON container while walking it."""

    __slots__ = ("field", "key", "key_span", "keys", "kind", "personal", "values")

    def __init__(self, kind: str, field: str | None) -> None:
        self.kind = kind
        self.field = field  # the type of an array's scalars (its key's type)
        self.values: list[tuple[int, int, str]] = []  # typed scalars of an object, ids unresolved
        self.keys: list[tuple[int, int, str, bool]] = []  # keys holding a container: span, key, personal?
        self.personal = False  # it (or something inside it) holds typed values
        self.key: str | None = None
        self.key_span: tuple[int, int] | None = None


def _json_hits(text: str, start: int, end: int, classify: Callable[[str], str | None]) -> Iterator[Hit]:
    """Typed scalars (and value-like keys) of the JSON value at ``text[start:end]``."""
    stack: list[_Frame] = []
    position = start
    while position < end:
        match = _TOKEN.match(text, position)
        if match is None:  # cannot happen on text raw_decode accepted; stop rather than guess
            return
        position = match.end()
        string, number, _literal, punct = match.groups()
        frame = stack[-1] if stack else None
        if punct == ":" and frame is not None and frame.kind == "obj" and frame.key_span is not None:
            continue
        if string is not None and frame is not None and frame.kind == "obj" and frame.key_span is None:
            try:
                frame.key = json.loads(string)
            except ValueError:
                frame.key = ""
            frame.key_span = (match.start(1) + 1, match.end(1) - 1)
            continue
        if punct in ("{", "["):
            if frame is None:
                field = None
            elif frame.kind == "arr":
                field = frame.field
            else:
                field = classify(frame.key) if frame.key else None
            stack.append(_Frame("obj" if punct == "{" else "arr", field))
            continue
        if punct in ("}", "]"):
            done = stack.pop()
            if done.kind == "obj":
                hits = list(_flush_object(done))
                done.personal = done.personal or bool(hits)
                yield from hits
            if stack:
                parent = stack[-1]
                parent.personal = parent.personal or done.personal
                if parent.kind == "obj" and parent.key_span is not None and parent.key is not None:
                    parent.keys.append((*parent.key_span, parent.key, done.personal or done.field is not None))
                    parent.key, parent.key_span = None, None
            continue
        if punct == "," or frame is None:
            continue
        if string is not None or number is not None:
            lo, hi = (match.start(1) + 1, match.end(1) - 1) if string is not None else match.span(2)
            value = text[lo:hi]
            if frame.kind == "arr":
                type_ = frame.field
            else:
                type_ = classify(frame.key) if frame.key else None
                frame.key, frame.key_span = None, None
            if type_ is None or lo >= hi or not is_field_value(value):
                continue
            if type_ == "PERSON" and len(value.split()) > _PERSON_WORDS_MAX:
                continue  # a description under a role word ("patient": "67 yo with chest pain")
            if frame.kind == "arr":
                if type_ != RECORD_ID:
                    frame.personal = True
                    yield Hit(lo, hi, type_, _SCORE)
            else:
                frame.values.append((lo, hi, type_))
        elif _literal is not None and frame.kind == "obj":
            frame.key, frame.key_span = None, None


def _flush_object(frame: _Frame) -> Iterator[Hit]:
    """The hits of one object: its typed values (bare ids resolved against the others), value-like keys."""
    resolved = resolve_record_ids([t for _, _, t in frame.values] + (["PERSON"] if frame.personal else []))
    for (lo, hi, _), type_ in zip(frame.values, resolved):
        if type_ is not None:
            yield Hit(lo, hi, type_, _SCORE)
    parent_id = frame.field not in (None, RECORD_ID, "PERSON")
    for lo, hi, key, personal in frame.keys:
        if _name_shaped(key):
            yield Hit(lo, hi, "PERSON", 0.7)  # above the name finders: the keep rules read prose, not keys
        elif _ID_SHAPE.fullmatch(key) and (personal or parent_id):
            yield Hit(lo, hi, frame.field if parent_id else "ACCOUNT_NUMBER", _SCORE)


# ---------------------------------------------------------------- key: value pairs

_QUOTED_PAIR = re.compile(
    r"""["']?([A-Za-z][\w .#-]{0,30}?)["']?[ \t]*[:=][ \t]*(?:"([^"\n]{1,120})"|'([^'\n]{1,120})')""")
_PAIR_HINT = re.compile(r"""[:=][ \t]*["']""")
# An unquoted pair: a field-like key (at most 3 words) at a line or clause start, then its value.
_BARE_PAIR = re.compile(
    r"(?:^|(?<=[\n,;{(|&?]))[ \t]*([A-Za-z][\w#.-]{0,30}(?:[ \t][A-Za-z][\w#.-]{0,20}){0,2})[ \t]*[:=]"
    r"[ \t]*([^\s\"',;|&{}<>][^\n,;|&{}<>]{0,80})", re.MULTILINE)
_DIGIT = re.compile(r"\d")
_BARE_NAME = re.compile(r"(?:(?:Mr|Mrs|Ms|Dr|Prof)\.? )?[A-ZÀ-Þ][\w'’.-]*(?: [A-ZÀ-Þ][\w'’.-]*){0,3}")
_FREE_TEXT_TYPES = frozenset({"STREET_ADDRESS", "LOCATION", "ORGANIZATION"})


def _bare_value(value: str, type_: str) -> str | None:
    """The part of an unquoted value that has the shape of its type, or None."""
    value = value.strip()
    if type_ == "PERSON":
        match = _BARE_NAME.match(value)
        if match is None or any(ch.isdigit() for ch in match.group()):
            return None
        return match.group().rstrip(".")
    if type_ in _FREE_TEXT_TYPES:
        return value if len(value.split()) <= 8 else None
    # Identifiers, numbers, dates: the first words, holding a digit.
    words = value.split()[:4]
    while words and not _DIGIT.search(words[-1]):
        words.pop()
    candidate = " ".join(words)
    return candidate if _DIGIT.search(candidate) else None


def _pairs(text: str, classify: Callable[[str], str | None], json_spans: list[tuple[int, int]]) -> Iterator[Hit]:
    def inside_json(position: int) -> bool:
        return any(lo <= position < hi for lo, hi in json_spans)

    if _PAIR_HINT.search(text) is not None:
        for match in _QUOTED_PAIR.finditer(text):
            if inside_json(match.start()):
                continue
            type_ = classify(match.group(1))
            group = 2 if match.group(2) is not None else 3
            if type_ in (None, RECORD_ID) or not is_field_value(match.group(group)):
                continue
            yield Hit(match.start(group), match.end(group), type_, _SCORE)
    for match in _BARE_PAIR.finditer(text):
        if inside_json(match.start()):
            continue
        key = match.group(1)
        type_ = classify(key)
        for cut in range(1, key.count(" ") + 1):  # "the Member ID" -> "Member ID"
            if type_ not in (None, RECORD_ID):
                break
            type_ = classify(key.split(" ", cut)[-1])
        if type_ in (None, RECORD_ID):
            continue
        value = _bare_value(match.group(2), type_)
        if value and is_field_value(value):
            begin = match.start(2) + (len(match.group(2)) - len(match.group(2).lstrip()))
            yield Hit(begin, begin + len(value), type_, _SCORE)


# ---------------------------------------------------------------- tables

_DELIMITERS = (",", "\t", ";", "|")
_HEADER_CELL = re.compile(r"[A-Za-z_#][\w .()/#+-]{0,30}")


def _cells(line: str, delimiter: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for index, char in enumerate(line + delimiter):
        if char == delimiter:
            spans.append((start, index))
            start = index + 1
    return spans


def _header(line: str, delimiter: str, classify: Callable[[str], str | None]) -> list[str | None] | None:
    """Column types when ``line`` is a table header (short names, half of them personal fields)."""
    if line.count(delimiter) < 1:
        return None
    names = [line[s:e].strip().strip("\"'") for s, e in _cells(line, delimiter)]
    if sum(1 for name in names if name) < 2:
        return None  # one named column is a line of prose ending in ";" ("c . Mobile cranes ;")
    if not all(_HEADER_CELL.fullmatch(name) and len(name.split()) <= 4 for name in names if name):
        return None
    types = resolve_record_ids([classify(name) for name in names])
    known = sum(t is not None for t in types)
    return types if known and known * 2 >= len(names) else None


def _tables(text: str, classify: Callable[[str], str | None]) -> Iterator[Hit]:
    if "\n" not in text:
        return
    lines = [(m.start(), m.group()) for m in re.finditer(r"[^\n]+", text)]
    index = 0
    while index < len(lines) - 1:
        _, line = lines[index]
        index += 1
        for delimiter in _DELIMITERS:
            types = _header(line, delimiter, classify)
            if types is None:
                continue
            while index < len(lines):
                row_offset, row = lines[index]
                cells = _cells(row, delimiter)
                if len(cells) != len(types):
                    break
                index += 1  # a row is never read as another table's header
                for (start, end), type_ in zip(cells, types):
                    cell = row[start:end]
                    value = cell.strip().strip("\"'")
                    if type_ is None or not is_field_value(value):
                        continue
                    lead = len(cell) - len(cell.lstrip().lstrip("\"'"))
                    begin = row_offset + start + lead
                    yield Hit(begin, begin + len(value), type_, _SCORE)
            break


def structured_finders(classifier: FieldClassifier | None = None) -> tuple[Callable[[str], Iterator[Hit]], ...]:
    """The finders for ``classifier`` (the policy's field names added to the default ones)."""
    classify = (classifier or default_classifier()).type_of

    def find(text: str) -> Iterator[Hit]:
        spans = list(_json_blocks(text)) if ("{" in text or "[" in text) else []
        for lo, hi in spans:
            yield from _json_hits(text, lo, hi, classify)
        yield from _pairs(text, classify, spans)
        yield from _tables(text, classify)

    return (find,)
