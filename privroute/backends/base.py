"""The backend contract: chat messages in, one completion out.

Tool calling (OpenAI's function tools) rides on the same contract: a message may
carry the assistant's earlier ``tool_calls`` or be a tool result (``tool_call_id``);
a backend that can call tools accepts ``tools=ToolSpec`` in ``complete``/``stream``
(and says so with ``supports_tools = True``), returns ``Completion.tool_calls`` and
streams ``ToolCallDelta`` pieces beside text. Callers pass ``tools=`` only when a
request has tools, so a backend without them never sees the keyword.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = ["Backend", "Completion", "Embeddings", "Message", "ToolCall", "ToolCallDelta", "ToolSpec", "Usage", "is_json"]

Role = Literal["system", "user", "assistant", "tool", "developer"]


@dataclass(frozen=True)
class ToolCall:
    """One function call the model asked for; ``arguments`` is JSON text as the model wrote it."""

    id: str
    name: str
    arguments: str

    def __repr__(self) -> str:  # the arguments may hold PII
        return f"ToolCall(id={self.id!r}, name={self.name!r}, arguments=<{len(self.arguments)} chars>)"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass(frozen=True)
class ToolCallDelta:
    """A streamed piece of tool call ``index``: its id and name come with the first piece."""

    index: int
    arguments: str = ""
    id: str | None = None
    name: str | None = None

    def __repr__(self) -> str:
        return f"ToolCallDelta(index={self.index}, id={self.id!r}, name={self.name!r}, <{len(self.arguments)} chars>)"


@dataclass(frozen=True)
class ToolSpec:
    """The tools a request offers the model, passed through as given (OpenAI chat format).

    ``definitions`` are the ``tools`` entries, ``choice`` the ``tool_choice`` (None: the
    model decides), ``parallel`` the ``parallel_tool_calls`` flag (None: not sent).
    Tool definitions are the application's code (names, descriptions, JSON schemas),
    not the user's data: they are not redacted.
    """

    definitions: tuple[Mapping[str, Any], ...]
    choice: Any = None
    parallel: bool | None = None

    def __repr__(self) -> str:
        names = [str((d.get("function") or {}).get("name")) for d in self.definitions]
        return f"ToolSpec(tools={names!r}, choice={self.choice!r})"

    def request_fields(self) -> dict[str, Any]:
        """The fields of an OpenAI chat request that carry the tools."""
        fields: dict[str, Any] = {"tools": [dict(d) for d in self.definitions]}
        if self.choice is not None:
            fields["tool_choice"] = self.choice
        if self.parallel is not None:
            fields["parallel_tool_calls"] = self.parallel
        return fields


@dataclass(frozen=True)
class Message:
    role: str
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    """An assistant turn's earlier function calls."""
    tool_call_id: str | None = None
    """A tool result (role ``tool``): the call it answers."""
    name: str | None = None

    def __repr__(self) -> str:  # content may hold PII
        calls = f", tool_calls={len(self.tool_calls)}" if self.tool_calls else ""
        return f"Message(role={self.role!r}, content=<{len(self.content)} chars>{calls})"

    def as_dict(self) -> dict[str, Any]:
        if not (self.tool_calls or self.tool_call_id or self.name):
            return {"role": self.role, "content": self.content}
        out: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [call.as_dict() for call in self.tool_calls]
            if not self.content:
                out["content"] = None  # what OpenAI sends for a turn that only calls tools
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            out["name"] = self.name
        return out

    def text_size(self) -> int:
        """Characters in the content and the tool call arguments (prompt size, budget estimates)."""
        return len(self.content) + sum(len(call.arguments) for call in self.tool_calls)


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    finish_reason: str | None = None
    usage: Usage | None = None
    input_truncated: bool = False
    """The prompt did not fit the model's context and its oldest part was cut (local.on_overflow)."""
    tool_calls: tuple[ToolCall, ...] = ()

    def __repr__(self) -> str:
        calls = f", tool_calls={len(self.tool_calls)}" if self.tool_calls else ""
        return (
            f"Completion(model={self.model!r}, finish_reason={self.finish_reason!r}, "
            f"text=<{len(self.text)} chars>, usage={self.usage!r}, input_truncated={self.input_truncated}{calls})"
        )

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


@dataclass(frozen=True)
class Embeddings:
    """One vector per input, in input order (``embed`` on backends that can embed)."""

    vectors: tuple[tuple[float, ...], ...]
    model: str
    usage: Usage | None = None

    def __repr__(self) -> str:
        size = len(self.vectors[0]) if self.vectors else 0
        return f"Embeddings(model={self.model!r}, vectors={len(self.vectors)}x{size}, usage={self.usage!r})"


@runtime_checkable
class Backend(Protocol):
    """A model endpoint. ``name`` identifies it in results and audit records.

    ``complete`` blocks until the whole answer is there; ``stream`` yields text
    deltas. ``timeout`` bounds one attempt in seconds. Implementations map their
    library's errors to privroute.errors (BackendError and subclasses) and never
    retry themselves: retries live in exactly one layer above them.
    """

    name: str
    model: str

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        timeout: float | None = None,
    ) -> Completion: ...

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        timeout: float | None = None,
    ) -> Iterator[str]: ...


def is_json(text: str) -> bool:
    """Whether ``text`` parses as JSON (tool call arguments must)."""
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
