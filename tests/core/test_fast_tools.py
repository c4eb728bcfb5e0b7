"""Tool calls, JSON-safe restore, embeddings and tenants in the core, on fakes (fast tier).

The frontier is a real HTTP server on 127.0.0.1; FakeDetector finds the values given.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from privroute import Blocked, Router
from privroute.audit import AuditStore
from privroute.backends.base import ToolCallDelta, ToolSpec
from privroute.errors import UnsupportedRequest
from privroute.testing import FakeBackend, FakeDetector, OpenAIServer, Reply, fake_vector
from privroute.toolargs import args_view
from privroute.vault import StreamRestorer, Vault, json_escape
from tests.conftest import policy_with_frontier

pytestmark = pytest.mark.fast

NAME, ODD = "Jane Roe", 'Jo "Q" \\ Public'
DETECTOR = FakeDetector({NAME: "PERSON", ODD: "PERSON"}, patterns={r"\bMRN \d{7}\b": "MEDICAL_RECORD_NUMBER"})
TOOLS = ToolSpec(({"type": "function", "function": {"name": "greet", "parameters": {"type": "object"}}},))
STATE: dict[str, Any] = {"split_at": None}


def respond(body: dict[str, Any]) -> Reply | str:
    if not body.get("tools"):
        return "ok"
    text = json.dumps(body["messages"])
    tokens = [token for token in ("<PERSON_1>", "<PERSON_2>") if token in text]
    arguments = json.dumps({"who": tokens, "note": f"dear {' & '.join(tokens)}"})
    return Reply(tool_calls=({"name": "greet", "arguments": arguments},), split_at=STATE["split_at"])


@pytest.fixture(scope="module")
def upstream() -> Iterator[OpenAIServer]:
    with OpenAIServer(respond) as server:
        yield server


def router(url: str, base: str = "general", **extra: Any) -> Router:
    policy = {**policy_with_frontier(base, url), **extra.pop("policy", {})}
    return Router(policy, detector=DETECTOR, local=FakeBackend("local"), **extra)


class TestJsonRestore:
    def test_values_are_escaped_so_arguments_stay_json(self) -> None:
        vault = Vault()
        redacted = vault.redact(f"hi {ODD}", DETECTOR.detect(f"hi {ODD}")).text
        token = redacted.removeprefix("hi ")
        arguments = json.dumps({"name": token, "list": [token, 1]})
        restored = vault.restore_report(arguments, escape=json_escape).text
        assert json.loads(restored) == {"name": ODD, "list": [ODD, 1]}

    def test_stream_restore_split_at_every_offset(self) -> None:
        vault = Vault()
        token = vault.redact(ODD, DETECTOR.detect(ODD)).text
        arguments = json.dumps({"a": token, "b": f"x{token}y"})
        for cut in range(len(arguments) + 1):
            restorer = StreamRestorer(vault, escape=json_escape)
            out = restorer.feed(arguments[:cut]) + restorer.feed(arguments[cut:]) + restorer.flush()
            assert json.loads(out) == {"a": ODD, "b": f"x{ODD}y"}, cut

    def test_argument_view_detects_decoded_values_with_their_keys(self) -> None:
        view = args_view(json.dumps({"patient": "Jos\u00e9", "n": 42, "ok": True, "tags": ["a"]}))
        assert view.text == "patient: Jos\u00e9\nn: 42\ntags: a"
        assert args_view("not json").text == "not json"


class TestToolCalls:
    def test_route_restores_the_arguments(self, upstream: OpenAIServer) -> None:
        upstream.reset()
        result = router(upstream.url).route(f"Greet {NAME} and {ODD}.", tools=TOOLS)
        arguments = json.loads(result.tool_calls[0].arguments)
        assert arguments == {"who": [NAME, ODD], "note": f"dear {NAME} & {ODD}"}
        assert result.finish_reason == "tool_calls"
        assert NAME not in upstream.bodies_text() and upstream.requests[-1]["tools"] == [dict(TOOLS.definitions[0])]

    def test_stream_split_anywhere(self, upstream: OpenAIServer) -> None:
        whole = None
        for cut in range(0, 60, 7):
            STATE["split_at"] = (cut,)
            route = router(upstream.url).stream(f"Greet {NAME} and {ODD}.", tools=TOOLS)
            pieces = list(route)
            assert all(isinstance(piece, ToolCallDelta) for piece in pieces)
            arguments = "".join(piece.arguments for piece in pieces)
            whole = whole or arguments
            assert arguments == whole and json.loads(arguments)["who"] == [NAME, ODD]
            assert route.finish_reason == "tool_calls"
        STATE["split_at"] = None
        assert NAME not in upstream.bodies_text()

    def test_local_decision_with_tools_is_refused_and_audited(self, upstream: OpenAIServer, tmp_path: Path) -> None:
        upstream.reset()
        audit = AuditStore(tmp_path / "a.db")
        with pytest.raises(UnsupportedRequest) as caught:
            router(upstream.url, "healthcare", audit=audit, tenant="clinic").route(
                f"Patient {NAME}, MRN 4471123, has chest pain.", tools=TOOLS)
        assert caught.value.code == "tools_unsupported" and upstream.requests == []
        (record,) = audit.records()
        assert (record["tenant"], record["outcome"], record["error"]) == ("clinic", "error", "UnsupportedRequest")

    def test_earlier_calls_are_redacted_in_the_same_vault(self, upstream: OpenAIServer) -> None:
        upstream.reset()
        messages = [{"role": "user", "content": f"Greet {NAME}."},
                    {"role": "assistant", "content": None, "tool_calls": [
                        {"id": "c1", "type": "function",
                         "function": {"name": "greet", "arguments": json.dumps({"who": NAME})}}]},
                    {"role": "tool", "tool_call_id": "c1", "content": f"greeted {NAME}"}]
        router(upstream.url).route(messages, tools=TOOLS)
        sent = upstream.requests[-1]["messages"]
        assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {"who": "<PERSON_1>"}
        assert sent[2] == {"role": "tool", "content": "greeted <PERSON_1>", "tool_call_id": "c1"}


class TestEmbed:
    def test_redacted_inputs_reach_the_frontier(self, upstream: OpenAIServer, tmp_path: Path) -> None:
        upstream.reset()
        audit = AuditStore(tmp_path / "a.db")
        result = router(upstream.url, audit=audit, tenant="acme").embed([f"About {NAME}.", "Plain text."])
        assert upstream.requests[-1]["input"] == ["About <PERSON_1>.", "Plain text."]
        assert result.vectors[0] == pytest.approx(fake_vector("About <PERSON_1>."))
        (record,) = audit.records()
        assert (record["tenant"], record["action"], record["target"]) == ("acme", "redact", "frontier")

    def test_regulated_input_is_refused_not_sent(self, upstream: OpenAIServer) -> None:
        upstream.reset()
        with pytest.raises(Blocked) as caught:
            router(upstream.url, "healthcare").embed(["fine", f"Patient {NAME}, MRN 4471123, has chest pain."])
        assert "embeddings-never-frontier" in caught.value.reasons and upstream.requests == []

    def test_local_and_refuse_actions(self, upstream: OpenAIServer) -> None:
        upstream.reset()

        class Embedder:
            name, model = "local", "local-embedder"

            def embed(self, texts: Any, **options: Any) -> Any:
                from privroute.backends.base import Embeddings

                return Embeddings(tuple((float(len(t)),) for t in texts), self.model)

        result = router(upstream.url, policy={"embeddings": {"action": "local"}},
                        local_embedder=Embedder()).embed([f"About {NAME}."])
        assert (result.target, result.vectors, result.sent) == ("local", ((15.0,),), None)
        with pytest.raises(Blocked) as caught:
            router(upstream.url, policy={"embeddings": {"action": "refuse"}}).embed(["x"])
        assert caught.value.reasons == ("embeddings-refused",) and upstream.requests == []

    def test_the_embeddings_setting_joins_the_hash_only_when_set(self, upstream: OpenAIServer) -> None:
        plain = router(upstream.url).policy
        local = router(upstream.url, policy={"embeddings": {"action": "local"}}).policy
        assert plain.content_hash != local.content_hash
        default = router(upstream.url, policy={"embeddings": {"action": "redact"}}).policy
        assert default.content_hash == plain.content_hash  # existing policies keep their hash
