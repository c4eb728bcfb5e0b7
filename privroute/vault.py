"""Placeholder <-> value mapping for one conversation: redact, restore, stream-restore.

Rules (docs/design.md and the README, "Re-identification rules"):

* one Vault per conversation or request, never shared; all methods are thread-safe;
* the same value gets the same placeholder; two values never share one;
* text in the input that looks like a placeholder is never restored to a real value:
  the vault never issues a token the input already contains, and a look-alike of an
  already issued token is itself wrapped so that it comes back as the literal text;
* restore is tolerant of what models do to tokens (case, markdown escapes, HTML
  entities, missing brackets, split stream chunks) and never inventive: an unknown
  token stays as it is and is reported.

Every replacement uses a function, never a replacement string, so values holding
backslashes or group references come back byte for byte.
"""

from __future__ import annotations

import bisect
import json
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from .detect.base import Entity

__all__ = ["ISSUED_TOKEN", "LOOKALIKE_TYPE", "Redaction", "Restored", "StreamRestorer", "Vault", "json_escape"]

LOOKALIKE_TYPE = "PLACEHOLDER"
"""Entity type given to input text that imitates a token this vault already issued."""

ISSUED_TOKEN = re.compile(r"<(?P<type>[A-Z][A-Z0-9_]*)_(?P<num>\d+)>")
"""A placeholder exactly as a vault issues it, ``<TYPE_N>``: the one grammar that batch
verification and the mapping file read. Restoring also accepts the tolerant forms below."""

# A token as issued: <TYPE_N>. Tolerant forms: &lt;type_n&gt;, [TYPE_N], <TYPE\_N>,
# < TYPE_N >, and a bare upper-case TYPE_N.
_BRACKETED = (
    r"(?:<|&lt;|\[)\s*(?P<btype>[A-Za-z][A-Za-z\\_]{0,40}?)(?:\\?_|\s)(?P<bnum>\d{1,6})\s*(?:>|&gt;|\])"
)
_BARE = r"(?<![A-Za-z0-9_])(?P<type>[A-Z][A-Z_]{0,40}?)_(?P<num>\d{1,6})(?![A-Za-z0-9_])"
_TOKEN = re.compile(f"{_BRACKETED}|{_BARE}")
_MAX_TOKEN_CHARS = 64
# A suffix that could still grow into a token (held back while streaming).
_PARTIAL_BRACKETED = re.compile(r"(?:<|&(?:l(?:t;?)?)?|\[)\s*[A-Za-z\\_]*\d*\s*(?:&(?:g(?:t)?)?)?$")
_PARTIAL_BARE = re.compile(r"(?<![A-Za-z0-9_])[A-Z][A-Z_\\]*\d*$")


def _key(type_: str, number: str) -> tuple[str, int]:
    return (type_.replace("\\", "").strip("_").upper(), int(number))


def _match_key(match: re.Match[str]) -> tuple[str, int]:
    if match.group("btype") is not None:
        return _key(match.group("btype"), match.group("bnum"))
    return _key(match.group("type"), match.group("num"))


@dataclass(frozen=True)
class Restored:
    """An answer with issued tokens replaced by their values.

    ``unknown`` lists tokens that looked like placeholders but were never issued
    by this vault (invented by the model, or typed by the user); they were left as is.
    """

    text: str
    unknown: tuple[str, ...] = ()
    restored: int = 0

    def __repr__(self) -> str:
        return f"Restored(text=<{len(self.text)} chars>, restored={self.restored}, unknown={len(self.unknown)})"


