"""The Responses API and embeddings through the proxy, and per-tenant audit, with the official client."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest

from privroute.audit import open_reader
from privroute.testing import OpenAIServer, fake_vector

from .agent_fixtures import AGENT, AGENT_KEYS, agent_proxy, agent_recorded, agent_upstream

__all__ = ["agent_proxy", "agent_recorded", "agent_upstream"]  # fixtures used by name

EMAIL = "jane.roe@example.com"
PHONE = "555-867-5309"
TOOL = {"type": "function", "name": "send_email", "description": "Send an email.",
        "parameters": {"type": "object", "properties": {"to": {"type": "string"}, "body": {"type": "string"}}}}


def client(proxy: tuple[str, Path], tenant: str = "acme") -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy[0], api_key=AGENT_KEYS[tenant], max_retries=0, timeout=60)


class TestResponses:
    def test_text_answer_restored(self, agent_proxy: tuple[str, Path], agent_recorded: OpenAIServer) -> None:
        response = client(agent_proxy).responses.create(model="privroute", instructions="Be brief.",
                                                        input=f"Write to {EMAIL} please.")
        assert response.output_text == f"You said: Write to {EMAIL} please."
        assert response.status == "completed" and response.usage is not None
        sent = agent_recorded.requests[-1]["messages"]
        assert sent[0] == {"role": "system", "content": "Be brief."}
        assert EMAIL not in agent_recorded.bodies_text()

    def test_function_call_items_restored_and_outputs_redacted(self, agent_proxy: tuple[str, Path],
                                                               agent_recorded: OpenAIServer) -> None:
        """The upstream's tool call comes back as a function_call item with values; the turn after it too."""
        api = client(agent_proxy)
        first = api.responses.create(model="privroute", tools=[TOOL],
                                     input=[{"role": "user", "content": f"Email {EMAIL} about {PHONE}."}])
        call = next(item for item in first.output if item.type == "function_call")
        assert json.loads(call.arguments) == {"to": EMAIL, "body": f"Hello {EMAIL} and {PHONE}!"}
        second = api.responses.create(model="privroute", tools=[TOOL], input=[
            {"role": "user", "content": [{"type": "input_text", "text": f"Email {EMAIL} about {PHONE}."}]},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": f"sent to {EMAIL}"}])
        assert second.output_text == f"Done: sent to {EMAIL}"
        sent = agent_recorded.bodies_text()
        assert EMAIL not in sent and PHONE not in sent
        upstream = agent_recorded.requests[-1]
        assert upstream["tools"][0]["function"]["name"] == "send_email"
        assert [m["role"] for m in upstream["messages"]] == ["user", "assistant", "tool"]

    def test_stream_events_restore_text_and_arguments(self, agent_proxy: tuple[str, Path],
                                                      agent_recorded: OpenAIServer) -> None:
        api = client(agent_proxy)
        AGENT["split_at"] = (3, 11, 19, 27)
        with api.responses.stream(model="privroute", tools=[TOOL], input=f"Email {EMAIL} now.") as stream:
            events = list(stream)
            final = stream.get_final_response()
        call = next(item for item in final.output if item.type == "function_call")
        assert json.loads(call.arguments)["to"] == EMAIL
        deltas = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
        assert deltas == call.arguments
        kinds = [e.type for e in events]
        assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
        text = "".join(e.delta for e in api.responses.create(model="privroute", input=f"Hi {EMAIL}.", stream=True)
                       if e.type == "response.output_text.delta")
        assert text == f"You said: Hi {EMAIL}."
        assert EMAIL not in agent_recorded.bodies_text()

    @pytest.mark.parametrize(("item", "param"), [
        ({"type": "input_image", "image_url": "x"}, "input.0.type"),
        ({"type": "message", "role": "user", "content": [{"type": "input_file", "file_id": "f"}]},
         "input.0.content.0"),
        ({"type": "function_call_output", "call_id": "c", "output": {"email": EMAIL}}, "input.0.output"),
    ])
    def test_unknown_items_are_400(self, agent_proxy: tuple[str, Path], agent_recorded: OpenAIServer,
                                   item: dict[str, Any], param: str) -> None:
        with pytest.raises(openai.BadRequestError) as caught:
            client(agent_proxy).responses.create(model="privroute", input=[item])
        assert caught.value.body["param"] == param and EMAIL not in str(caught.value.body)
        assert agent_recorded.requests == []

    def test_blocked_and_refused_like_chat(self, agent_proxy: tuple[str, Path], agent_recorded: OpenAIServer) -> None:
        with pytest.raises(openai.BadRequestError):
            client(agent_proxy).responses.create(model="privroute", input="hi", previous_response_id="resp_1")
        with pytest.raises(openai.NotFoundError):
            client(agent_proxy).responses.create(model="gpt-9", input="hi")
        assert agent_recorded.requests == []


class TestEmbeddings:
    def test_personal_data_is_redacted_before_the_frontier_embeds(self, agent_proxy: tuple[str, Path],
                                                                  agent_recorded: OpenAIServer) -> None:
        texts = [f"Contact {EMAIL} for the report.", "Photosynthesis turns light into sugar."]
        result = client(agent_proxy).embeddings.create(model="privroute", input=texts)
        sent = agent_recorded.requests[-1]["input"]
        assert sent == ["Contact <EMAIL_ADDRESS_1> for the report.", texts[1]]
        for row, text in zip(result.data, sent, strict=True):  # base64 float32 (the client's default), decoded
            assert row.embedding == pytest.approx(fake_vector(text), abs=1e-6)
        assert result.model == "text-embedding-3-small"

    def test_regulated_input_never_reaches_the_frontier(self, agent_proxy: tuple[str, Path],
                                                        agent_recorded: OpenAIServer) -> None:
        with pytest.raises(openai.PermissionDeniedError) as caught:
            client(agent_proxy).embeddings.create(model="privroute", input=[
                "A harmless sentence.", "My password: Tr0ub4dor&3xyz for the server."])
        assert "embeddings-never-frontier" in caught.value.response.headers["x-privroute-reasons"]
        assert agent_recorded.requests == []

    def test_local_action_embeds_with_llama_cpp(self, agent_proxy: tuple[str, Path],
                                                agent_recorded: OpenAIServer) -> None:
        """Tenant clinic (embeddings.action: local): SmolLM2 embeds a patient note; nothing leaves."""
        result = client(agent_proxy, "clinic").embeddings.create(
            model="privroute", input=["Patient Jane Roe, MRN 4471123, has chest pain.", "hello"])
        assert result.model == "smollm2-135m-instruct" and len(result.data) == 2
        assert len(result.data[0].embedding) == 576 and result.data[0].embedding != result.data[1].embedding
        assert agent_recorded.requests == []

    def test_token_arrays_are_refused(self, agent_proxy: tuple[str, Path], agent_recorded: OpenAIServer) -> None:
        with pytest.raises(openai.BadRequestError) as caught:
            client(agent_proxy).embeddings.create(model="privroute", input=[[1, 2, 3]])
        assert caught.value.body["param"] == "input" and agent_recorded.requests == []


class TestTenants:
    def test_each_tenant_has_its_own_records_and_stats(self, agent_proxy: tuple[str, Path],
                                                       agent_recorded: OpenAIServer) -> None:
        for tenant in ("acme", "clinic"):
            client(agent_proxy, tenant).chat.completions.create(
                model="privroute", messages=[{"role": "user", "content": f"Say hello to {EMAIL}."}])
        store = open_reader(agent_proxy[1])
        try:
            tenants = {row["tenant"] for row in store.records(limit=1000)}
            assert {"acme", "clinic"} <= tenants and "default" not in tenants
            assert store.stats(tenant="clinic")["records"] >= 1
            assert set(store.stats(tenant="clinic")["by_tenant"]) == {"clinic"}
        finally:
            store.close()
        metrics = openai.OpenAI(base_url=agent_proxy[0], api_key="x")._client.get(
            agent_proxy[0].removesuffix("/v1") + "/metrics").text
        assert 'tenant="clinic"' in metrics and 'endpoint="embeddings"' in metrics
