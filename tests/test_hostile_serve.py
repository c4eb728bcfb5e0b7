"""Hostile input at the frontends: the proxy's per-tenant limits and budget, batch per-document budget.

Real proxy (uvicorn on 127.0.0.1), real detector, recording upstream; real batch runs.
Nothing here asserts a timing: only that requests answer, fail closed, or are refused.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from privroute.batch_engine import Analysed, Job, PoolEngine
from privroute.serve_config import ServeConfig, hash_api_key, load_serve_config
from privroute.server import BackgroundServer, create_app
from privroute.testing import OpenAIServer

from .batch_fixtures import SENTENCE, run_batch, write
from .server_fixtures import BlockingLocal, write_policy

KEYS = {"noisy": "sk-noisy-tenant-1", "quiet": "sk-quiet-tenant-2", "tight": "sk-tight-tenant-3",
        "tight-local": "sk-tight-local-4", "small": "sk-small-tenant-5"}
SECRET = "Jane Roe, SSN 536-22-8147"
ORDINARY = "Write a haiku about autumn leaves falling slowly in the quiet evening wind."


def post(url: str, key: str, text: str, timeout: float = 600) -> httpx.Response:
    body = {"model": "privroute", "messages": [{"role": "user", "content": text}], "max_tokens": 8}
    return httpx.post(f"{url}/chat/completions", json=body, timeout=timeout,
                      headers={"authorization": f"Bearer {KEYS[key]}"})


def hostile(size: int = 64 * 1024) -> str:
    units = ("(", "1*", "a\t1\t", "\U0001F600\u200d")
    return "".join((unit * (size // len(units) // len(unit) + 1))[: size // len(units)] for unit in units)


def serve_config(directory: Path, upstream: str, **limits: Any) -> ServeConfig:
    write_policy(directory, "plain", upstream)
    write_policy(directory, "tight", upstream, limits={"detect_budget_s": 0.001})
    write_policy(directory, "tight-local", upstream, limits={"detect_budget_s": 0.001, "on_detect_timeout": "local"})
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
        text = f"Please ask {SECRET} about the invoice. " + "The weather report says rain again. " * 1000
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

    def test_config_refuses_limits_that_let_one_tenant_take_every_thread(self, tmp_path: Path) -> None:
        from privroute.errors import ConfigurationError

        tenant = {"name": "t", "policy": "general", "api_keys": [hash_api_key("k-123")]}
        with pytest.raises(ConfigurationError, match="tenant_concurrency"):
            load_serve_config({"tenants": [tenant], "limits": {"worker_threads": 16, "tenant_concurrency": 8}})
        with pytest.raises(ConfigurationError, match="max_body_bytes"):
            load_serve_config({"tenants": [{**tenant, "max_body_bytes": 2_000_000}]})


class TestBatch:
    @pytest.mark.parametrize("workers", [1, 2])
    def test_a_hostile_document_fails_alone_and_the_run_goes_on(self, workers: int, tmp_path: Path,
                                                                 warm_router: Any,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
        import privroute.batch_engine

        monkeypatch.setattr(privroute.batch_engine, "_context", lambda: multiprocessing.get_context("fork"))
        root = tmp_path / "in"
        for index in range(3):
            write(root / f"doc{index}.txt", f"Document {index}. {SENTENCE}\n")
        write(root / "hostile.txt", f"{SENTENCE}\n" + hostile(96 * 1024))
        report = run_batch([root], tmp_path / "out", workers=workers, detect_budget_s=1.0)
        assert report.done == 3
        assert [path for path, _ in report.failed] == [str(root / "hostile.txt")]
        assert "timed out" in report.failed[0][1]
        saved = json.loads((tmp_path / "out" / "report.json").read_text())
        assert saved["failed"][0]["reason"] == report.failed[0][1]
        for index in range(3):
            assert (tmp_path / "out" / f"doc{index}.txt").is_file()
        assert not (tmp_path / "out" / "hostile.txt").exists()

    def test_the_cli_takes_a_budget(self, tmp_path: Path, warm_router: Any) -> None:
        from click.testing import CliRunner

        from privroute.cli import main

        write(tmp_path / "in" / "a.txt", SENTENCE)
        result = CliRunner().invoke(main, ["redact", "--out", str(tmp_path / "out"), "--workers", "1",
                                           "--detect-budget", "30", str(tmp_path / "in")])
        assert result.exit_code == 0, result.output
        bad = CliRunner().invoke(main, ["redact", "--out", str(tmp_path / "o2"), "--detect-budget", "0",
                                        str(tmp_path / "in")])
        assert bad.exit_code == 2


class HoldingLocal(BlockingLocal):
    """BlockingLocal holding each call until released, however slow the machine is."""

    def complete(self, messages: Any, *, max_tokens: int | None = None, timeout: float | None = None) -> Any:
        from privroute.backends.base import Completion

        self.entered.release()
        self.release.wait(timeout=600)
        return Completion(text="local answer", model=self.model, finish_reason="stop")


def _answer_or_hang(jobs: list[Job]) -> list[Analysed]:
    """Pool task stand-in: never returns for a document that says so (a worker stuck in C code)."""
    if any(job.data == b"hang" for job in jobs):
        time.sleep(3600)
    return [Analysed(job.key, reason="answered") for job in jobs]


def _no_models(policy: Any) -> None:
    return None


class TestPoolWatchdog:
    def test_a_worker_that_never_returns_is_killed_and_the_others_are_resent(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Narrow: the task function is a stand-in; the pool, the processes and the kill are real."""
        import privroute.batch_engine as engine_module
        from privroute.policy import load_policy

        monkeypatch.setattr(engine_module, "_context", lambda: multiprocessing.get_context("fork"))
        monkeypatch.setattr(engine_module, "_pool_jobs", _answer_or_hang)
        monkeypatch.setattr(engine_module, "_init_worker", _no_models)
        monkeypatch.setattr(engine_module, "WATCHDOG_GRACE_S", 1.0)
        monkeypatch.setattr(engine_module, "WATCHDOG_POLL_S", 0.1)
        policy = load_policy({"name": "w", "limits": {"detect_budget_s": 0.5}})
        engine = PoolEngine(policy, workers=2, jobs_per_task=1)
        try:
            engine.submit(Job(0, b"hang", ".txt"))
            for key in range(1, 5):
                engine.submit(Job(key, b"fine", ".txt"))
            results: dict[int, str | None] = {}
            deadline = time.monotonic() + 120
            while len(results) < 5 and time.monotonic() < deadline:
                for result in engine.completed():
                    results[result.key] = result.reason
        finally:
            engine.close()
        assert results[0] is not None and "timed out" in results[0]
        assert {key: results[key] for key in range(1, 5)} == {key: "answered" for key in range(1, 5)}
