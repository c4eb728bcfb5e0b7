"""Per-format readers and writers for batch redaction.

A format turns a document's bytes into the list of strings that hold its text
(``extract``) and, given an edit for each of those strings, writes the redacted
document (``render``). Detection happens between the two, usually in another
process, so ``extract`` returns only picklable data.

Every failure is a :class:`FormatError` whose message names the problem and a
position (line, byte, page), never the content: batch reports are shared with
people who must not see the data.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import FormatError

__all__ = [
    "Edit",
    "Extracted",
    "Format",
    "FormatError",
    "FormatOptions",
    "format_for",
    "supported_suffixes",
]


@dataclass(frozen=True)
class FormatOptions:
    """Options that change what a format extracts (part of the resume fingerprint)."""

    columns: tuple[str, ...] = ()
    """CSV: redact only these header columns (all when empty)."""


@dataclass(frozen=True)
class Extracted:
    """The strings of a document to scan, plus what ``render`` needs to rebuild it."""

    strings: tuple[str, ...]
    state: Any = None
    fields: tuple[str | None, ...] = ()
    """The field name (CSV header, JSON key) each string sits under, or None; empty when there are none."""
    records: tuple[int, ...] = ()
    """The record (row, object) each string belongs to, parallel to ``fields``."""

    def __repr__(self) -> str:
        return f"Extracted(strings={len(self.strings)})"


@dataclass(frozen=True)
class Edit:
    """The redacted form of one extracted string.

    ``replacements`` are ``(start, end, token)`` spans of the original string,
    sorted and disjoint; formats that keep inline structure (DOCX runs) apply
    them piecewise, the others just use ``text``.
    """

    text: str
    replacements: tuple[tuple[int, int, str], ...] = ()

    def __repr__(self) -> str:
        return f"Edit(<{len(self.text)} chars>, replacements={len(self.replacements)})"


@dataclass(frozen=True)
class Format:
    name: str
    extract: Callable[[bytes, FormatOptions], Extracted]
    render: Callable[[bytes, Extracted, Sequence[Edit]], bytes]
    output_suffix: str | None = None
    """Appended to the output name when the output is of another type (PDF -> .txt)."""
    note: str | None = None
    """Said in the report for every document of this type."""


# --------------------------------------------------------------------- text


def decode_text(data: bytes) -> tuple[str, bool]:
    """Strict UTF-8 text and whether it had a BOM; FormatError for anything else."""
    if not data:
        raise FormatError("empty file")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise FormatError("UTF-16/32 text is not supported; convert it to UTF-8")
    if b"\x00" in data:
        raise FormatError("binary content (NUL bytes) in a text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"invalid UTF-8 at byte {exc.start}") from None
    bom = text.startswith("\ufeff")
    text = text[1:] if bom else text
    if not text.strip():
        raise FormatError("empty file (whitespace only)")
    return text, bom


def _encode(text: str, bom: bool) -> bytes:
    return (("\ufeff" if bom else "") + text).encode("utf-8")


def _text_extract(data: bytes, options: FormatOptions) -> Extracted:
    text, bom = decode_text(data)
    return Extracted((text,), bom)


def _text_render(data: bytes, extracted: Extracted, edits: Sequence[Edit]) -> bytes:
    return _encode(edits[0].text, extracted.state)


# ---------------------------------------------------------------------- csv


_CSV_DELIMITERS = (",", ";", "\t", "|")


def _csv_delimiter(text: str, default: str) -> str:
    """The delimiter of a delimited file: whichever of , ; tab | its header line holds most.

    European spreadsheets export with ';'; a header with none of them is one
    column, read with ``default``. Delimiters inside double quotes do not count.
    """
    counts = dict.fromkeys(_CSV_DELIMITERS, 0)
    quoted = False
    for char in text[:text.find("\n") if "\n" in text else len(text)]:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(_CSV_DELIMITERS, key=lambda d: (counts[d], d == default))
    return best if counts[best] else default


def _csv_extract(data: bytes, options: FormatOptions, default: str = ",") -> Extracted:
    text, bom = decode_text(data)
    delimiter = _csv_delimiter(text, default)
    rows = _csv_rows(text, delimiter)
    header = rows[0] if rows else []
    if options.columns:
        missing = [c for c in options.columns if c not in header]
        if missing:
            raise FormatError(f"column(s) not in the CSV header: {', '.join(missing)}")
        wanted = {i for i, name in enumerate(header) if name in options.columns}
    else:
        wanted = None
    cells: list[tuple[int, int]] = []
    strings: list[str] = []
    for r, row in enumerate(rows[1:], start=1):
        for c, cell in enumerate(row):
            if cell and (wanted is None or c in wanted):
                cells.append((r, c))
                strings.append(cell)
    newline = "\r\n" if "\r\n" in text else "\n"
    fields = tuple(header[c] if c < len(header) else None for _, c in cells)
    return Extracted(tuple(strings), (bom, newline, rows, tuple(cells), delimiter), fields,
                     tuple(r for r, _ in cells))


def _tsv_extract(data: bytes, options: FormatOptions) -> Extracted:
    return _csv_extract(data, options, default="\t")


def _csv_rows(text: str, delimiter: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        return [list(row) for row in reader]
    except csv.Error:
        # csv's messages quote the offending characters; report the line only.
        raise FormatError(f"malformed CSV at line {reader.line_num}") from None


def _csv_render(data: bytes, extracted: Extracted, edits: Sequence[Edit]) -> bytes:
    bom, newline, rows, cells, delimiter = extracted.state
    rows = [list(row) for row in rows]
    for (r, c), edit in zip(cells, edits, strict=True):
        rows[r][c] = edit.text
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=delimiter, lineterminator=newline).writerows(rows)
    return _encode(out.getvalue(), bom)


# --------------------------------------------------------------- json, jsonl


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        # json.loads would keep only the last value: refuse rather than lose one.
        raise FormatError("JSON object with a duplicate key (a value would be lost)")
    return result


def _json_load(text: str, line: int | None = None) -> Any:
    """Parse strictly; errors give the position (for JSONL: the file's line and the column)."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        if line is None:
            raise FormatError(f"malformed JSON (line {exc.lineno}, column {exc.colno})") from None
        raise FormatError(f"malformed JSON on line {line} (column {exc.colno})") from None
    except RecursionError:
        raise FormatError("JSON nested too deeply") from None


_ID_KEY = re.compile(r"(?=(?:\D*\d){4})\S+")


def _scalar_text(value: Any) -> str | None:
    """The text of a JSON scalar worth scanning: strings, and numbers (an MRN is often one)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return json.dumps(value)
    return None


def _map_strings(value: Any, fn: Callable[[str, Any, str | None, int], str], field: str | None = None,
                 record: int | None = None, counter: list[int] | None = None) -> Any:
    """A copy of a JSON value with every key and scalar passed through ``fn(text, original, field, record)``.

    Visited in document order: a key, then its value. ``field`` is the key a
    value sits under (an array passes its key on to its items). ``record``
    numbers the record a value belongs to: the document, or each object that is
    an item of an array; objects nested under a key belong to their parent's
    record ({"id": 7, "patient": {"name": ...}} is one record). A key is visited
    only when it is shaped like a value itself (``{"by_mrn": {"4471123": ...}}``,
    ``{"Jane Roe": {...}}``), with its parent's field; field names are not.
    """
    from ..detect.structured import key_is_value

    counter = counter if counter is not None else [0]
    text = _scalar_text(value)
    if text is not None:
        return fn(text, value, field, record or 0)
    if isinstance(value, dict):
        if record is None:
            counter[0] += 1
            record = counter[0]
        out = {}
        for key, item in value.items():
            new_key = key
            if key_is_value(key):
                # An id-shaped key names what it holds: an id, personal when its record is.
                new_key = fn(key, key, "id" if _ID_KEY.fullmatch(key) and isinstance(item, dict) else field, record)
            out[new_key] = _map_strings(item, fn, key, record, counter)
        if len(out) != len(value):
            raise FormatError("JSON object keys collide once redacted")
        return out
    if isinstance(value, list):
        return [_map_strings(item, fn, field, None if isinstance(item, dict) else record, counter) for item in value]
    return value


def _collect(value: Any) -> tuple[list[str], list[str | None], list[int]]:
    found: list[str] = []
    fields: list[str | None] = []
    records: list[int] = []

    def visit(text: str, original: Any, field: str | None, record: int) -> str:
        found.append(text)
        fields.append(field)
        records.append(record)
        return text

    _map_strings(value, visit)
    return found, fields, records


def _replace_in_order(value: Any, edits: Iterator[Edit]) -> Any:
    def replace(text: str, original: Any, field: str | None, record: int) -> Any:
        new = next(edits).text
        return original if new == text else new  # an untouched number stays a number

    return _map_strings(value, replace)


def _dump(value: Any, indent: int | None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _json_extract(data: bytes, options: FormatOptions) -> Extracted:
    text, bom = decode_text(data)
    value = _json_load(text)
    indent = 2 if "\n" in text.strip() else None
    strings, fields, records = _collect(value)
    return Extracted(tuple(strings), (bom, value, indent, text.endswith("\n")), tuple(fields), tuple(records))


def _json_render(data: bytes, extracted: Extracted, edits: Sequence[Edit]) -> bytes:
    bom, value, indent, final_newline = extracted.state
    out = _dump(_replace_in_order(value, iter(edits)), indent)
    return _encode(out + ("\n" if final_newline else ""), bom)


def _jsonl_extract(data: bytes, options: FormatOptions) -> Extracted:
    text, bom = decode_text(data)
    # Only "\n" ends a JSONL record: str.splitlines would also cut at U+2028 and other
    # separators that JSON allows raw inside strings.
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]] + ([parts[-1]] if parts[-1] else [])
    values: list[Any] = []
    strings: list[str] = []
    fields: list[str | None] = []
    records: list[int] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            values.append(None)
            continue
        value = _json_load(line.rstrip("\r\n"), number)
        values.append(value)
        found, found_fields, found_records = _collect(value)
        strings.extend(found)
        fields.extend(found_fields)
        records.extend(number * 1_000_000 + record for record in found_records)  # objects of other lines differ
    return Extracted(tuple(strings), (bom, tuple(lines), values), tuple(fields), tuple(records))


def _jsonl_render(data: bytes, extracted: Extracted, edits: Sequence[Edit]) -> bytes:
    bom, lines, values = extracted.state
    remaining = iter(edits)
    out: list[str] = []
    for line, value in zip(lines, values):
        if not line.strip():
            out.append(line)
            continue
        ending = line[len(line.rstrip("\r\n")):]
        out.append(_dump(_replace_in_order(value, remaining), None) + ending)
    return _encode("".join(out), bom)


# --------------------------------------------------------------------- docx

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_EDITABLE = {_W + "t", _W + "delText", _W + "instrText"}
_VIRTUAL = {_W + "tab": "\t", _W + "br": "\n", _W + "cr": "\n"}
# Parts of a .docx that hold paragraphs: body, headers, footers, notes, comments.
_TEXT_PART_TYPES = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    "application/vnd.ms-word.document.macroEnabled.main+xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.header+xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.footer+xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.endnotes+xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.comments+xml",
}
# Core properties whose text is scanned; author fields are cleared outright (a bare
# name out of context is exactly what NER misses).
_CORE_SCANNED = ("title", "subject", "keywords", "comments", "category")
_CORE_CLEARED = ("author", "last_modified_by")


def _open_docx(data: bytes) -> Any:
    try:
        import docx
    except ImportError as exc:
        from ..errors import MissingDependency

        raise MissingDependency("python-docx", "batch") from exc
    try:
        return docx.Document(io.BytesIO(data))
    except Exception:  # zipfile, lxml and KeyError all mean the same to the user
        raise FormatError("malformed DOCX (not a readable Word document)") from None


class _DocxText:
    """Every paragraph of every text part, each as (segments, text), in a stable order.

    A segment is ``[node, text]`` for an editable node (run text, deleted text, field
    code) or ``[None, "\\t"]`` for a tab/break, which counts in the text the detector
    sees (so "Jane<tab>Roe" is not read as "JaneRoe") but cannot be edited.
    """

    def __init__(self, document: Any) -> None:
        from lxml import etree

        self.document = document
        self.paragraphs: list[list[list[Any]]] = []
        self.blob_parts: list[tuple[Any, Any]] = []
        self.external_rels: list[Any] = []
        for part in document.part.package.iter_parts():
            if part.content_type not in _TEXT_PART_TYPES:
                continue
            element = getattr(part, "_element", None)
            if element is None:
                # python-docx loads notes and comments as opaque blobs.
                element = etree.fromstring(part.blob)
                self.blob_parts.append((part, element))
            self._paragraphs_of(element)
            self.external_rels.extend(
                rel for _, rel in sorted(part.rels.items()) if rel.is_external)

    def _paragraphs_of(self, root: Any) -> None:
        for paragraph in root.iter(_W + "p"):
            segments: list[list[Any]] = []
            for node in paragraph.iter(*_EDITABLE, *_VIRTUAL):
                if _owning_paragraph(node) is not paragraph:
                    continue  # belongs to a nested paragraph (text box), handled there
                if node.tag in _VIRTUAL:
                    segments.append([None, _VIRTUAL[node.tag]])
                elif node.text:
                    segments.append([node, node.text])
            if any(node is not None for node, _ in segments):
                self.paragraphs.append(segments)

    def strings(self) -> list[str]:
        texts = ["".join(text for _, text in segments) for segments in self.paragraphs]
        texts.extend(rel.target_ref for rel in self.external_rels)
        core = self.document.core_properties
        texts.extend(getattr(core, name) or "" for name in _CORE_SCANNED)
        return texts

    def apply(self, edits: Sequence[Edit]) -> None:
        n_par, n_rel = len(self.paragraphs), len(self.external_rels)
        for segments, edit in zip(self.paragraphs, edits[:n_par], strict=True):
            _apply_to_segments(segments, edit.replacements)
        for rel, edit in zip(self.external_rels, edits[n_par:n_par + n_rel], strict=True):
            rel._target = edit.text  # python-docx has no public setter for a link target
        core = self.document.core_properties
        for name, edit in zip(_CORE_SCANNED, edits[n_par + n_rel:], strict=True):
            if getattr(core, name):
                setattr(core, name, edit.text)
        for name in _CORE_CLEARED:
            setattr(core, name, "")
        from lxml import etree

        for part, element in self.blob_parts:
            part._blob = etree.tostring(element, xml_declaration=True, encoding="UTF-8", standalone=True)


def _owning_paragraph(node: Any) -> Any:
    parent = node.getparent()
    while parent is not None and parent.tag != _W + "p":
        parent = parent.getparent()
    return parent


def _apply_to_segments(segments: list[list[Any]], replacements: Sequence[tuple[int, int, str]]) -> None:
    """Put each token where its value started, deleting the rest of the value from later runs.

    The token takes the formatting of the run the value began in; runs the value
    only passed through keep their formatting for whatever text is left in them.
    Applied right to left, on original offsets, so that earlier offsets stay valid.
    """
    starts, lengths, offset = [], [], 0
    for _, text in segments:
        starts.append(offset)
        lengths.append(len(text))
        offset += len(text)
    for start, end, token in reversed(replacements):
        touched = [i for i, (node, _) in enumerate(segments)
                   if node is not None and max(start, starts[i]) < min(end, starts[i] + lengths[i])]
        if not touched:
            raise FormatError("DOCX paragraph could not be edited in place")
        for i in touched:
            lo, hi = max(start, starts[i]) - starts[i], min(end, starts[i] + lengths[i]) - starts[i]
            text = segments[i][1]
            segments[i][1] = text[:lo] + (token if i == touched[0] else "") + text[hi:]
    for node, text in segments:
        if node is not None and node.text != text:
            node.text = text
            node.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")


def _docx_extract(data: bytes, options: FormatOptions) -> Extracted:
    if not data:
        raise FormatError("empty file")
    return Extracted(tuple(_DocxText(_open_docx(data)).strings()))


def _docx_render(data: bytes, extracted: Extracted, edits: Sequence[Edit]) -> bytes:
    document = _open_docx(data)
    text = _DocxText(document)
    text.apply(edits)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# ---------------------------------------------------------------------- pdf


def _pdf_extract(data: bytes, options: FormatOptions) -> Extracted:
    if not data:
        raise FormatError("empty file")
    try:
        import pypdf
    except ImportError as exc:
        from ..errors import MissingDependency

        raise MissingDependency("pypdf", "batch") from exc
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise FormatError("encrypted PDF (no password support)")
        pages = tuple(page.extract_text() or "" for page in reader.pages)
    except FormatError:
        raise
    except Exception:  # pypdf raises many types for broken files
        raise FormatError("malformed PDF (text could not be extracted)") from None
    if not any(page.strip() for page in pages):
        raise FormatError("PDF has no extractable text (scanned? OCR is not supported)")
    return Extracted(pages)


def _pdf_render(data: bytes, extracted: Extracted, edits: Sequence[Edit]) -> bytes:
    # Pages are separated by form feeds, as pdftotext does.
    return "\f".join(edit.text for edit in edits).encode("utf-8")


# ----------------------------------------------------------------- registry

_TEXT = Format("text", _text_extract, _text_render)
_FORMATS: dict[str, Format] = {
    ".txt": _TEXT,
    ".md": _TEXT,
    ".csv": Format("csv", _csv_extract, _csv_render),
    ".tsv": Format("tsv", _tsv_extract, _csv_render),
    ".json": Format("json", _json_extract, _json_render),
    ".jsonl": Format("jsonl", _jsonl_extract, _jsonl_render),
    ".ndjson": Format("jsonl", _jsonl_extract, _jsonl_render),
    ".docx": Format("docx", _docx_extract, _docx_render),
    ".pdf": Format("pdf", _pdf_extract, _pdf_render, output_suffix=".txt",
                   note="PDF text extracted and written as redacted plain text (layout not kept)"),
}
csv.field_size_limit(1 << 30)  # the batch size limit is the real bound


def format_for(suffix: str) -> Format | None:
    """The format for a file suffix (case-insensitive), or None when unsupported."""
    return _FORMATS.get(suffix.lower())


def format_named(name: str) -> Format:
    for fmt in _FORMATS.values():
        if fmt.name == name:
            return fmt
    raise KeyError(name)


def supported_suffixes() -> tuple[str, ...]:
    return tuple(_FORMATS)
