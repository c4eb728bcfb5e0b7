"""Several ``privroute serve`` processes on one PostgreSQL database: one chain, one budget, fail closed.

Three real proxy processes (the third with ``--workers 2``), the real detector,
the recording OpenAI-compatible upstream, 64 concurrent clients; then the
database is stopped under them and started again.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from privroute.audit import verify
from privroute.server.config import hash_api_key
from privroute.stores import open_store
from privroute.testing import OpenAIServer, Reply
from tests.paths import REPO
from tests.pg_server import TempPostgres

KEY = "test-audit-key"
TEAM_KEY, OPS_KEY = "sk-team-replicas-1", "sk-ops-replicas-2"
OUTPUT_CAP = 16
DAILY_TOKENS = 500
CLIENTS, CALLS_EACH = 64, 3


def _answer(body: dict[str, Any]) -> Reply:
    """Usage as a real model reports it: the prompt's tokens and a full output cap."""
    chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
    return Reply(content="noted", prompt_tokens=math.ceil(chars / 4), completion_tokens=OUTPUT_CAP)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _policy(directory: Path, name: str, url: str, **extra: Any) -> str:
    data = {"name": name, "extends": "general", "audit": {"required": True},
            "frontier": {"model": "test-frontier", "base_url": url, "max_output_tokens": OUTPUT_CAP,
                         "max_attempts": 1},
            "local": {"max_output_tokens": 16}, **extra}
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return str(path)


