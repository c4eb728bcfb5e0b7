"""OpenAI's Responses API (``POST /v1/responses``), routed exactly like chat completions.

The request is turned into chat messages (``instructions`` first, then the input:
a string, or items: messages, the model's earlier ``function_call`` items and the
application's ``function_call_output`` items) and goes through the same
``Router.route`` / ``Router.stream``: one decision, one vault, one audit record,
the same errors. The answer comes back as a ``response`` object, or as the
Responses stream events (``response.created`` ... ``response.completed``). The
upstream is called with chat completions, which every OpenAI-compatible endpoint
speaks. Nothing is stored: ``previous_response_id`` and ``conversation`` are refused.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from ..backends.base import ToolCallDelta, ToolSpec
from .protocol import Api, ApiError, _invalid, error_body, smallest

__all__ = ["RESPONSES", "ResponsesRequest", "ResponsesStream", "parse_responses_request", "response_body"]

_REFUSED = ("previous_response_id", "conversation", "background", "prompt")
_TEXT_PARTS = ("input_text", "output_text", "text")
_ROLES = ("user", "system", "developer", "assistant")


class _FunctionTool(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["function"]
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class _NamedChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["function"]
    name: str = Field(min_length=1, max_length=128)


class ResponsesRequest(BaseModel):
    """The fields of a Responses API request the proxy acts on (others are accepted and not forwarded)."""

    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1, max_length=256)
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    tools: list[_FunctionTool] | None = Field(None, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | _NamedChoice | None = None
    parallel_tool_calls: bool | None = None
    stream: bool = False
    max_output_tokens: int | None = Field(None, ge=1)
    _messages: list[dict[str, Any]] = PrivateAttr(default_factory=list)

    def chat_messages(self) -> list[dict[str, Any]]:
        return self._messages

    def tool_spec(self) -> ToolSpec | None:
        if not self.tools:
            return None
        definitions = tuple({"type": "function", "function": tool.model_dump(exclude={"type"}, exclude_none=True)}
                            for tool in self.tools)
        choice: Any = self.tool_choice
        if isinstance(choice, _NamedChoice):
            choice = {"type": "function", "function": {"name": choice.name}}
        return ToolSpec(definitions, choice, self.parallel_tool_calls)

    def token_limit(self, ceiling: int | None) -> int | None:
        return smallest(self.max_output_tokens, ceiling)


def parse_responses_request(raw: bytes) -> ResponsesRequest:
    """Validate a body and build its chat messages; ApiError(400) names the field or item, never a value."""
    try:
        request = ResponsesRequest.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        raise _invalid(exc) from None
    extra = json.loads(raw)
    for name in _REFUSED:
        if extra.get(name) not in (None, False, "", [], {}):
            raise ApiError(400, f"'{name}' is not supported by the privroute proxy (it stores no responses)",
                           param=name, code="unsupported_parameter")
    if request.tool_choice is not None and not request.tools:
        raise ApiError(400, "tool_choice needs tools", param="tool_choice")
    messages: list[dict[str, Any]] = []
    if request.instructions:
        messages.append({"role": "system", "content": request.instructions})
    if isinstance(request.input, str):
        messages.append({"role": "user", "content": request.input})
    else:
        for index, item in enumerate(request.input):
            _add_item(messages, item, f"input.{index}")
    if not messages:
        raise ApiError(400, "input is empty", param="input")
    request._messages = messages
    return request


def _add_item(messages: list[dict[str, Any]], item: Any, where: str) -> None:
    if not isinstance(item, dict):
        raise ApiError(400, f"{where}: an input item must be an object", param=where)
    kind = item.get("type", "message" if "role" in item else None)
    if kind == "message":
        role = item.get("role")
        if role not in _ROLES:
            raise ApiError(400, f"{where}.role: must be one of {', '.join(_ROLES)}", param=f"{where}.role")
        messages.append({"role": role, "content": _text(item.get("content"), f"{where}.content")})
    elif kind == "function_call":
        call = {"id": _string(item, "call_id", where), "type": "function",
                "function": {"name": _string(item, "name", where), "arguments": _string(item, "arguments", where)}}
        previous = messages[-1] if messages else None
        if previous is not None and previous["role"] == "assistant":
            previous.setdefault("tool_calls", []).append(call)  # one assistant turn: its text and its calls
        else:
            messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
    elif kind == "function_call_output":
        messages.append({"role": "tool", "tool_call_id": _string(item, "call_id", where),
                         "content": _text(item.get("output"), f"{where}.output")})
    elif kind == "reasoning":
        return  # a reasoning model's own notes: chat completions have no place for them, nothing is sent
    else:
        raise ApiError(400, f"{where}.type: item type not supported by the privroute proxy (message, "
                       "function_call, function_call_output)", param=f"{where}.type", code="unsupported_item")


def _string(item: dict[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str):
        raise ApiError(400, f"{where}.{key}: must be a string", param=f"{where}.{key}")
    return value


def _text(content: Any, where: str) -> str:
    """A string, or text parts joined with newlines; images, files and the like are refused."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ApiError(400, f"{where}: must be a string or a list of text parts", param=where)
    texts = []
    for index, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in _TEXT_PARTS or not isinstance(part.get("text"), str):
            raise ApiError(400, f"{where}.{index}: only text parts are supported", param=f"{where}.{index}",
                           code="unsupported_content")
        texts.append(part["text"])
    return "\n".join(texts)


# --------------------------------------------------------------------- answers


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _message_item(text: str, status: str = "completed", item_id: str | None = None) -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": []}] if status == "completed" else []
    return {"type": "message", "id": item_id or _id("msg"), "status": status, "role": "assistant",
            "content": content}


