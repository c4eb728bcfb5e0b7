"""Function tools on the OpenAI wire: tool definitions, tool_choice, the calls in a conversation.

The definitions and ``tool_choice`` pass through to the frontier as given (they are
the application's code, not the user's data). The calls an assistant made earlier
and the tool results come back in ``messages``; the router detects and redacts them
like any text (privroute.toolargs for the JSON arguments).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..backends.base import ToolSpec

__all__ = ["ToolCallIn", "ToolChoice", "ToolDefinition", "tool_spec"]

_NAME = r"^[A-Za-z0-9_.:-]+$"


class _FunctionDefinition(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1, max_length=128, pattern=_NAME)
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDefinition(BaseModel):
    """``{"type": "function", "function": {...}}``; other tool types are refused (400)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["function"]
    function: _FunctionDefinition


class _Named(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=128)


class _NamedChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["function"]
    function: _Named


ToolChoice = Literal["none", "auto", "required"] | _NamedChoice


class _FunctionCall(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=128)
    arguments: str


class ToolCallIn(BaseModel):
    """A call an assistant turn made earlier, as the client sends it back."""

    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=256)
    type: Literal["function"] = "function"
    function: _FunctionCall

    def as_route(self) -> dict[str, Any]:
        return {"id": self.id, "type": "function",
                "function": {"name": self.function.name, "arguments": self.function.arguments}}


def tool_spec(tools: list[ToolDefinition] | None, choice: Any, parallel: bool | None) -> ToolSpec | None:
    """The router's ToolSpec for a request's tools (None without any)."""
    if not tools:
        return None
    chosen = choice.model_dump() if isinstance(choice, BaseModel) else choice
    return ToolSpec(tuple(tool.model_dump(exclude_none=True) for tool in tools), chosen, parallel)
