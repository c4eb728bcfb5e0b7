"""``privroute eval``: measure detection and redaction on labeled data.

Input formats (chosen by content, not by file name):

* presidio-research JSON: a JSON array of
  ``{"full_text", "spans": [{"entity_type", "start_position", "end_position", ...}]}``;
* JSONL with spans: one ``{"text", "spans": [{"label", "start", "end"}]}`` per line
  (offsets are Python str offsets, end-exclusive);
* JSONL adversarial: one ``{"text", "pii_values": [...]}`` per line, each value a
  substring that must not reach a frontier model.

Every text is redacted exactly as ``privroute.redact`` does under the policy.
Metrics (all shares are 0..1; no value from the data is ever printed):

* ``recall`` / ``precision``: character overlap between labeled and redacted
  spans, whatever the type (a value redacted under another type is still
  protected); ``per_type`` also gives ``typed_recall``, where the detected type
  must belong to the label's family (``LABEL_FAMILIES``);
* ``verbatim_leak``: share of labeled values still present verbatim;
* ``token_leak``: share of the labeled values' words (3+ letters or digits)
  still present as whole words anywhere in the redacted text;
* ``over_redaction``: share of the words outside labeled spans that were
  (partly) replaced;
* ``clean_changed``: share of texts without labels that were changed at all;
* ``caught`` (adversarial): share of values with no word left, not present
  with white space squeezed out, and not verbatim;
* ``p50_ms`` / ``p95_ms``: time per text of the whole redaction.

Sector data labels more than what must be removed (judges, courts, dates). A
``LabelRoles`` mapping (``--labels``) says which labels must be redacted and which
may stay; a label it does not name must be redacted (a forgotten label never hides
a leak). With roles, the figures above count only the labels to redact (a kept
label's words are "outside"), and two more are given, on words of 3+ letters:

* ``protected_words_left``: share of the words of values to redact left in place
  (no character of the word replaced; ``token_leak`` is the stricter "present
  anywhere in the output");
* ``other_words_destroyed``: share of the words outside those values (kept labels
  included) that were (partly) replaced;
* per label, ``role`` and, for kept labels, ``destroyed``: share of its values
  with any character replaced.

``misses`` (with ``show_misses``) lists, for development only, values to redact
with a word left and redacted spans outside them, each in its context. They hold
raw text from the data: never log them.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .errors import InputError

__all__ = ["EvalReport", "Example", "LABEL_FAMILIES", "LabelRoles", "Miss", "Redactor", "categories_of", "evaluate",
           "evaluate_redactor", "load_examples"]

_WORD = re.compile(r"[^\W_]{3,}")
_LETTER_WORD = re.compile(r"[^\W\d_]{3,}")
_ANY_WORD = re.compile(r"[^\W_]+")
_SPACE = re.compile(r"\s+")

# Labeled type -> detected types that count as the same kind of thing.
LABEL_FAMILIES: dict[str, frozenset[str]] = {
    "PERSON": frozenset({"PERSON"}),
    "TITLE": frozenset({"TITLE", "PERSON"}),
    "STREET_ADDRESS": frozenset({"STREET_ADDRESS", "LOCATION", "ZIP_CODE"}),
    "GPE": frozenset({"LOCATION", "STREET_ADDRESS"}),
    "LOCATION": frozenset({"LOCATION", "STREET_ADDRESS"}),
    "ZIP_CODE": frozenset({"ZIP_CODE", "STREET_ADDRESS", "LOCATION"}),
    "ORGANIZATION": frozenset({"ORGANIZATION"}),
    "DATE_TIME": frozenset({"DATE_TIME"}),
    "AGE": frozenset({"AGE", "AGE_OVER_89", "DATE_TIME"}),
    "NRP": frozenset({"NRP"}),
    "PHONE_NUMBER": frozenset({"PHONE_NUMBER", "FAX_NUMBER"}),
    "EMAIL_ADDRESS": frozenset({"EMAIL_ADDRESS"}),
    "DOMAIN_NAME": frozenset({"URL", "EMAIL_ADDRESS"}),
    "URL": frozenset({"URL"}),
    "US_DRIVER_LICENSE": frozenset({"US_DRIVER_LICENSE", "LICENSE_NUMBER"}),
}


@dataclass(frozen=True)
class Span:
    label: str
    start: int
    end: int


@dataclass(frozen=True)
class Example:
    """One labeled text: spans (offset format) or values (adversarial format)."""

    text: str
    spans: tuple[Span, ...] = ()
    values: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"Example(<{len(self.text)} chars>, spans={len(self.spans)}, values={len(self.values)})"


@dataclass(frozen=True)
class LabelRoles:
    """Which labels of the data must be redacted and which may stay (``--labels``).

    A label named in neither set must be redacted. Build it with ``parse``: an inline
    ``redact=A,B;keep=C,D`` or the path of a YAML/JSON file ``{redact: [...], keep: [...]}``.
    """

    redact: frozenset[str] = frozenset()
    keep: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        both = self.redact & self.keep
        if both:
            raise InputError(f"labels both to redact and to keep: {', '.join(sorted(both))}")

    def must_redact(self, label: str) -> bool:
        return label not in self.keep

    @classmethod
    def parse(cls, spec: str) -> "LabelRoles":
        path = Path(spec)
        if "=" not in spec and path.suffix.lower() in {".yaml", ".yml", ".json"}:
            return cls._from_file(path)
        roles: dict[str, set[str]] = {"redact": set(), "keep": set()}
        for part in filter(None, (p.strip() for p in spec.split(";"))):
            key, sep, names = part.partition("=")
            key = key.strip().lower()
            if not sep or key not in roles:
                raise InputError(f"--labels: expected 'redact=A,B;keep=C,D' or a .yaml/.json file, got {part[:40]!r}")
            roles[key].update(n.strip() for n in names.split(",") if n.strip())
        return cls(frozenset(roles["redact"]), frozenset(roles["keep"]))

    @classmethod
    def _from_file(cls, path: Path) -> "LabelRoles":
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read {path} ({exc.strerror})") from None
        try:
            import yaml

            data = yaml.safe_load(raw)
        except Exception:  # noqa: BLE001 - any parse error is the user's file
            raise InputError(f"{path}: not valid YAML/JSON") from None
        if not isinstance(data, dict) or set(data) - {"redact", "keep"}:
            raise InputError(f"{path}: expected a mapping with 'redact' and/or 'keep' lists")
        lists = {}
        for key in ("redact", "keep"):
            value = data.get(key) or []
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InputError(f"{path}: '{key}' must be a list of label names")
            lists[key] = frozenset(value)
        return cls(lists["redact"], lists["keep"])


@dataclass(frozen=True)
class Miss:
    """A development view of one error: ``kind`` is "left" (a value to redact with a word
    left) or "destroyed" (a redacted span outside the values to redact). ``context``
    holds raw text from the data: print it only on request, never log it."""

    kind: str
    label: str
    context: str = field(repr=False)


@dataclass(frozen=True)
class EvalReport:
    """Aggregate figures; ``as_dict`` is what ``--json`` prints."""

    texts: int
    recall: float | None
    precision: float | None
    verbatim_leak: float | None
    token_leak: float | None
    over_redaction: float | None
    clean_changed: float | None
    caught: float | None
    p50_ms: float
    p95_ms: float
    per_type: dict[str, dict[str, float | int | None]] = field(default_factory=dict)
    per_category: dict[str, dict[str, float | int]] = field(default_factory=dict)
    protected_words_left: float | None = None
    other_words_destroyed: float | None = None
    misses: tuple[Miss, ...] = field(default=(), repr=False)
    per_language: dict[str, dict[str, float | int | None]] = field(default_factory=dict)
    """The main figures per language of the texts (detect/lang.py; 'und' when it cannot be told)."""

    def as_dict(self) -> dict[str, Any]:
        def r(value: float | None) -> float | None:
            return None if value is None else round(value, 4)

        return {
            "texts": self.texts, "recall": r(self.recall), "precision": r(self.precision),
            "verbatim_leak": r(self.verbatim_leak), "token_leak": r(self.token_leak),
            "over_redaction": r(self.over_redaction), "clean_changed": r(self.clean_changed),
            "caught": r(self.caught), "protected_words_left": r(self.protected_words_left),
            "other_words_destroyed": r(self.other_words_destroyed), "p50_ms": round(self.p50_ms, 2),
            "p95_ms": round(self.p95_ms, 2),
            "per_type": {k: {m: r(v) if isinstance(v, float) else v for m, v in d.items()}
                         for k, d in sorted(self.per_type.items())},
            "per_category": self.per_category,
            "per_language": {k: {m: r(v) if isinstance(v, float) else v for m, v in d.items()}
                             for k, d in sorted(self.per_language.items())},
        }

    def summary(self) -> dict[str, float | int | None]:
        """The figures a per-language row shows."""
        return {"texts": self.texts, "recall": self.recall, "token_leak": self.token_leak,
                "over_redaction": self.over_redaction, "protected_words_left": self.protected_words_left,
                "other_words_destroyed": self.other_words_destroyed, "p50_ms": self.p50_ms}


# ---------------------------------------------------------------- loading


def _example_from_spans(text: Any, spans: Any, keys: tuple[str, str, str], where: str) -> Example:
    if not isinstance(text, str):
        raise InputError(f"{where}: text must be a string")
    if not isinstance(spans, list):
        raise InputError(f"{where}: spans must be a list")
    label_key, start_key, end_key = keys
    out = []
    for index, span in enumerate(spans):
        try:
            label, start, end = str(span[label_key]), int(span[start_key]), int(span[end_key])
        except (KeyError, TypeError, ValueError):
            raise InputError(f"{where}: span {index} needs {label_key}, {start_key} and {end_key}") from None
        if not 0 <= start < end <= len(text):
            raise InputError(f"{where}: span {index} offsets are outside the text")
        out.append(Span(label, start, end))
    return Example(text, tuple(out))


def _parse_record(record: Any, where: str) -> Example:
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected a JSON object")
    if "full_text" in record:
        return _example_from_spans(record["full_text"], record.get("spans", []),
                                   ("entity_type", "start_position", "end_position"), where)
    if "pii_values" in record:
        text, values = record.get("text"), record["pii_values"]
        if not isinstance(text, str) or not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InputError(f"{where}: adversarial records need text and a list of pii_values strings")
        missing = sum(1 for v in values if v not in text)
        if missing:
            raise InputError(f"{where}: {missing} pii_values do not occur in the text")
        return Example(text, values=tuple(values))
    if "text" in record:
        return _example_from_spans(record["text"], record.get("spans", []), ("label", "start", "end"), where)
    raise InputError(f"{where}: expected 'full_text', or 'text' with 'spans' or 'pii_values'")


def load_examples(path: str | Path) -> list[Example]:
    """Read labeled data in any of the three formats; InputError on anything malformed."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path} ({exc.strerror})") from None
    try:
        content = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 (byte {exc.start})") from None
    stripped = content.lstrip()
    if stripped.startswith("["):
        try:
            records = json.loads(content)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not valid JSON (line {exc.lineno})") from None
        examples = [_parse_record(r, f"{path}: record {i}") for i, r in enumerate(records)]
    else:
        examples = []
        for number, line in enumerate(content.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raise InputError(f"{path}:{number}: not valid JSON") from None
            examples.append(_parse_record(record, f"{path}:{number}"))
    if not examples:
        raise InputError(f"{path}: no examples")
    return examples


# ---------------------------------------------------------------- scoring


def _covered(length: int, spans: Iterable[tuple[int, int]]) -> bytearray:
    mask = bytearray(length)
    for start, end in spans:
        mask[start:end] = b"\x01" * (end - start)
    return mask


def _words_present(text: str) -> set[str]:
    return {w.casefold() for w in _WORD.findall(text)}


def _squeeze(text: str) -> str:
    return _SPACE.sub("", text).casefold()


def _percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


class _Tally:
    def __init__(self, roles: LabelRoles | None = None, show_misses: bool = False) -> None:
        self.roles = roles or LabelRoles()
        self.show_misses = show_misses
        self.misses: list[Miss] = []
        self.label_chars: dict[str, int] = defaultdict(int)
        self.label_hit: dict[str, int] = defaultdict(int)
        self.label_typed: dict[str, int] = defaultdict(int)
        self.label_count: dict[str, int] = defaultdict(int)
        self.label_destroyed: dict[str, int] = defaultdict(int)
        self.det_chars: dict[str, int] = defaultdict(int)
        self.det_hit: dict[str, int] = defaultdict(int)
        self.values = self.verbatim = self.words = self.words_left = 0
        self.outside_words = self.outside_removed = 0
        self.protected = self.protected_left = self.other = self.other_destroyed = 0
        self.clean = self.clean_changed = 0
        self.adv_values = self.adv_caught = 0
        self.adv_by_category: dict[str, list[int]] = defaultdict(lambda: [0, 0])

    def spans(self, example: Example, redacted: str, entities: Sequence[Any]) -> None:
        text = example.text
        must = [s for s in example.spans if self.roles.must_redact(s.label)]
        detected = _covered(len(text), ((e.start, e.end) for e in entities))
        labeled = _covered(len(text), ((s.start, s.end) for s in must))
        types_at: list[set[str]] = [set() for _ in range(len(text))] if example.spans else []
        for entity in entities:
            for i in range(entity.start, entity.end):
                if types_at:
                    types_at[i].add(entity.type)
            self.det_chars[entity.type] += entity.end - entity.start
            self.det_hit[entity.type] += sum(labeled[entity.start:entity.end])
        if not must:
            self.clean += 1
            self.clean_changed += redacted != text
        out_words = _words_present(redacted)
        for span in example.spans:
            family = LABEL_FAMILIES.get(span.label, frozenset({span.label}))
            self.label_count[span.label] += 1
            self.label_chars[span.label] += span.end - span.start
            self.label_hit[span.label] += sum(detected[span.start:span.end])
            self.label_typed[span.label] += sum(1 for i in range(span.start, span.end) if types_at[i] & family)
            if not self.roles.must_redact(span.label):
                self.label_destroyed[span.label] += any(detected[span.start:span.end])
                continue
            value = text[span.start:span.end]
            self.values += 1
            self.verbatim += value in redacted
            for word in _WORD.findall(value):
                self.words += 1
                self.words_left += word.casefold() in out_words
            # In place: a word of the value whose characters all stayed (token_leak looks anywhere).
            words = list(_LETTER_WORD.finditer(text, span.start, span.end))
            left = [w for w in words if not any(detected[w.start():w.end()])]
            self.protected += len(words)
            self.protected_left += len(left)
            if left and self.show_misses:
                self.misses.append(Miss("left", span.label, _context(text, span.start, span.end)))
        for match in _ANY_WORD.finditer(text):
            if any(labeled[match.start():match.end()]):
                continue
            self.outside_words += 1
            self.outside_removed += any(detected[match.start():match.end()])
        for match in _LETTER_WORD.finditer(text):
            if any(labeled[match.start():match.end()]):
                continue
            self.other += 1
            self.other_destroyed += any(detected[match.start():match.end()])
        if self.show_misses:
            kept = {i: s.label for s in example.spans if not self.roles.must_redact(s.label)
                    for i in range(s.start, s.end)}
            for entity in entities:
                if any(labeled[entity.start:entity.end]) or not _LETTER_WORD.search(text[entity.start:entity.end]):
                    continue
                label = next((kept[i] for i in range(entity.start, entity.end) if i in kept), "-")
                self.misses.append(Miss("destroyed", f"{entity.type} (label {label})",
                                        _context(text, entity.start, entity.end)))

    def adversarial(self, example: Example, redacted: str, category: str) -> None:
        out_words = _words_present(redacted)
        squeezed = _squeeze(redacted)
        for value in example.values:
            caught = (value not in redacted and _squeeze(value) not in squeezed
                      and not any(w.casefold() in out_words for w in _WORD.findall(value)))
            self.adv_values += 1
            self.adv_caught += caught
            self.adv_by_category[category][0] += 1
            self.adv_by_category[category][1] += caught


def _context(text: str, start: int, end: int, width: int = 50) -> str:
    def flat(piece: str) -> str:
        return _SPACE.sub(" ", piece)

    return f"{flat(text[max(0, start - width):start])}[[{flat(text[start:end])}]]{flat(text[end:end + width])}"


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


Redactor = Callable[[str], tuple[str, Sequence[Any]]]
"""text -> (redacted text, spans with start/end/type): what ``evaluate_redactor`` scores."""


def evaluate(examples: Sequence[Example], policy: Any = "general", *, categories: Sequence[str] = (),
             roles: LabelRoles | None = None, show_misses: bool = False) -> EvalReport:
    """Redact every example as ``privroute.redact`` does under ``policy`` and score the result."""
    from .detect.lang import dominant_language
    from .router import Router

    router = Router(policy)
    router.detector  # build the detector (and load spaCy) before timing anything
    covered = tuple(dict.fromkeys((*router.policy.detect.languages, "en", "fr")))

    def redact(text: str) -> tuple[str, Sequence[Any]]:
        redaction = router.redact(text)
        return redaction.text, redaction.entities

    return evaluate_redactor(examples, redact, categories=categories, roles=roles, show_misses=show_misses,
                             language=lambda text: dominant_language(text, covered))


def evaluate_redactor(examples: Sequence[Example], redact: Redactor, *, categories: Sequence[str] = (),
                      roles: LabelRoles | None = None, show_misses: bool = False,
                      language: Callable[[str], str] | None = None) -> EvalReport:
    """Score any redaction function on labeled examples (used to compare against other tools).

    With ``language`` (text -> language code) the main figures are also given per language.
    """
    tally = _Tally(roles, show_misses)
    times: list[float] = []
    languages: dict[str, tuple[_Tally, list[float], list[int]]] = {}
    for index, example in enumerate(examples):
        elapsed = None
        if not example.text.strip():
            redacted, entities = example.text, ()
        else:
            started = time.perf_counter()
            redacted, entities = redact(example.text)
            elapsed = (time.perf_counter() - started) * 1000
            times.append(elapsed)
        tallies = [tally]
        if language is not None:
            own = languages.setdefault(language(example.text), (_Tally(roles), [], [0]))
            own[2][0] += 1
            if elapsed is not None:
                own[1].append(elapsed)
            tallies.append(own[0])
        for each in tallies:
            if example.values:
                each.adversarial(example, redacted, categories[index] if index < len(categories) else "")
            else:
                each.spans(example, redacted, entities)
    report = _report(tally, times, len(examples), roles)
    if language is None:
        return report
    per_language = {code: _report(own, own_times, count[0], roles).summary()
                    for code, (own, own_times, count) in languages.items()}
    return replace(report, per_language=per_language)


def _report(tally: _Tally, times: list[float], texts: int, roles: LabelRoles | None) -> EvalReport:
    per_type: dict[str, dict[str, float | int | None]] = {}
    for label in tally.label_count:
        per_type[label] = {
            "count": tally.label_count[label],
            "recall": _share(tally.label_hit[label], tally.label_chars[label]),
            "typed_recall": _share(tally.label_typed[label], tally.label_chars[label]),
        }
        if roles is not None:
            keep = not roles.must_redact(label)
            per_type[label]["role"] = "keep" if keep else "redact"
            if keep:
                per_type[label]["destroyed"] = _share(tally.label_destroyed[label], tally.label_count[label])
    for type_, chars in tally.det_chars.items():
        per_type.setdefault(type_, {})["precision"] = _share(tally.det_hit[type_], chars)
    # Recall over the labels to redact: a kept label found is a loss, not a gain.
    must = [label for label in tally.label_count if tally.roles.must_redact(label)]
    label_chars = sum(tally.label_chars[label] for label in must)
    label_hit = sum(tally.label_hit[label] for label in must)
    det_chars = sum(tally.det_chars.values())
    return EvalReport(
        texts=texts,
        recall=_share(label_hit, label_chars),
        precision=_share(sum(tally.det_hit.values()), det_chars) if label_chars else None,
        verbatim_leak=_share(tally.verbatim, tally.values),
        token_leak=_share(tally.words_left, tally.words),
        over_redaction=_share(tally.outside_removed, tally.outside_words) if label_chars or tally.clean else None,
        clean_changed=_share(tally.clean_changed, tally.clean),
        caught=_share(tally.adv_caught, tally.adv_values),
        p50_ms=statistics.median(times) if times else 0.0,
        p95_ms=_percentile(times, 0.95),
        per_type=per_type,
        per_category={c: {"values": n, "caught": k} for c, (n, k) in sorted(tally.adv_by_category.items())},
        protected_words_left=_share(tally.protected_left, tally.protected),
        other_words_destroyed=_share(tally.other_destroyed, tally.other),
        misses=tuple(tally.misses),
    )


def categories_of(path: str | Path) -> list[str]:
    """The optional ``category`` of adversarial records (for the per-category table)."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            return []
        out.append(str(record.get("category", "")) if isinstance(record, dict) else "")
    return out
