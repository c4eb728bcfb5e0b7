"""Any OpenAI-compatible chat endpoint, through the official ``openai`` client.

The client is built with ``max_retries=0``: retries happen in exactly one layer
(privroute.resilience), never stacked on the client's own. openai/httpx errors
are mapped to privroute.errors here and nowhere else.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Generator, Sequence
from typing import Any

from ..errors import (
    BackendError,
    ConfigurationError,
    FrontierTimeout,
    FrontierUnavailable,
    MalformedResponse,
)
from .base import Completion, Embeddings, Message, ToolCall, ToolCallDelta, ToolSpec, Usage, is_json

__all__ = ["OpenAIBackend", "RETRYABLE_STATUS"]

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
_TRANSPORT_MODULES = frozenset({"httpx", "httpx2", "httpcore", "httpcore2", "anyio"})
_NO_KEY = "no-key"  # local OpenAI-compatible servers often need none; the client insists on one


class OpenAIBackend:
    """Chat completions (with tools) and embeddings on ``base_url`` with ``model``."""

    supports_tools = True

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        name: str = "frontier",
        temperature: float | None = None,
        default_timeout: float = 60.0,
    ) -> None:
        self.name = name
        self.model = model
        self.base_url = base_url
        self._api_key = api_key
        self._temperature = temperature
        self._default_timeout = default_timeout
        self._client: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIBackend(name={self.name!r}, model={self.model!r}, base_url={self.base_url!r})"

    @classmethod
    def from_config(cls, model: str | None, base_url: str | None, api_key_env: str = "OPENAI_API_KEY",
                    *, name: str = "frontier", temperature: float | None = None,
                    default_timeout: float = 60.0) -> "OpenAIBackend":
        """Build from a policy block plus the standard OPENAI_* environment variables.

        Raises ConfigurationError when there is nowhere to send: no base_url and no
        key means no frontier, never a silent default.
        """
        if not model:
            raise ConfigurationError("no frontier model configured (policy frontier.model)")
        url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        key = os.environ.get(api_key_env) or None
        if url is None and key is None:
            raise ConfigurationError(
                f"no frontier configured: set frontier.base_url in the policy, OPENAI_BASE_URL, or {api_key_env}"
            )
        return cls(model, base_url=url, api_key=key or _NO_KEY, name=name, temperature=temperature,
                   default_timeout=default_timeout)

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                import openai

                self._client = openai.OpenAI(
                    base_url=self.base_url, api_key=self._api_key or _NO_KEY, max_retries=0,
                    timeout=self._default_timeout,
                )
            return self._client

    def _kwargs(self, messages: Sequence[Message], max_tokens: int | None,
                tools: ToolSpec | None = None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"model": self.model, "messages": [m.as_dict() for m in messages]}
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
        if self._temperature is not None:
            kwargs["temperature"] = self._temperature
        if tools is not None:
            kwargs.update(tools.request_fields())
        return kwargs

    def complete(self, messages: Sequence[Message], *, max_tokens: int | None = None,
                 timeout: float | None = None, tools: ToolSpec | None = None) -> Completion:
        client = self._get_client()
        with map_openai_errors(self.name):
            response = client.chat.completions.create(
                **self._kwargs(messages, max_tokens, tools), timeout=timeout or self._default_timeout
            )
        return _parse_completion(response, self)

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None,
               timeout: float | None = None, tools: ToolSpec | None = None) -> Generator[Any, None, str]:
        """Text deltas, and ``ToolCallDelta`` pieces when the model calls tools."""
        client = self._get_client()
        arguments: dict[int, list[str]] = {}
        with map_openai_errors(self.name):
            chunks = client.chat.completions.create(
                **self._kwargs(messages, max_tokens, tools), stream=True, timeout=timeout or self._default_timeout
            )
            finish_reason = None
            for chunk in chunks:
                choices = getattr(chunk, "choices", None) or []
                if choices and getattr(choices[0].delta, "content", None):
                    yield choices[0].delta.content
                for piece in (choices and getattr(choices[0].delta, "tool_calls", None)) or ():
                    yield _tool_delta(piece, arguments, self.name)
                finish_reason = (choices and getattr(choices[0], "finish_reason", None)) or finish_reason
            # A server that closes the connection mid-answer ends the SSE stream cleanly;
            # without a finish_reason the answer is incomplete and must not pass as whole.
            if not finish_reason:
                raise FrontierUnavailable(f"{self.name}: stream ended before the answer was complete",
                                          backend=self.name)
            if not all(is_json("".join(parts)) for parts in arguments.values()):
                raise MalformedResponse(f"{self.name}: tool call arguments are not JSON", backend=self.name)
        return finish_reason  # the generator's return value: "length" means truncated

    def embed(self, texts: Sequence[str], *, model: str | None = None, timeout: float | None = None) -> Embeddings:
        """One vector per text from the endpoint's embeddings API (``model``: the embedding model)."""
        client = self._get_client()
        with map_openai_errors(self.name):
            response = client.embeddings.create(model=model or self.model, input=list(texts),
                                                encoding_format="float", timeout=timeout or self._default_timeout)
        try:
            rows = sorted(response.data, key=lambda row: row.index)
            vectors = tuple(tuple(float(x) for x in row.embedding) for row in rows)
            if len(vectors) != len(texts):
                raise ValueError("one vector per input expected")
            usage = getattr(response, "usage", None)
            tokens = Usage(int(usage.prompt_tokens or 0), 0) if usage is not None else None
            return Embeddings(vectors, getattr(response, "model", None) or model or self.model, tokens)
        except (AttributeError, TypeError, ValueError) as exc:
            raise MalformedResponse(f"{self.name}: malformed embeddings ({type(exc).__name__})",
                                    backend=self.name) from exc


