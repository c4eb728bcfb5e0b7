"""Fairness between the proxy's tenants and its detection budget, on hostile input.

Real proxy (uvicorn on 127.0.0.1), real detector, recording upstream. Nothing here
asserts a timing: only that requests answer, fail closed, or are refused.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from privroute.server.app import BackgroundServer, create_app
from privroute.server.config import ServeConfig, hash_api_key, load_serve_config
from privroute.testing import OpenAIServer

from tests.hostile import SECRET, hostile

from .server_fixtures import BlockingLocal, write_policy

KEYS = {"noisy": "sk-noisy-tenant-1", "quiet": "sk-quiet-tenant-2", "tight": "sk-tight-tenant-3",
        "tight-local": "sk-tight-local-4", "small": "sk-small-tenant-5"}
ORDINARY = "Write a haiku about autumn leaves falling slowly in the quiet evening wind."


def post(url: str, key: str, text: str, timeout: float = 600) -> httpx.Response:
    body = {"model": "privroute", "messages": [{"role": "user", "content": text}], "max_tokens": 8}
    return httpx.post(f"{url}/chat/completions", json=body, timeout=timeout,
                      headers={"authorization": f"Bearer {KEYS[key]}"})


def serve_config(directory: Path, upstream: str, **limits: Any) -> ServeConfig:
    write_policy(directory, "plain", upstream)
    write_policy(directory, "tight", upstream, limits={"detect_budget_s": 0.001})
    write_policy(directory, "tight-local", upstream, limits={"detect_budget_s": 0.001, "on_detect_timeout": "local"},
                 loosen=[{"key": "limits.on_detect_timeout", "reason": "answer locally rather than refuse"}])
    tenants = [{"name": "noisy", "policy": "plain.yaml", "concurrency": 2},
               {"name": "quiet", "policy": "plain.yaml"},
               {"name": "tight", "policy": "tight.yaml"},
               {"name": "tight-local", "policy": "tight-local.yaml"},
               {"name": "small", "policy": "plain.yaml", "max_body_bytes": 2048}]
    for tenant in tenants:
        tenant["api_keys"] = [hash_api_key(KEYS[tenant["name"]])]
    path = directory / "serve.yaml"
    path.write_text(yaml.safe_dump({"tenants": tenants, "warm": False, "limits": limits}), encoding="utf-8")
    return load_serve_config(path)


@pytest.fixture
def served(upstream: OpenAIServer, local_backend: Any, tmp_path: Path) -> Any:
    upstream.reset()
    app = create_app(serve_config(tmp_path, upstream.url), local=local_backend)
    with BackgroundServer(app) as server:
        yield server.url + "/v1", upstream


class TestProxy:
    def test_over_budget_is_refused_and_nothing_goes_upstream(self, served: Any) -> None:
        url, upstream = served
        text = f"Please ask {SECRET} about the invoice. " + hostile(32 * 1024)
        response = post(url, "tight", text)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "detection_timeout"
        assert "536-22-8147" not in response.text
        assert upstream.requests == []

    def test_over_budget_local_goes_to_the_local_model_only(self, served: Any) -> None:
        url, upstream = served
        text = f"Please ask {SECRET} about the invoice. " + "The weather report says rain again. " * 40
        response = post(url, "tight-local", text)
        assert response.status_code == 200, response.text
        assert response.headers["x-privroute-action"] == "local"
        assert response.headers["x-privroute-reasons"] == "detection-timeout"
        assert upstream.requests == []

    def test_a_tenant_body_limit_applies_to_that_tenant_only(self, served: Any) -> None:
        url, _ = served
        text = "Tell me about tides. " * 150  # about 3 kB of body
        refused = post(url, "small", text)
        assert refused.status_code == 413 and refused.json()["error"]["code"] == "request_too_large"
        assert post(url, "quiet", text).status_code == 200

    def test_quiet_tenant_answers_while_noisy_sends_hostile_text(self, served: Any) -> None:
        """The noisy tenant keeps 3 hostile requests going (its limit is 2); the quiet one's answer."""
        url, upstream = served
        stop = threading.Event()
        statuses: list[int] = []

        def flood() -> None:
            while not stop.is_set():
                statuses.append(post(url, "noisy", hostile()).status_code)

        flooders = [threading.Thread(target=flood) for _ in range(3)]
        for thread in flooders:
            thread.start()
        try:
            answers = [post(url, "quiet", f"{ORDINARY} ({index})") for index in range(4)]
        finally:
            stop.set()
            for thread in flooders:
                thread.join(timeout=300)
        assert [r.status_code for r in answers] == [200] * 4
        assert all("You said" in r.json()["choices"][0]["message"]["content"] for r in answers)
        assert set(statuses) <= {200, 429}, statuses

    def test_requests_past_the_tenant_limit_get_429(self, upstream: OpenAIServer, tmp_path: Path) -> None:
        """Two local calls in flight fill the noisy tenant's 2 places; its third is refused at once,
        while another tenant is still served."""
        local = HoldingLocal()
        app = create_app(serve_config(tmp_path, upstream.url), local=local)
        with BackgroundServer(app) as server:
            url = server.url + "/v1"
            held: list[httpx.Response] = []
            threads = [threading.Thread(target=lambda: held.append(post(url, "noisy", "password: hunter2. Rotate it?")))
                       for _ in range(2)]
            for thread in threads:
                thread.start()
            assert local.entered.acquire(timeout=600)  # one runs; the other waits for the local slot
            deadline = time.monotonic() + 600
            while app.state.proxy.fairness.in_flight("noisy") < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            refused = post(url, "noisy", ORDINARY)
            assert refused.status_code == 429 and refused.json()["error"]["code"] == "tenant_busy"
            assert refused.headers["retry-after"]
            assert post(url, "quiet", ORDINARY).status_code == 200
            local.release.set()
            for thread in threads:
                thread.join(timeout=600)
            assert [r.status_code for r in held] == [200, 200]
            assert post(url, "noisy", ORDINARY).status_code == 200  # places given back

    @pytest.mark.parametrize("processes", [1, 0])
    def test_long_texts_are_detected_in_a_worker_process(self, processes: int, upstream: OpenAIServer,
                                                         local_backend: Any, tmp_path: Path) -> None:
        """A long message goes to the detection worker (started by it: ``warm`` is off here) and is
        redacted as in process; with no workers the proxy detects everything itself."""
        upstream.reset()
        app = create_app(serve_config(tmp_path, upstream.url, detect_processes=processes), local=local_backend)
        text = f"Please ask {SECRET} about the invoice. " + "The weather report says rain again. " * 80
        with BackgroundServer(app) as server:
            response = post(server.url + "/v1", "quiet", text)
            pool = app.state.proxy.fairness.pool
            assert (pool.idle_workers if pool else 0) == processes
        assert response.status_code == 200, response.text
        assert response.headers["x-privroute-action"] == "redact"
        sent = upstream.bodies_text()
        assert len(upstream.requests) == 1 and "536-22-8147" not in sent and "<US_SSN_1>" in sent

    def test_config_refuses_limits_that_let_one_tenant_take_every_thread(self, tmp_path: Path) -> None:
        from privroute.errors import ConfigurationError

        tenant = {"name": "t", "policy": "general", "api_keys": [hash_api_key("k-123")]}
        with pytest.raises(ConfigurationError, match="tenant_concurrency"):
            load_serve_config({"tenants": [tenant], "limits": {"worker_threads": 16, "tenant_concurrency": 8}})
        with pytest.raises(ConfigurationError, match="max_body_bytes"):
            load_serve_config({"tenants": [{**tenant, "max_body_bytes": 2_000_000}]})


class HoldingLocal(BlockingLocal):
    """BlockingLocal holding each call until released, however slow the machine is."""

    def complete(self, messages: Any, *, max_tokens: int | None = None, timeout: float | None = None) -> Any:
        from privroute.backends.base import Completion

        self.entered.release()
        self.release.wait(timeout=600)
        return Completion(text="local answer", model=self.model, finish_reason="stop")
