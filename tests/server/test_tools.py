"""Tool calling through the proxy, with the official client: values restored in arguments, never upstream."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from privroute.testing import OpenAIServer

from .agent_fixtures import AGENT, AGENT_KEYS, MALFORMED, SEND_EMAIL, agent_proxy, agent_recorded, agent_upstream

__all__ = ["agent_proxy", "agent_recorded", "agent_upstream"]  # fixtures used by name

EMAIL = "jane.roe@example.com"
PHONE = "555-867-5309"
PROMPT = f"Email {EMAIL} that I called {PHONE} today."


def client(proxy: tuple[str, Path], tenant: str = "acme") -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy[0], api_key=AGENT_KEYS[tenant], max_retries=0, timeout=60)


def ask(text: str = PROMPT) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def streamed_call(api: openai.OpenAI, messages: list[dict[str, Any]]) -> tuple[str, str, str | None]:
    """(name, arguments, finish_reason) of the one tool call in a streamed answer."""
    name, arguments, finish = "", "", None
    for chunk in api.chat.completions.create(model="privroute", messages=messages, tools=[SEND_EMAIL],
                                             stream=True):
        if not chunk.choices:
            continue
        for call in chunk.choices[0].delta.tool_calls or ():
            assert call.index == 0
            name += call.function.name or "" if call.function else ""
            arguments += call.function.arguments or "" if call.function else ""
        finish = chunk.choices[0].finish_reason or finish
    return name, arguments, finish


class TestToolCalls:
    def test_arguments_come_back_with_the_values(self, agent_proxy: tuple[str, Path],
                                                 agent_recorded: OpenAIServer) -> None:
        """The upstream calls send_email with placeholders; the client's arguments hold the real values."""
        completion = client(agent_proxy).chat.completions.create(
            model="privroute", messages=ask(), tools=[SEND_EMAIL], tool_choice="auto")
        choice = completion.choices[0]
        assert choice.finish_reason == "tool_calls"
        call = choice.message.tool_calls[0]
        assert call.function.name == "send_email" and call.id == "call_1"
        arguments = json.loads(call.function.arguments)
        assert arguments["to"] == EMAIL and PHONE in arguments["body"]
        sent = agent_recorded.bodies_text()
        assert EMAIL not in sent and PHONE not in sent
        request = agent_recorded.requests[-1]
        assert request["tools"] == [SEND_EMAIL] and request["tool_choice"] == "auto"

    def test_streamed_arguments_split_at_every_offset(self, agent_proxy: tuple[str, Path],
                                                      agent_recorded: OpenAIServer) -> None:
        """However the upstream cuts the arguments, the client gets valid JSON with every value restored."""
        api = client(agent_proxy)
        AGENT["split_at"] = ()
        _, whole, _ = streamed_call(api, ask())
        upstream_arguments = json.dumps({"to": "<EMAIL_ADDRESS_1>",
                                         "body": "Hello <EMAIL_ADDRESS_1> and <PHONE_NUMBER_1>!"})
        assert json.loads(whole) == {"to": EMAIL, "body": f"Hello {EMAIL} and {PHONE}!"}
        for offset in range(1, len(upstream_arguments)):
            AGENT["split_at"] = (offset,)
            name, arguments, finish = streamed_call(api, ask())
            assert (name, arguments, finish) == ("send_email", whole, "tool_calls"), offset
        sent = agent_recorded.bodies_text()
        assert EMAIL not in sent and PHONE not in sent
        assert len(agent_recorded.requests) == len(upstream_arguments)

    def test_tool_results_and_earlier_calls_are_redacted_in_one_vault(self, agent_proxy: tuple[str, Path],
                                                                      agent_recorded: OpenAIServer) -> None:
        """A value in the user turn, the earlier call's arguments and the tool result gets one placeholder.

        The arguments are decoded before detection: a name the client's JSON encoder escaped
        ("Jos\\u00e9") is found, and a phone number sent as a JSON number becomes a placeholder string.
        """
        arguments = json.dumps({"to": EMAIL, "body": "Jos\u00e9 called", "phone": 5558675309})
        messages = [
            {"role": "user", "content": f"Write to {EMAIL}."},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_9", "type": "function", "function": {"name": "send_email", "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": "call_9", "content": f"Sent to {EMAIL}; reply from {PHONE}."},
        ]
        completion = client(agent_proxy).chat.completions.create(model="privroute", messages=messages,
                                                                 tools=[SEND_EMAIL])
        sent_messages = agent_recorded.requests[-1]["messages"]
        sent = agent_recorded.bodies_text()
        assert EMAIL not in sent and PHONE not in sent and "5558675309" not in sent
        earlier = json.loads(sent_messages[1]["tool_calls"][0]["function"]["arguments"])
        assert earlier["to"] == "<EMAIL_ADDRESS_1>" and earlier["body"] == "<PERSON_1> called"
        assert isinstance(earlier["phone"], str) and earlier["phone"].startswith("<")
        assert sent_messages[1]["tool_calls"][0]["id"] == "call_9" and sent_messages[2]["tool_call_id"] == "call_9"
        assert "<EMAIL_ADDRESS_1>" in sent_messages[0]["content"] and "<EMAIL_ADDRESS_1>" in sent_messages[2]["content"]
        assert completion.choices[0].message.content == f"Done: Sent to {EMAIL}; reply from {PHONE}."