def _tool_delta(piece: Any, arguments: dict[int, list[str]], backend: str) -> ToolCallDelta:
    """One streamed tool call piece; its arguments are kept to check they end as JSON."""
    try:
        index = int(piece.index)
        function = getattr(piece, "function", None)
        name = getattr(function, "name", None)
        text = getattr(function, "arguments", None) or ""
        if not isinstance(text, str) or (name is not None and not isinstance(name, str)):
            raise TypeError("tool call pieces are text")
    except (AttributeError, TypeError, ValueError) as exc:
        raise MalformedResponse(f"{backend}: malformed tool call delta ({type(exc).__name__})",
                                backend=backend) from exc
    arguments.setdefault(index, []).append(text)
    return ToolCallDelta(index, text, getattr(piece, "id", None), name)


def _parse_completion(response: Any, backend: OpenAIBackend) -> Completion:
    try:
        choice = response.choices[0]
        text = choice.message.content
        calls = tuple(ToolCall(str(call.id), str(call.function.name), call.function.arguments)
                      for call in getattr(choice.message, "tool_calls", None) or ())
        if text is None and calls:
            text = ""  # a turn that only calls tools
        if text is None or not isinstance(text, str):
            raise TypeError("no text content")
        if not all(isinstance(call.arguments, str) and is_json(call.arguments) for call in calls):
            raise ValueError("tool call arguments are not JSON")
        usage = None
        if getattr(response, "usage", None) is not None:
            usage = Usage(int(response.usage.prompt_tokens or 0), int(response.usage.completion_tokens or 0))
        return Completion(text=text, model=getattr(response, "model", None) or backend.model,
                          finish_reason=choice.finish_reason, usage=usage, tool_calls=calls)
    except (AttributeError, IndexError, TypeError, ValueError) as exc:
        raise MalformedResponse(f"{backend.name}: malformed chat completion ({type(exc).__name__})",
                                backend=backend.name) from exc


class map_openai_errors:
    """Context manager: openai/httpx exceptions -> privroute.errors, with ``from exc``.

    Messages carry status codes and exception types only: an upstream error body
    may echo the request, so it is never copied into our messages.
    """

    def __init__(self, backend: str) -> None:
        self.backend = backend

    def __enter__(self) -> "map_openai_errors":
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or isinstance(exc, BackendError):
            return False
        import openai

        if isinstance(exc, openai.APITimeoutError):
            raise FrontierTimeout(f"{self.backend}: request timed out", backend=self.backend) from exc
        if isinstance(exc, openai.APIConnectionError):
            raise FrontierUnavailable(f"{self.backend}: connection failed ({type(exc.__cause__ or exc).__name__})",
                                      backend=self.backend) from exc
        if isinstance(exc, openai.APIStatusError):
            error = FrontierUnavailable(f"{self.backend}: HTTP {exc.status_code}", backend=self.backend,
                                        status_code=exc.status_code, retry_after=_retry_after(exc))
            raise error from exc
        if isinstance(exc, openai.APIResponseValidationError | openai.APIError | ValueError):
            # ValueError: a body that is not JSON, or JSON of the wrong shape.
            raise MalformedResponse(f"{self.backend}: malformed response", backend=self.backend) from exc
        if type(exc).__module__.split(".")[0] in _TRANSPORT_MODULES:
            # Older openai releases let httpx errors escape while a stream is read.
            kind = FrontierTimeout if "Timeout" in type(exc).__name__ else FrontierUnavailable
            raise kind(f"{self.backend}: stream failed ({type(exc).__name__})", backend=self.backend) from exc
        return False


def _retry_after(exc: Any) -> float | None:
    try:
        value = exc.response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (AttributeError, TypeError, ValueError):
        return None
