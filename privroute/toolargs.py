"""Tool call arguments as text to detect and redact: the JSON's values, never its syntax.

An assistant turn's earlier ``tool_calls`` carry JSON arguments (``{"to": "jane@x.org"}``)
that go back to the frontier with the conversation, so they are detected and redacted
like any message. Redacting the JSON text itself could cut through an escape or a
quote and miss values the encoder escaped (``"Jos\\u00e9"``); instead the string and
number values are decoded, shown to the detector as ``key: value`` lines (the key is
context, as a form label is), and each value is redacted on its own, in the
conversation's one vault; the arguments are then encoded again. A number that holds
personal data becomes a string holding its placeholder. Arguments that are not JSON
are text like any other.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .detect.base import Entity
from .vault import Vault

__all__ = ["ArgsView", "args_view"]

_NOT_JSON = object()


@dataclass(frozen=True)
class ArgsView:
    """The detector's view of one tool call's arguments, and the way back to JSON."""

    text: str
    spans: tuple[tuple[int, int], ...]
    """Where each value sits in ``text`` (JSON arguments), in document order."""
    parsed: Any = _NOT_JSON

    def __repr__(self) -> str:
        return f"ArgsView(<{len(self.text)} chars>, values={len(self.spans)})"

    def redact(self, vault: Vault, entities: Sequence[Entity]) -> str:
        """The arguments with each detected value replaced by its placeholder."""
        if self.parsed is _NOT_JSON:
            return vault.redact(self.text, entities).text
        values = []
        for start, end in self.spans:
            inside = [Entity(max(e.start, start) - start, min(e.end, end) - start, e.type, e.score, e.source)
                      for e in entities if e.start < end and e.end > start]
            values.append(vault.redact(self.text[start:end], inside).text if inside else None)
        return json.dumps(_replace(self.parsed, iter(values)), ensure_ascii=False)


def args_view(arguments: str) -> ArgsView:
    """``key: value`` lines for the values of JSON ``arguments``; the text itself when it is not JSON."""
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return ArgsView(arguments, ((0, len(arguments)),))
    lines, spans, offset = [], [], 0
    for key, value in _values(parsed, ""):
        prefix = f"{key}: " if key else ""
        spans.append((offset + len(prefix), offset + len(prefix) + len(value)))
        lines.append(prefix + value)
        offset += len(prefix) + len(value) + 1
    return ArgsView("\n".join(lines), tuple(spans), parsed)


def _values(node: Any, key: str) -> Iterator[tuple[str, str]]:
    """(nearest key, value as text) for each string and number, in document order."""
    if isinstance(node, str):
        yield key, node
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        yield key, json.dumps(node)
    elif isinstance(node, dict):
        for name, child in node.items():
            yield from _values(child, str(name))
    elif isinstance(node, list):
        for child in node:
            yield from _values(child, key)


def _replace(node: Any, values: Iterator[str | None]) -> Any:
    """``node`` with each value (same order as ``_values``) replaced where a redaction is given."""
    if isinstance(node, str) or (isinstance(node, (int, float)) and not isinstance(node, bool)):
        redacted = next(values)
        return node if redacted is None else redacted
    if isinstance(node, dict):
        return {name: _replace(child, values) for name, child in node.items()}
    if isinstance(node, list):
        return [_replace(child, values) for child in node]
    return node
