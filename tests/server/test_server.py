"""The proxy end to end: the official openai client -> privroute serve -> a recording upstream."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai

from privroute.testing import OpenAIServer

from .server_fixtures import KEYS

EMAIL = "jane.roe@example.com"
SSN = "219-09-9999"
PHONE = "555-867-5309"


def client(url: str, tenant: str = "acme") -> openai.OpenAI:
    return openai.OpenAI(base_url=url, api_key=KEYS[tenant], max_retries=0, timeout=60)


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


class TestRedactedNonStreaming:
    def test_upstream_sees_placeholders_and_client_gets_values_back(self, proxy: str, recorded: OpenAIServer) -> None:
        """No PII value reaches the upstream; the answer has every value restored."""
        raw = client(proxy).chat.completions.with_raw_response.create(
            model="privroute", messages=ask(f"My email is {EMAIL}, SSN {SSN}, phone {PHONE}. Summarise."))
        answer = raw.parse().choices[0].message.content or ""
        sent = recorded.bodies_text()
        for value in (EMAIL, SSN, PHONE):
            assert value not in sent
            assert value in answer
        assert "<EMAIL_ADDRESS_1>" in sent
        assert raw.headers["x-privroute-action"] == "redact"
        assert "personal-data" in raw.headers["x-privroute-reasons"].split(",")

    def test_response_has_the_openai_shape_and_the_decision(self, proxy: str, recorded: OpenAIServer) -> None:
        """id, object, choices, usage as OpenAI sends them, plus a privroute block without values."""
        completion = client(proxy).chat.completions.create(model="privroute", messages=ask(f"Write to {EMAIL}."))
        body = completion.model_dump()
        assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
        assert body["choices"][0]["finish_reason"] == "stop"
        assert completion.usage is not None and completion.usage.total_tokens > 0
        extra = body["privroute"]
        assert extra["action"] == "redact" and extra["backend"] == "frontier"
        assert EMAIL not in json.dumps(extra)

    def test_frontier_model_name_is_an_alias_for_the_policy(self, proxy: str, recorded: OpenAIServer) -> None:
        """model='test-frontier' (the tenant's frontier) routes exactly like model='privroute'."""
        raw = client(proxy).chat.completions.with_raw_response.create(
            model="test-frontier", messages=ask(f"Send it to {EMAIL}."))
        assert raw.headers["x-privroute-action"] == "redact"
        assert EMAIL not in recorded.bodies_text()

    def test_one_vault_for_the_whole_conversation(self, proxy: str, recorded: OpenAIServer) -> None:
        """A value in turn 1 and turn 3 gets the same placeholder; the system prompt is redacted too."""
        messages = [
            {"role": "system", "content": f"The user's address is {EMAIL}."},
            {"role": "user", "content": f"Email {EMAIL} about the invoice."},
            {"role": "assistant", "content": "Which invoice?"},
            {"role": "user", "content": f"The one for {EMAIL}, and copy 555-010-4477."},
        ]
        answer = client(proxy).chat.completions.create(model="privroute", messages=messages)
        sent = recorded.requests[-1]["messages"]
        assert [m["role"] for m in sent] == ["system", "user", "assistant", "user"]
        assert all(EMAIL not in m["content"] for m in sent)
        assert sum(m["content"].count("<EMAIL_ADDRESS_1>") for m in sent) == 3
        assert "<EMAIL_ADDRESS_2>" not in json.dumps(sent)
        assert EMAIL in (answer.choices[0].message.content or "")

    def test_text_content_parts_are_routed_like_strings(self, proxy: str, recorded: OpenAIServer) -> None:
        """content as [{type: text}] parts is joined, redacted and restored."""
        parts: Any = [{"type": "text", "text": "Contact"}, {"type": "text", "text": f"{EMAIL} today."}]
        answer = client(proxy).chat.completions.create(model="privroute",
                                                       messages=[{"role": "user", "content": parts}])
        assert EMAIL not in recorded.bodies_text()
        assert EMAIL in (answer.choices[0].message.content or "")

    def test_harmless_prompt_goes_to_the_frontier_as_is(self, proxy: str, recorded: OpenAIServer) -> None:
        """action frontier: the upstream gets the exact text."""
        text = "Explain how photosynthesis works in two sentences."
        raw = client(proxy).chat.completions.with_raw_response.create(model="privroute", messages=ask(text))
        assert raw.headers["x-privroute-action"] == "frontier"
        assert recorded.requests[-1]["messages"] == ask(text)
        assert raw.parse().choices[0].message.content == f"You said: {text}"


class TestStreaming:
    def test_stream_restores_placeholders_split_across_chunks(self, proxy: str, recorded: OpenAIServer) -> None:
        """The upstream streams 4-char chunks, so every placeholder arrives split; the client sees values."""
        prompt = f"Reply to {EMAIL} and {PHONE} please."
        with client(proxy).chat.completions.with_streaming_response.create(
                model="privroute", messages=ask(prompt), stream=True) as response:
            assert response.headers["x-privroute-action"] == "redact"
            assert response.headers["content-type"].startswith("text/event-stream")
            chunks = list(response.parse())
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == f"You said: {prompt}"
        assert chunks[-1].choices[0].finish_reason == "stop"
        assert all(c.object == "chat.completion.chunk" for c in chunks)
        sent = recorded.bodies_text()
        assert EMAIL not in sent and PHONE not in sent and recorded.requests[-1]["stream"] is True

    def test_stream_releases_text_before_the_end(self, proxy: str, recorded: OpenAIServer) -> None:
        """Text without placeholders is not held back: many deltas, not one."""
        text = "Explain how photosynthesis works in two sentences. briefly."
        stream = client(proxy).chat.completions.create(model="privroute", messages=ask(text), stream=True)
        deltas = [c.choices[0].delta.content for c in stream if c.choices and c.choices[0].delta.content]
        assert "".join(deltas) == f"You said: {text}"
        assert len(deltas) > 5


class TestLocalRoute:
    def test_secret_goes_to_smollm2_and_nothing_reaches_the_upstream(self, proxy: str,
                                                                     recorded: OpenAIServer) -> None:
        """A credential routes local: the real SmolLM2 answers; the upstream records no request."""
        raw = client(proxy).chat.completions.with_raw_response.create(
            model="privroute", messages=ask("My password: Tr0ub4dor&3xyz. Is it a strong password?"))
        completion = raw.parse()
        assert raw.headers["x-privroute-action"] == "local"
        assert "secret-or-credential" in raw.headers["x-privroute-reasons"]
        assert completion.model == "smollm2-135m-instruct"
        assert (completion.choices[0].message.content or "").strip()
        assert recorded.requests == []

    def test_local_stream(self, proxy: str, recorded: OpenAIServer) -> None:
        """Streaming works on the local model too."""
        stream = client(proxy).chat.completions.create(
            model="privroute", messages=ask("password: hunter2hunter2. Say hello."), stream=True, max_tokens=8)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        assert text.strip()
        assert recorded.requests == []


class TestConcurrentClients:
    def test_fifty_clients_each_get_only_their_own_values(self, proxy: str, recorded: OpenAIServer) -> None:
        """50 concurrent callers with distinct emails and SSNs: each answer holds its own values only."""

        def values(i: int) -> tuple[str, str]:
            return f"person{i:02d}.case@example{i:02d}.org", f"219-09-{1000 + i}"

        def call(i: int) -> str:
            email, ssn = values(i)
            api = client(proxy)
            if i % 2:
                stream = api.chat.completions.create(
                    model="privroute", messages=ask(f"My email is {email} and my SSN is {ssn}."), stream=True)
                return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            completion = api.chat.completions.create(
                model="privroute", messages=ask(f"My email is {email} and my SSN is {ssn}."))
            return completion.choices[0].message.content or ""

        with ThreadPoolExecutor(max_workers=50) as pool:
            answers = list(pool.map(call, range(50)))
        sent = recorded.bodies_text()
        assert len(recorded.requests) == 50
        for i, answer in enumerate(answers):
            email, ssn = values(i)
            assert answer == f"You said: My email is {email} and my SSN is {ssn}."
            assert email not in sent and ssn not in sent
            others = [v for j in range(50) if j != i for v in values(j)]
            assert not any(other in answer for other in others)


class TestDiscovery:
    def test_models_lists_the_proxy_and_frontier_names(self, proxy: str) -> None:
        """GET /v1/models: 'privroute' and the tenant's frontier model."""
        ids = [model.id for model in client(proxy).models.list()]
        assert ids == ["privroute", "test-frontier"]

    def test_healthz(self, proxy: str) -> None:
        """GET /healthz answers without a key."""
        import httpx

        response = httpx.get(proxy.removesuffix("/v1") + "/healthz")
        assert response.status_code == 200 and response.json()["status"] == "ok"