class TestRefusals:
    def test_tool_result_that_is_not_a_string_is_400(self, agent_proxy: tuple[str, Path],
                                                     agent_recorded: OpenAIServer) -> None:
        body = {"model": "privroute", "tools": [SEND_EMAIL], "messages": [
            {"role": "user", "content": "hi"},
            {"role": "tool", "tool_call_id": "c", "content": {"email": EMAIL}}]}
        response = httpx.post(f"{agent_proxy[0]}/chat/completions", json=body,
                              headers={"authorization": f"Bearer {AGENT_KEYS['acme']}"}, timeout=60)
        assert response.status_code == 400 and response.json()["error"]["param"] == "messages.1.content"
        assert EMAIL not in response.text and agent_recorded.requests == []

    @pytest.mark.parametrize("tool", [{"type": "web_search"}, {"type": "function", "function": {"name": "a b"}}])
    def test_unknown_tool_types_are_400(self, agent_proxy: tuple[str, Path], agent_recorded: OpenAIServer,
                                        tool: dict[str, Any]) -> None:
        with pytest.raises(openai.BadRequestError) as caught:
            client(agent_proxy).chat.completions.create(model="privroute", messages=ask(), tools=[tool])
        assert str(caught.value.body["param"]).startswith("tools.0")
        assert agent_recorded.requests == []

    def test_malformed_tool_call_json_from_the_upstream_is_a_typed_error(
            self, agent_proxy: tuple[str, Path], agent_recorded: OpenAIServer) -> None:
        """Non-stream: 502; stream: an error event the client raises. No value is sent or echoed."""
        api = client(agent_proxy)
        messages = ask(f"{MALFORMED} for {EMAIL}")
        with pytest.raises(openai.APIStatusError) as caught:
            api.chat.completions.create(model="privroute", messages=messages, tools=[SEND_EMAIL])
        assert caught.value.status_code == 502 and EMAIL not in str(caught.value.body)
        with pytest.raises(openai.APIError) as streamed:
            for _ in api.chat.completions.create(model="privroute", messages=messages, tools=[SEND_EMAIL],
                                                 stream=True):
                pass
        assert EMAIL not in str(streamed.value.body)
        assert EMAIL not in agent_recorded.bodies_text()

    def test_local_decision_with_tools_is_refused(self, agent_proxy: tuple[str, Path],
                                                  agent_recorded: OpenAIServer) -> None:
        """SmolLM2 through llama.cpp cannot call tools: a credential with tools is a clear 400, nothing sent."""
        with pytest.raises(openai.BadRequestError) as caught:
            client(agent_proxy).chat.completions.create(
                model="privroute", messages=ask("My password: Tr0ub4dor&3xyz. Store it."), tools=[SEND_EMAIL])
        assert caught.value.body["code"] == "tools_unsupported"
        assert caught.value.response.headers.get("x-privroute-action") is None
        assert agent_recorded.requests == []
