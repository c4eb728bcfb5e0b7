"""The OpenAI wire format for the proxy: request validation, response and error bodies.

Everything here is pure (no I/O), so it is unit-testable without a server.
Error messages name fields and rules, never values: a request body may hold PII.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import (
    AuditError,
    BackendError,
    Blocked,
    BudgetExceeded,
    ConfigurationError,
    DetectionError,
    DetectionTimeout,
    FrontierTimeout,
    FrontierUnavailable,
    InputError,
    LocalTimeout,
    PrivrouteError,
    QueueFull,
    UnsupportedRequest,
    http_status_for,
)
from ..backends.base import ToolCallDelta
from .tools import ToolCallIn, ToolChoice, ToolDefinition, tool_spec

__all__ = [
    "RequestOutcome",
    "decision_headers",
    "explain",
    "Api",
    "ApiError",
    "ChatRequest",
    "ChatStream",
    "completion_body",
    "chunk_event",
    "error_body",
    "error_event",
    "error_for",
    "new_completion_id",
    "parse_chat_request",
    "PROXY_MODEL",
]

PROXY_MODEL = "privroute"
"""The model id that means "route by my tenant's policy"."""

# Deprecated function calling (``functions``) is refused: ``tools`` is its replacement.
_UNSUPPORTED = ("functions", "function_call", "audio", "modalities", "prediction")


@dataclass(frozen=True)
class ApiError(Exception):
    """An error the proxy answers with: HTTP status plus the OpenAI error object."""

    status: int
    message: str
    type: str = "invalid_request_error"
    code: str | None = None
    param: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status} {self.type}: {self.message}"


@dataclass(frozen=True)
class Api:
    """One routed wire format: how a body is read, answered and streamed (chat completions, responses).

    ``parse(raw)`` returns a request with ``model``, ``stream``, ``chat_messages()``,
    ``tool_spec()`` and ``token_limit(ceiling)``; ``body(result, request, explained)``
    the answer's JSON; ``stream(model, request)`` an encoder with ``start``, ``delta``,
    ``finish`` and ``error`` (each bytes).
    """

    name: str
    parse: Any
    body: Any
    stream: Any


# --------------------------------------------------------------------- request


class _TextPart(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["text"]
    text: str


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[_TextPart] | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = Field(None, min_length=1, max_length=256)
    name: str | None = Field(None, max_length=256)

    @model_validator(mode="after")
    def _shape(self) -> "_Message":
        if self.content is None and not (self.role == "assistant" and self.tool_calls):
            raise ValueError("content is required (null only for an assistant turn with tool_calls)")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")
        if self.role == "tool" and self.tool_call_id is None:
            raise ValueError("a tool result needs tool_call_id")
        return self

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(part.text for part in self.content)

    def as_route(self) -> dict[str, Any]:
        """The message as ``Router.route`` takes it."""
        out: dict[str, Any] = {"role": self.role, "content": self.text()}
        if self.tool_calls:
            out["tool_calls"] = [call.as_route() for call in self.tool_calls]
        if self.tool_call_id is not None and self.role == "tool":
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            out["name"] = self.name
        return out


class ChatRequest(BaseModel):
    """The fields of an OpenAI chat completion request that the proxy acts on.

    Sampling parameters (temperature, top_p, stop, seed, ...) are accepted and not
    forwarded: the policy's backend settings decide them. Parameters that would
    change the meaning of the answer (tools, n > 1) are refused rather than ignored.
    """

    model_config = ConfigDict(extra="ignore")

    model: str = Field(min_length=1, max_length=256)
    messages: list[_Message] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    n: int | None = Field(None, ge=1)
    stream_options: dict[str, Any] | None = None
    tools: list[ToolDefinition] | None = Field(None, max_length=128)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None

    def chat_messages(self) -> list[dict[str, Any]]:
        return [m.as_route() for m in self.messages]

    def tool_spec(self) -> Any:
        """The ``ToolSpec`` for the router, or None without tools."""
        return tool_spec(self.tools, self.tool_choice, self.parallel_tool_calls)

    def token_limit(self, ceiling: int | None) -> int | None:
        return smallest(self.max_tokens, self.max_completion_tokens, ceiling)


def smallest(*limits: int | None) -> int | None:
    """The lowest of the token limits given (None: no limit)."""
    given = [limit for limit in limits if limit is not None]
    return min(given) if given else None


def parse_chat_request(raw: bytes) -> ChatRequest:
    """Validate a request body; raises ApiError(400) naming the field, never the value."""
    try:
        request = ChatRequest.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise _invalid(exc) from None
    try:
        extra = json.loads(raw) if _might_have_unsupported(raw) else {}
    except ValueError:  # pydantic accepted it, so this cannot happen; stay closed anyway
        raise ApiError(400, "could not parse the JSON body") from None
    for name in _UNSUPPORTED:
        if extra.get(name) not in (None, [], {}):
            raise ApiError(400, f"'{name}' is not supported by the privroute proxy", param=name,
                           code="unsupported_parameter")
    if request.n not in (None, 1):
        raise ApiError(400, "only n=1 is supported", param="n", code="unsupported_parameter")
    if request.tool_choice is not None and not request.tools:
        raise ApiError(400, "tool_choice needs tools", param="tool_choice")
    return request


def _might_have_unsupported(raw: bytes) -> bool:
    return any(f'"{name}"'.encode() in raw for name in _UNSUPPORTED)


def _invalid(exc: ValidationError) -> ApiError:
    errors = exc.errors(include_input=False, include_url=False)
    first = errors[0] if errors else {"type": "", "loc": (), "msg": "invalid request"}
    if first["type"] == "json_invalid":
        return ApiError(400, "could not parse the JSON body", code="invalid_json")
    parts, message = _field_path(first["loc"]), first["msg"]
    if len(parts) < len(first["loc"]):  # a union (content: str | parts) reports per member
        message = "has the wrong type (expected a string or a list of text parts)"
        errors = [e for e in errors if _field_path(e["loc"]) != parts] + [first]
    loc = ".".join(parts)
    if first["type"] == "model_type" and not loc:
        return ApiError(400, "the request body must be a JSON object")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return ApiError(400, f"{loc or 'body'}: {message}{more}", param=loc or None)


def _field_path(loc: Any) -> list[str]:
    """The field path of an error location, without pydantic's union member tags."""
    parts = []
    for part in loc:
        if isinstance(part, str) and ("[" in part or part in ("str", "int", "float", "bool")):
            break
        parts.append(str(part))
    return parts