class Vault:
    """The mapping for one conversation. Create one per conversation or request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_value: dict[str, str] = {}
        self._by_key: dict[tuple[str, int], str] = {}
        self._token_of_key: dict[tuple[str, int], str] = {}
        self._reserved: set[tuple[str, int]] = set()
        self._next: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"Vault(<{len(self._by_key)} values>)"

    def __len__(self) -> int:
        return len(self._by_key)

    # ------------------------------------------------------------------ redact

    def redact(self, text: str, entities: Sequence[Entity]) -> "Redaction":
        """Replace each entity span of ``text`` with its token; returns a Redaction."""
        with self._lock:
            extra: list[Entity] = []
            while True:
                spans = self._lookalike_spans(text, [*entities, *extra])
                redacted, kept = self._replace(text, spans)
                # A token next to kept text can turn that text into a look-alike
                # ("PERSON_1_1" with its last "_" redacted reads "PERSON_1<...>1"):
                # wrap such text too, until the redacted text holds none.
                created = self._lookalikes_made_by_tokens(redacted, kept)
                if not created:
                    break
                extra.extend(created)
        return Redaction(text=redacted, entities=tuple(spans), vault=self)

    def _replace(self, text: str, spans: Sequence[Entity]) -> tuple[str, list[tuple[int, int, int]]]:
        """The redacted text, and where the kept text went: (start, end in it, start in ``text``)."""
        pieces: list[str] = []
        kept: list[tuple[int, int, int]] = []
        cursor = length = 0

        def keep(end: int) -> None:
            nonlocal length
            if end > cursor:
                pieces.append(text[cursor:end])
                kept.append((length, length + end - cursor, cursor))
                length += end - cursor

        for entity in spans:
            keep(entity.start)
            token = self._token_for(text[entity.start:entity.end], entity.type)
            pieces.append(token)
            length += len(token)
            cursor = entity.end
        keep(len(text))
        return "".join(pieces), kept

    def _lookalikes_made_by_tokens(self, redacted: str, kept: list[tuple[int, int, int]]) -> list[Entity]:
        """Token-shaped kept text that restore would turn into a value; other new shapes are reserved."""
        created: list[Entity] = []
        starts = [k[0] for k in kept]
        for match in _TOKEN.finditer(redacted):
            position = bisect.bisect_right(starts, match.start()) - 1
            inside = kept[position] if position >= 0 else None
            if inside is None or match.end() > inside[1]:
                continue  # an issued token
            key = _match_key(match)
            if key in self._by_key:
                start = inside[2] + match.start() - inside[0]
                created.append(Entity(start, start + match.end() - match.start(), LOOKALIKE_TYPE, 1.0, "vault"))
            else:
                self._reserved.add(key)
        return created

    def _lookalike_spans(self, text: str, entities: Sequence[Entity]) -> list[Entity]:
        """Reserve every token-shaped string in the input; wrap those already issued."""
        wrapped: list[Entity] = []
        for match in _TOKEN.finditer(text):
            key = _match_key(match)
            if key in self._by_key:
                wrapped.append(Entity(match.start(), match.end(), LOOKALIKE_TYPE, 1.0, "vault"))
            else:
                self._reserved.add(key)
        spans = sorted(wrapped)
        for entity in sorted(entities):
            if not any(entity.overlaps(w) for w in wrapped):
                spans.append(entity)
        spans.sort()
        _check_disjoint(spans, len(text))
        return spans

    def _token_for(self, value: str, type_: str) -> str:
        token = self._by_value.get(value)
        if token is not None:
            return token
        type_key = re.sub(r"[^A-Z0-9_]", "_", type_.upper()).strip("_") or "PII"
        number = self._next.get(type_key, 0)
        while True:
            number += 1
            key = (type_key, number)
            if key not in self._reserved and key not in self._by_key:
                break
        self._next[type_key] = number
        token = f"<{type_key}_{number}>"
        self._by_value[value] = token
        self._by_key[key] = value
        self._token_of_key[key] = token
        return token

    # ----------------------------------------------------------------- restore

    def restore(self, text: str) -> str:
        return self.restore_report(text).text

    def restore_report(self, text: str, *, escape: Callable[[str], str] | None = None) -> Restored:
        """Put the values back; ``escape`` encodes each value for where it lands (``json_escape``
        inside the JSON arguments of a tool call, so they stay valid JSON)."""
        unknown: list[str] = []
        count = 0

        def replace(match: re.Match[str]) -> str:
            nonlocal count
            value = self._by_key.get(_match_key(match))
            if value is None:
                unknown.append(match.group(0))
                return match.group(0)
            count += 1
            return escape(value) if escape is not None else value

        with self._lock:
            restored = _TOKEN.sub(replace, text)
        return Restored(text=restored, unknown=tuple(unknown), restored=count)

    def tokens(self) -> dict[str, str]:
        """token -> entity type, for reports. Values are not exposed here."""
        with self._lock:
            return {self._token_of_key[k]: k[0] for k in self._by_key}

    def values(self) -> tuple[str, ...]:
        """The raw values this vault holds (for leak checks in tests and --verify)."""
        with self._lock:
            return tuple(self._by_key.values())


def _check_disjoint(spans: Sequence[Entity], length: int) -> None:
    previous_end = 0
    for span in spans:
        if span.start < previous_end or span.end > length:
            raise ValueError("entities overlap or fall outside the text")
        previous_end = span.end


@dataclass(frozen=True)
class Redaction:
    """A redacted text and the means to put the values back into an answer."""

    text: str
    entities: tuple[Entity, ...]
    vault: Vault = field(repr=False, compare=False)

    def __repr__(self) -> str:
        return f"Redaction(text=<{len(self.text)} chars>, entities={len(self.entities)})"

    def restore(self, answer: str) -> str:
        return self.vault.restore(answer)

    def restore_report(self, answer: str) -> Restored:
        return self.vault.restore_report(answer)

    @property
    def entity_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for entity in self.entities:
            counts[entity.type] = counts.get(entity.type, 0) + 1
        return counts


class StreamRestorer:
    """Restores a streamed answer chunk by chunk.

    A suffix that could still grow into a token is held back until it is complete
    (or cannot be one any more); everything before it is released at once.
    """

    def __init__(self, vault: Vault, *, escape: Callable[[str], str] | None = None) -> None:
        self._vault = vault
        self._escape = escape
        self._pending = ""
        self.unknown: list[str] = []

    def feed(self, delta: str) -> str:
        self._pending += delta
        hold = _holdback_start(self._pending)
        ready, self._pending = self._pending[:hold], self._pending[hold:]
        return self._restore(ready)

    def flush(self) -> str:
        ready, self._pending = self._pending, ""
        return self._restore(ready)

    def _restore(self, text: str) -> str:
        if not text:
            return ""
        result = self._vault.restore_report(text, escape=self._escape)
        self.unknown.extend(result.unknown)
        return result.text

    def restore_all(self, deltas: Iterable[str]) -> Iterable[str]:
        for delta in deltas:
            out = self.feed(delta)
            if out:
                yield out
        tail = self.flush()
        if tail:
            yield tail


def json_escape(value: str) -> str:
    """``value`` as the inside of a JSON string literal (quotes, backslashes, control characters)."""
    return json.dumps(value, ensure_ascii=False)[1:-1]


def _holdback_start(buffer: str) -> int:
    """Index from which ``buffer`` might be the unfinished start of a token."""
    window_start = max(0, len(buffer) - _MAX_TOKEN_CHARS)
    window = buffer[window_start:]
    candidates = []
    for pattern in (_PARTIAL_BRACKETED, _PARTIAL_BARE):
        for match in pattern.finditer(window):
            candidates.append(match.start())
            break
    # A complete token at the very end may still be followed by digits ("<X_1" + "2>").
    return window_start + min(candidates) if candidates else len(buffer)
