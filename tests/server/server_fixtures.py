"""Fixtures for the proxy tests: a recording upstream with fault words, policies, a running proxy.

The proxy runs with the real Presidio/spaCy detector and the real SmolLM2 (the
conftest ``local_backend``), on uvicorn in a background thread on 127.0.0.1.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from privroute.backends.base import Message
from privroute.server.app import BackgroundServer, create_app
from privroute.server.config import hash_api_key, load_serve_config
from privroute.testing import OpenAIServer, Reply

KEYS = {"acme": "sk-acme-test-key-1", "strict": "sk-strict-test-key-2", "impatient": "sk-impatient-key-3",
        "faulty": "sk-faulty-key-4"}

# Words in a prompt that make the upstream misbehave (they survive redaction).
FAIL_500 = "trigger-upstream-500"
SLOW = "trigger-upstream-slow"
CUT = "trigger-upstream-cut"


def _respond(body: dict[str, Any]) -> Reply | str:
    last = str((body.get("messages") or [{}])[-1].get("content", ""))
    if FAIL_500 in last:
        return Reply(status=500)
    if SLOW in last:
        return Reply(content="late", delay_s=3.0)
    if CUT in last:
        return Reply(content="x" * 200 + " You said: " + last, cut_stream_after=3)
    return f"You said: {last}"


def write_policy(directory: Path, name: str, url: str, **overrides: Any) -> Path:
    """A policy file extending ``general`` with its frontier on ``url``."""
    frontier = {"model": "test-frontier", "base_url": url, **overrides.pop("frontier", {})}
    data: dict[str, Any] = {"name": name, "extends": "general", "frontier": frontier,
                            "local": {"max_output_tokens": 48}}
    data.update(overrides)
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def upstream() -> Iterator[OpenAIServer]:
    """The frontier side: records every body; echoes the last message (chunks of 4 chars)."""
    with OpenAIServer(_respond, stream_chunk_chars=4) as server:
        yield server


@pytest.fixture
def recorded(upstream: OpenAIServer) -> OpenAIServer:
    upstream.reset()
    return upstream


@pytest.fixture(scope="session")
def proxy(upstream: OpenAIServer, local_backend: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running proxy with four tenants; yields its base URL (…/v1)."""
    directory = tmp_path_factory.mktemp("serve")
    write_policy(directory, "acme", upstream.url)
    write_policy(directory, "strict", upstream.url, routes={"confidential": "block"})
    # Fault tests get their own endpoints (model names), one attempt each, so that
    # their failures never open the circuit breaker the other tenants depend on.
    write_policy(directory, "impatient", upstream.url,
                 frontier={"model": "impatient-frontier", "deadline_s": 1, "max_attempts": 1})
    write_policy(directory, "faulty", upstream.url, frontier={"model": "faulty-frontier", "max_attempts": 1})
    config = {"tenants": [{"name": name, "policy": f"{name}.yaml", "api_keys": [hash_api_key(key)]}
                          for name, key in KEYS.items()],
              # 50 clients of one tenant at once (TestConcurrentClients): above the default
              # per-tenant limit with several tenants (half the free threads).
              "limits": {"max_body_bytes": 64 * 1024, "tenant_concurrency": 50}}
    config_path = directory / "serve.yaml"
    config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
    app = create_app(load_serve_config(config_path), local=local_backend)
    with BackgroundServer(app) as server:
        yield server.url + "/v1"


class BlockingLocal:
    """A local stand-in that holds each call until released (to fill the queue on purpose)."""

    name = "local"
    model = "blocking-local"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)

    def complete(self, messages: Sequence[Message], *, max_tokens: int | None = None,
                 timeout: float | None = None) -> Any:
        from privroute.backends.base import Completion

        self.entered.release()
        self.release.wait(timeout=30)
        return Completion(text="local answer", model=self.model, finish_reason="stop")

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None,
               timeout: float | None = None) -> Iterator[str]:
        yield self.complete(messages).text


class EndlessLocal:
    """A local stand-in whose stream never ends on its own (to test clients that leave)."""

    name = "local"
    model = "endless-local"

    def __init__(self) -> None:
        self.closed = threading.Event()

    def complete(self, messages: Sequence[Message], *, max_tokens: int | None = None,
                 timeout: float | None = None) -> Any:
        raise NotImplementedError("stream only")

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None,
               timeout: float | None = None) -> Iterator[str]:
        try:
            for _ in range(10_000):
                yield "tick "
                time.sleep(0.01)
        finally:
            self.closed.set()