# --------------------------------------------------------------------- responses


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def completion_body(*, completion_id: str, model: str, content: str, finish_reason: str,
                    usage: Any | None, privroute: Mapping[str, Any], tool_calls: Any = ()) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = [call.as_dict() for call in tool_calls]
        message["content"] = content or None
    body: dict[str, Any] = {
        "id": completion_id, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "privroute": dict(privroute),
    }
    if usage is not None:
        body["usage"] = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                         "total_tokens": usage.prompt_tokens + usage.completion_tokens}
    return body


def chunk_event(*, completion_id: str, created: int, model: str, delta: Mapping[str, Any],
                finish_reason: str | None = None) -> bytes:
    data = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": dict(delta), "finish_reason": finish_reason}]}
    return b"data: " + json.dumps(data, ensure_ascii=False).encode("utf-8") + b"\n\n"


class ChatStream:
    """The ``chat.completion.chunk`` events of one streamed answer: text and tool call pieces."""

    def __init__(self, model: str) -> None:
        self.id, self.created, self.model = new_completion_id(), int(time.time()), model

    def _chunk(self, delta: Mapping[str, Any], finish_reason: str | None = None) -> bytes:
        return chunk_event(completion_id=self.id, created=self.created, model=self.model, delta=delta,
                           finish_reason=finish_reason)

    def start(self) -> bytes:
        return self._chunk({"role": "assistant", "content": ""})

    def delta(self, piece: Any) -> bytes:
        if isinstance(piece, ToolCallDelta):
            call: dict[str, Any] = {"index": piece.index}
            function: dict[str, Any] = {}
            if piece.id is not None:
                call.update(id=piece.id, type="function")
            if piece.name is not None:
                function["name"] = piece.name
            function["arguments"] = piece.arguments
            call["function"] = function
            return self._chunk({"tool_calls": [call]})
        return self._chunk({"content": piece}) if piece else b""

    def finish(self, finish_reason: str | None) -> bytes:
        return self._chunk({}, finish_reason or "stop") + b"data: [DONE]\n\n"

    def error(self, error: ApiError) -> bytes:
        return error_event(error)