def _call_item(call_id: str, name: str, arguments: str, status: str = "completed",
               item_id: str | None = None) -> dict[str, Any]:
    return {"type": "function_call", "id": item_id or _id("fc"), "call_id": call_id, "name": name,
            "arguments": arguments, "status": status}


def _response(response_id: str, created: int, model: str, request: ResponsesRequest, *, status: str,
              output: list[dict[str, Any]], usage: Any = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": response_id, "object": "response", "created_at": created, "status": status, "model": model,
        "output": output, "instructions": request.instructions, "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "tools": [tool.model_dump(exclude_none=True) for tool in request.tools or ()],
        "tool_choice": request.tool_choice if not isinstance(request.tool_choice, BaseModel)
        else request.tool_choice.model_dump(), "parallel_tool_calls": request.parallel_tool_calls is not False,
        "max_output_tokens": request.max_output_tokens, "metadata": {}, "text": {"format": {"type": "text"}},
        "truncation": "disabled", "store": False, "usage": None,
    }
    if body["tool_choice"] is None:
        body["tool_choice"] = "auto"
    if usage is not None:
        body["usage"] = {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens,
                         "total_tokens": usage.prompt_tokens + usage.completion_tokens,
                         "input_tokens_details": {"cached_tokens": 0},
                         "output_tokens_details": {"reasoning_tokens": 0}}
    body.update(extra or {})
    return body


def response_body(result: Any, request: ResponsesRequest, explained: dict[str, Any]) -> dict[str, Any]:
    """The ``response`` object for a routed (non-streamed) answer."""
    output: list[dict[str, Any]] = []
    if result.answer or not result.tool_calls:
        output.append(_message_item(result.answer))
    output.extend(_call_item(call.id, call.name, call.arguments) for call in result.tool_calls)
    status = "incomplete" if result.truncated and not result.tool_calls else "completed"
    return _response(_id("resp"), int(time.time()), result.model or request.model, request, status=status,
                     output=output, usage=result.usage, extra={"privroute": explained})


class ResponsesStream:
    """The Responses stream events of one answer: an output item per message and per tool call."""

    def __init__(self, model: str, request: ResponsesRequest) -> None:
        self.id, self.created, self.model, self.request = _id("resp"), int(time.time()), model, request
        self._seq = 0
        self._output: list[dict[str, Any]] = []
        self._open: dict[str, Any] | None = None
        self._call: int | None = None

    def _event(self, kind: str, **data: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self._seq, **data}
        self._seq += 1
        return f"event: {kind}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n".encode("utf-8")

    def _snapshot(self, status: str) -> dict[str, Any]:
        return _response(self.id, self.created, self.model, self.request, status=status, output=list(self._output))

    def start(self) -> bytes:
        return (self._event("response.created", response=self._snapshot("in_progress"))
                + self._event("response.in_progress", response=self._snapshot("in_progress")))

    def delta(self, piece: Any) -> bytes:
        out = b""
        index = len(self._output)
        if isinstance(piece, ToolCallDelta):
            if self._open is None or self._open["type"] != "function_call" or self._call != piece.index:
                out += self._close()
                self._open = _call_item(piece.id or _id("call"), piece.name or "", "", status="in_progress")
                self._call = piece.index
                out += self._event("response.output_item.added", output_index=index, item=dict(self._open))
            if piece.arguments:
                self._open["arguments"] += piece.arguments
                out += self._event("response.function_call_arguments.delta", item_id=self._open["id"],
                                   output_index=index, delta=piece.arguments)
            return out
        if not piece:
            return out
        if self._open is None or self._open["type"] != "message":
            out += self._close()
            self._open = _message_item("", status="in_progress")
            self._open["text"] = ""
            item = {k: v for k, v in self._open.items() if k != "text"}
            out += self._event("response.output_item.added", output_index=index, item=item)
            out += self._event("response.content_part.added", item_id=self._open["id"], output_index=index,
                               content_index=0, part={"type": "output_text", "text": "", "annotations": []})
        self._open["text"] += piece
        return out + self._event("response.output_text.delta", item_id=self._open["id"], output_index=index,
                                 content_index=0, delta=piece, logprobs=[])

    def _close(self) -> bytes:
        item, self._open = self._open, None
        if item is None:
            return b""
        index = len(self._output)
        if item["type"] == "message":
            text = item.pop("text")
            done = _message_item(text, item_id=item["id"])
            part = done["content"][0]
            out = (self._event("response.output_text.done", item_id=item["id"], output_index=index,
                               content_index=0, text=text, logprobs=[])
                   + self._event("response.content_part.done", item_id=item["id"], output_index=index,
                                 content_index=0, part=part))
        else:
            done = {**item, "status": "completed"}
            out = self._event("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                              name=item["name"], arguments=item["arguments"])
        self._output.append(done)
        return out + self._event("response.output_item.done", output_index=index, item=done)

    def finish(self, finish_reason: str | None) -> bytes:
        out = self._close()
        if finish_reason == "length":
            return out + self._event("response.incomplete", response=self._snapshot("incomplete"))
        return out + self._event("response.completed", response=self._snapshot("completed"))

    def error(self, error: ApiError) -> bytes:
        # The official clients raise on an event whose data has an "error" object.
        detail = error_body(error)["error"]
        return self._event("error", code=error.code, message=error.message, param=error.param, error=detail)


RESPONSES = Api("responses", parse_responses_request, response_body, ResponsesStream)
