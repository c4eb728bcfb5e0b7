"""The recipes of docs/proxy.md, run with the real libraries against the real proxy (offline, 127.0.0.1).

LangChain's ChatOpenAI, LiteLLM as a client and the openai Agents SDK are pointed at
the proxy by a base URL; the agent upstream calls a tool with the placeholders it
got, so each library must see the real values and the upstream none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from privroute.testing import OpenAIServer

from .agent_fixtures import AGENT_KEYS, SEND_EMAIL, agent_proxy, agent_recorded, agent_upstream

__all__ = ["agent_proxy", "agent_recorded", "agent_upstream"]  # fixtures used by name

EMAIL = "jane.roe@example.com"
PHONE = "555-867-5309"
PROMPT = f"Email {EMAIL} that I called {PHONE}."


def test_langchain_chat_openai_with_tools(agent_proxy: tuple[str, Path], agent_recorded: OpenAIServer) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(base_url=agent_proxy[0], api_key=AGENT_KEYS["acme"], model="privroute", max_retries=0)
    message = llm.bind_tools([SEND_EMAIL]).invoke(PROMPT)
    assert message.tool_calls[0]["name"] == "send_email"
    assert message.tool_calls[0]["args"] == {"to": EMAIL, "body": f"Hello {EMAIL} and {PHONE}!"}
    streamed: Any = None
    for chunk in llm.bind_tools([SEND_EMAIL]).stream(PROMPT):
        streamed = chunk if streamed is None else streamed + chunk
    assert streamed.tool_calls[0]["args"]["to"] == EMAIL
    assert llm.invoke(f"Say hi to {EMAIL}.").content == f"You said: Say hi to {EMAIL}."
    sent = agent_recorded.bodies_text()
    assert EMAIL not in sent and PHONE not in sent


def test_litellm_as_a_client(agent_proxy: tuple[str, Path], agent_recorded: OpenAIServer,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price list download at import
    import litellm

    response = litellm.completion(model="openai/privroute", api_base=agent_proxy[0], api_key=AGENT_KEYS["acme"],
                                  messages=[{"role": "user", "content": PROMPT}], tools=[SEND_EMAIL])
    call = response.choices[0].message.tool_calls[0]
    assert json.loads(call.function.arguments)["to"] == EMAIL
    text = litellm.completion(model="openai/privroute", api_base=agent_proxy[0], api_key=AGENT_KEYS["acme"],
                              messages=[{"role": "user", "content": f"Hi {EMAIL}"}], stream=True)
    assert "".join(chunk.choices[0].delta.content or "" for chunk in text) == f"You said: Hi {EMAIL}"
    vectors = litellm.embedding(model="openai/privroute", api_base=agent_proxy[0], api_key=AGENT_KEYS["acme"],
                                input=[f"Contact {EMAIL}."])
    assert len(vectors.data[0]["embedding"]) == 8
    sent = agent_recorded.bodies_text()
    assert EMAIL not in sent and PHONE not in sent


def test_openai_agents_sdk_runs_a_tool_with_the_real_values(agent_proxy: tuple[str, Path],
                                                            agent_recorded: OpenAIServer) -> None:
    from agents import Agent, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
    from openai import AsyncOpenAI

    set_tracing_disabled(True)  # traces would be exported to OpenAI
    received: list[dict[str, str]] = []

    @function_tool
    def send_email(to: str, body: str) -> str:
        """Send an email."""
        received.append({"to": to, "body": body})
        return f"sent to {to}"

    def mailer() -> Agent:  # an async client belongs to one event loop: one agent per run
        model = OpenAIResponsesModel(model="privroute", openai_client=AsyncOpenAI(
            base_url=agent_proxy[0], api_key=AGENT_KEYS["acme"], max_retries=0))
        return Agent(name="mailer", instructions="Use the tool.", tools=[send_email], model=model)

    result = Runner.run_sync(mailer(), PROMPT)
    assert received == [{"to": EMAIL, "body": f"Hello {EMAIL} and {PHONE}!"}]
    assert result.final_output == f"Done: sent to {EMAIL}"

    async def run_streamed() -> Any:
        streamed = Runner.run_streamed(mailer(), PROMPT)  # the Responses stream events, through the proxy
        async for _ in streamed.stream_events():
            pass
        return streamed

    import asyncio

    streamed = asyncio.run(run_streamed())
    assert streamed.final_output == f"Done: sent to {EMAIL}" and len(received) == 2
    sent = agent_recorded.bodies_text()
    assert EMAIL not in sent and PHONE not in sent
    assert any(m["role"] == "tool" for m in agent_recorded.requests[-1]["messages"])
