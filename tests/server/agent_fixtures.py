"""An agent's frontier for the proxy tests: an upstream that calls tools with the placeholders it received.

When a request offers tools, the upstream answers with a ``send_email`` call whose
JSON arguments hold the placeholders it saw in the conversation (so the client must
get the real values back); after a tool result it answers in text, echoing that
result. ``AGENT["split_at"]`` cuts the streamed arguments where a test wants.
Two tenants (``acme``, ``clinic``) share one SQLite audit file, so tests can read
whose record is whose.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from privroute.server.app import BackgroundServer, create_app
from privroute.server.config import hash_api_key, load_serve_config
from privroute.testing import OpenAIServer, Reply
from privroute.vault import ISSUED_TOKEN

from .server_fixtures import write_policy

AGENT_KEYS = {"acme": "sk-agent-acme-key-1", "clinic": "sk-agent-clinic-key-2"}
MALFORMED = "trigger-malformed-tool-call"
AGENT: dict[str, Any] = {"split_at": None}
SEND_EMAIL = {"type": "function", "function": {
    "name": "send_email", "description": "Send an email.",
    "parameters": {"type": "object", "properties": {"to": {"type": "string"}, "body": {"type": "string"}},
                   "required": ["to", "body"]}}}


def placeholders(body: dict[str, Any]) -> list[str]:
    """The issued placeholders in a request, in order of first appearance."""
    seen = ISSUED_TOKEN.findall(json.dumps(body.get("messages") or body.get("input") or ""))
    return list(dict.fromkeys(f"<{kind}_{number}>" for kind, number in seen))


def respond(body: dict[str, Any]) -> Reply | str:
    messages = body.get("messages") or [{}]
    last = messages[-1]
    text = str(last.get("content") or "")
    if not body.get("tools"):
        return f"You said: {text}"
    if last.get("role") == "tool":
        return f"Done: {text}"
    if MALFORMED in text:
        return Reply(tool_calls=({"name": "send_email", "arguments": '{"to": <EMAIL_ADDRESS_1>'},))
    tokens = placeholders(body) or ["nobody"]
    arguments = json.dumps({"to": tokens[0], "body": "Hello " + " and ".join(tokens) + "!"})
    return Reply(content="", tool_calls=({"id": "call_1", "name": "send_email", "arguments": arguments},),
                 split_at=AGENT["split_at"])


@pytest.fixture(scope="module")
def agent_upstream() -> Iterator[OpenAIServer]:
    with OpenAIServer(respond, stream_chunk_chars=5) as server:
        yield server


@pytest.fixture
def agent_recorded(agent_upstream: OpenAIServer) -> Iterator[OpenAIServer]:
    agent_upstream.reset()
    AGENT["split_at"] = None
    yield agent_upstream
    AGENT["split_at"] = None


@pytest.fixture(scope="module")
def agent_proxy(agent_upstream: OpenAIServer, local_backend: Any,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(base URL …/v1, audit database) of a proxy with tenants acme (general) and clinic (healthcare)."""
    directory = tmp_path_factory.mktemp("agent")
    audit = directory / "audit.db"
    write_policy(directory, "acme", agent_upstream.url, audit={"path": str(audit)})
    write_policy(directory, "clinic", agent_upstream.url, extends="healthcare", audit={"path": str(audit)},
                 embeddings={"action": "local"})
    config = {"tenants": [{"name": name, "policy": f"{name}.yaml", "api_keys": [hash_api_key(key)]}
                          for name, key in AGENT_KEYS.items()]}
    path = directory / "serve.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:  # the stores are opened now, in this file
        patch.setenv("PRIVROUTE_AUDIT_DB", str(audit))
        app = create_app(load_serve_config(path), local=local_backend)
    with BackgroundServer(app) as server:
        yield server.url + "/v1", audit