@pytest.fixture
def replicas(pg_server: TempPostgres, pg_url: str,
             tmp_path: Path) -> Iterator[tuple[list[str], OpenAIServer, str, list[subprocess.Popen[bytes]]]]:
    with OpenAIServer(_answer) as upstream:
        config = {
            "database_url": pg_url, "warm": True,
            # Budgets and the chain are under test, not fairness: every client may be in flight on one replica.
            "limits": {"tenant_concurrency": CLIENTS - 10},
            "tenants": [
                {"name": "team", "api_keys": [hash_api_key(TEAM_KEY)],
                 "policy": _policy(tmp_path, "team", upstream.url,
                                   budget={"tenant": "team", "daily_tokens": DAILY_TOKENS})},
                {"name": "ops", "api_keys": [hash_api_key(OPS_KEY)],
                 "policy": _policy(tmp_path, "ops", upstream.url, budget={"tenant": "ops"})},
            ],
        }
        path = tmp_path / "serve.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in ("PRIVROUTE_AUDIT_DB", "PRIVROUTE_DATABASE_URL")}
        env.update(PYTHONPATH=str(REPO), PRIVROUTE_AUDIT_KEY=KEY)
        ports = [_free_port() for _ in range(3)]
        processes = [subprocess.Popen(
            [sys.executable, "-m", "privroute.cli", "serve", "--config", str(path), "--port", str(port),
             "--log-level", "warning", "--workers", "2" if n == 2 else "1"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for n, port in enumerate(ports)]
        try:
            bases = [f"http://127.0.0.1:{port}" for port in ports]
            for base, process in zip(bases, processes):
                _wait_healthy(base, process)
            yield bases, upstream, pg_url, processes
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()


def _wait_healthy(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise AssertionError(process.stderr.read().decode() if process.stderr else "proxy exited")
        time.sleep(0.3)
    raise AssertionError(f"{base} did not become healthy")


def _ask(client: httpx.Client, base: str, key: str, text: str) -> httpx.Response:
    return client.post(base + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                       json={"model": "privroute", "messages": [{"role": "user", "content": text}]}, timeout=120)


def test_replicas_share_one_chain_and_one_budget_and_fail_closed(
        replicas: tuple[list[str], OpenAIServer, str, list[subprocess.Popen[bytes]]],
        pg_server: TempPostgres) -> None:
    bases, upstream, url, processes = replicas
    statuses: list[tuple[int, str]] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        with httpx.Client() as http:
            for call in range(CALLS_EACH):
                text = f"Summarise release item {n}-{call} for the weekly notes."
                status = _ask(http, bases[(n + call) % len(bases)], TEAM_KEY, text).status_code
                with lock:
                    statuses.append((status, text))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    answered = [text for status, text in statuses if status == 200]
    refused = [text for status, text in statuses if status == 429]
    assert len(answered) + len(refused) == CLIENTS * CALLS_EACH, sorted({s for s, _ in statuses})
    assert answered and refused  # the budget ran out part-way
    # Every answered call reached the upstream once and has exactly one audit record.
    assert len(upstream.requests) == len(answered)
    store = open_store(url, key=KEY.encode())
    records = store.records(tenant="team", limit=10_000)
    answered_records = [r for r in records if r["outcome"] == "answered"]
    assert len(answered_records) == len(answered)
    assert len({r["prompt_hmac"] for r in answered_records}) == len(answered)
    assert {store.hmac(_prompt_json(text)) for text in answered} == {r["prompt_hmac"] for r in answered_records}
    assert sum(r["error"] == "BudgetExceeded" for r in records) == len(refused)
    # One chain across four processes, signed head included.
    report = verify(url, key=KEY.encode())
    assert report.ok and report.records == CLIENTS * CALLS_EACH, report.problem
    # The day's spend: over the limit by at most one call per replica process (in fact one call at most).
    spent, _ = store.spent("team", store.today())
    per_call = max(r["prompt_tokens"] + r["completion_tokens"] for r in answered_records)
    assert DAILY_TOKENS - per_call < spent <= DAILY_TOKENS + 4 * per_call
    assert spent <= DAILY_TOKENS + per_call
    assert store.budget_status()["team"]["held_tokens"] == 0

    # The database goes away: typed 503s, nothing sent to the upstream; back again: answers again.
    before = len(upstream.requests)
    pg_server.stop_server("immediate")
    try:
        with httpx.Client() as http:
            down = [_ask(http, base, OPS_KEY, "Draft the agenda for the planning call.") for base in bases]
        assert [r.status_code for r in down] == [503] * len(bases)
        assert all(r.json()["error"]["code"] == "audit_unavailable" for r in down)
        assert len(upstream.requests) == before
    finally:
        pg_server.restart()
    with httpx.Client() as http:
        back = [_until_answered(http, base) for base in bases]
    assert [r.status_code for r in back] == [200] * len(bases), [r.text for r in back]
    assert len(upstream.requests) == before + len(bases)  # the refused tries sent nothing
    assert verify(url, key=KEY.encode()).ok

    # A replica killed with SIGKILL while it appends: the chain still verifies, the others go on.
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client() as http:
            while not stop.is_set():
                try:
                    _ask(http, bases[0], OPS_KEY, "Draft the agenda for the planning call.")
                except httpx.TransportError:
                    return

    hammers = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in hammers:
        thread.start()
    time.sleep(1.5)
    processes[0].kill()
    processes[0].wait(30)
    stop.set()
    for thread in hammers:
        thread.join()
    assert verify(url, key=KEY.encode()).ok
    with httpx.Client() as http:
        assert _ask(http, bases[1], OPS_KEY, "Draft the agenda for the planning call.").status_code == 200
    final = verify(url, key=KEY.encode())
    assert final.ok and final.records > CLIENTS * CALLS_EACH + len(bases)
    store.close()


def _until_answered(http: httpx.Client, base: str) -> httpx.Response:
    """A replica answers again once the database is back (a pool that was backing off may refuse a try or two)."""
    for _ in range(6):
        response = _ask(http, base, OPS_KEY, "Draft the agenda for the planning call.")
        if response.status_code != 503:
            return response
        time.sleep(1.0)
    return response


def _prompt_json(text: str) -> str:
    """What the router HMACs for a chat request: the messages as canonical JSON."""
    import json

    return json.dumps([{"role": "user", "content": text}], sort_keys=True, ensure_ascii=False, default=str)