def error_body(error: ApiError) -> dict[str, Any]:
    return {"error": {"message": error.message, "type": error.type, "param": error.param, "code": error.code}}


def error_event(error: ApiError) -> bytes:
    return b"data: " + json.dumps(error_body(error)).encode("utf-8") + b"\n\n"


# --------------------------------------------------------------------- outcomes


class RequestOutcome:
    """What the access log and the metrics record for one request (no content)."""

    __slots__ = ("tenant", "action", "status", "stream", "reasons", "relaying", "endpoint", "release")

    def __init__(self, endpoint: str = "chat") -> None:
        self.tenant, self.action, self.status, self.stream, self.reasons = "-", "none", 500, False, ()
        self.relaying = False
        self.endpoint = endpoint
        self.release: Any = None  # gives the tenant's in-flight place back, once


def decision_headers(decision: Any) -> dict[str, str]:
    return {"x-privroute-action": decision.action, "x-privroute-reasons": ",".join(decision.reasons),
            "x-privroute-sensitivity": decision.sensitivity}


def explain(decision: Any, backend: str) -> dict[str, Any]:
    explained = {"action": decision.action, "sensitivity": decision.sensitivity, "reasons": list(decision.reasons),
                 "backend": backend}
    if decision.loosened:  # a declared loosening of the policy decided this (policy `loosen:`)
        explained["loosened"] = [{"key": key, "reason": reason} for key, reason in decision.loosened]
    return explained


# --------------------------------------------------------------------- errors


def error_for(exc: BaseException) -> ApiError:
    """The HTTP answer for an exception raised while routing.

    The status comes from ``privroute.errors.HTTP_STATUS`` (the one map); this adds
    the OpenAI error ``type`` and ``code``. privroute messages are PII-free by
    contract (privroute.errors), so they are passed on; anything else gets a
    generic message naming only its type.
    """
    if isinstance(exc, ApiError):
        return exc
    if not isinstance(exc, PrivrouteError):
        return ApiError(500, f"internal error ({type(exc).__name__})", type="server_error",
                        code="internal_error")
    status = http_status_for(exc)
    message = str(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, Blocked):
        kind, code = "permission_error", "blocked_by_policy"
    elif isinstance(exc, QueueFull):
        kind, code = "rate_limit_error", "local_queue_full"
        headers["retry-after"] = str(exc.retry_after_s)
    elif isinstance(exc, BudgetExceeded):
        kind, code = "insufficient_quota", "budget_exceeded"
    elif isinstance(exc, UnsupportedRequest):
        kind, code = "invalid_request_error", exc.code
    elif isinstance(exc, InputError):
        kind, code = "invalid_request_error", "invalid_input"
    elif isinstance(exc, LocalTimeout):
        kind, code = "upstream_timeout", "local_timeout"
    elif isinstance(exc, FrontierTimeout):
        kind, code = "upstream_timeout", "frontier_timeout"
    elif isinstance(exc, FrontierUnavailable) and status == 429:
        kind, code = "rate_limit_error", "frontier_rate_limited"
        if exc.retry_after:
            headers["retry-after"] = str(max(1, round(exc.retry_after)))
    elif isinstance(exc, FrontierUnavailable):
        kind, code = "upstream_error", "frontier_unavailable"
    elif isinstance(exc, BackendError):
        kind, code = "upstream_error", "backend_error"
    elif isinstance(exc, DetectionTimeout):
        kind, code = "invalid_request_error", "detection_timeout"
    elif isinstance(exc, DetectionError):
        kind, code = "server_error", "detection_failed"
    elif isinstance(exc, AuditError):
        kind, code = "server_error", "audit_unavailable"
    elif isinstance(exc, ConfigurationError):
        kind, code = "server_error", "not_configured"
    else:
        kind, code = "server_error", "privroute_error"
        message = f"{type(exc).__name__}: {exc}"
    return ApiError(status, message, type=kind, code=code, headers=headers)
