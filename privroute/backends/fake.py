"""A scripted backend that records what it received: for unit tests and dry runs.

It is public API (like httpx's MockTransport): use it to check what a policy
would send without calling any model.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

from .base import Completion, Message, Usage

__all__ = ["FakeBackend"]

Responder = Callable[[Sequence[Message]], str]


def _echo(messages: Sequence[Message]) -> str:
    return f"echo: {messages[-1].content}" if messages else "echo:"


class FakeBackend:
    """Answers with ``respond(messages)`` (default: echo the last message)."""

    def __init__(
        self,
        name: str = "fake",
        *,
        respond: Responder | None = None,
        model: str = "fake-model",
        finish_reason: str = "stop",
        error: BaseException | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self._respond = respond or _echo
        self._finish_reason = finish_reason
        self._error = error
        self._lock = threading.Lock()
        self.calls: list[tuple[Message, ...]] = []

    def __repr__(self) -> str:
        return f"FakeBackend(name={self.name!r}, calls={len(self.calls)})"

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        timeout: float | None = None,
    ) -> Completion:
        with self._lock:
            self.calls.append(tuple(messages))
        if self._error is not None:
            raise self._error
        text = self._respond(messages)
        usage = Usage(sum(len(m.content.split()) for m in messages), len(text.split()))
        return Completion(text=text, model=self.model, finish_reason=self._finish_reason, usage=usage)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        timeout: float | None = None,
    ) -> Iterator[str]:
        text = self.complete(messages, max_tokens=max_tokens, timeout=timeout).text
        for start in range(0, len(text), 3):
            yield text[start : start + 3]
