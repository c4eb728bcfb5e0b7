"""The backend contract: chat messages in, one completion out."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

__all__ = ["Backend", "Completion", "Message", "Usage"]

Role = Literal["system", "user", "assistant", "tool", "developer"]


@dataclass(frozen=True)
class Message:
    role: str
    content: str

    def __repr__(self) -> str:  # content may hold PII
        return f"Message(role={self.role!r}, content=<{len(self.content)} chars>)"

    def as_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


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

    def __repr__(self) -> str:
        return (
            f"Completion(model={self.model!r}, finish_reason={self.finish_reason!r}, "
            f"text=<{len(self.text)} chars>, usage={self.usage!r}, input_truncated={self.input_truncated})"
        )

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


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
