"""Shared helpers for the resilience, budget, audit and logging tests.

``Script`` makes the real OpenAIServer answer a scripted sequence of faults;
``fault_policy`` builds a policy whose retries are fast but still real.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from privroute.audit import NullAudit
from privroute.testing import OpenAIServer, Reply

PII_PROMPT = "Write a short reminder to Jane Roe at jane.roe@example.com that the meeting moved to Friday."
PII_VALUES = ("Jane Roe", "jane.roe@example.com")
PHI_PROMPT = "Patient Jane Roe, MRN 4471123, has new chest pain and a history of diabetes. Next steps?"
PHI_VALUES = ("Jane Roe", "4471123")
PLAIN_PROMPT = "Give me three tips for writing clear release notes."


class Script:
    """Responder: the n-th request gets the n-th reply; the last one repeats."""

    def __init__(self, *replies: "Reply | str") -> None:
        self._replies = list(replies) or ["ok"]
        self._lock = threading.Lock()
        self.calls = 0

    def __call__(self, body: dict[str, Any]) -> "Reply | str":
        with self._lock:
            index = min(self.calls, len(self._replies) - 1)
            self.calls += 1
        reply = self._replies[index]
        # Echo the last message, so placeholders come back and get restored.
        if isinstance(reply, Reply) and reply.content == "<echo>":
            last = (body.get("messages") or [{}])[-1].get("content", "")
            return dataclasses.replace(reply, content=f"Noted: {last}")
        return reply


ECHO = Reply(content="<echo>")


def fault_policy(base: str, url: str, **frontier: Any) -> dict[str, Any]:
    """A policy extending ``base`` whose frontier is the test server, with fast backoff."""
    settings: dict[str, Any] = {
        "model": "gpt-4o-mini", "base_url": url, "max_attempts": 3, "deadline_s": 2.0,
        "backoff_base_s": 0.01, "backoff_max_s": 0.05, "retry_after_max_s": 0.5,
        "breaker_failures": 1000,
    }
    settings.update(frontier)
    return {"name": f"{base}-faults", "extends": base, "frontier": settings, "local": {"max_output_tokens": 24}}


@pytest.fixture(scope="session")
def _fault_server() -> Iterator[OpenAIServer]:
    holder: dict[str, Script] = {"script": Script(ECHO)}
    srv = OpenAIServer(lambda body: holder["script"](body))
    srv.holder = holder  # type: ignore[attr-defined]
    with srv:
        yield srv


@pytest.fixture(scope="session")
def _warm_detectors(_fault_server: OpenAIServer) -> None:
    """Load spaCy/Presidio once: the deadline covers the whole call, a cold load included."""
    from privroute import Router

    for base in ("general", "healthcare"):
        Router(fault_policy(base, _fault_server.url), audit=NullAudit()).classify(PLAIN_PROMPT)


@pytest.fixture
def server(_fault_server: OpenAIServer, _warm_detectors: None) -> OpenAIServer:
    """The recording server, emptied, echoing, with every circuit closed again."""
    from privroute.resilience import breakers

    breakers.clear()
    _fault_server.reset()
    use(_fault_server, ECHO)
    return _fault_server


@pytest.fixture(scope="session")
def small_local() -> Any:
    """The real SmolLM2 (same loaded model as conftest's), answering in at most 8 tokens."""
    from privroute.backends import local_from_config
    from privroute.policy import LocalConfig

    return local_from_config(LocalConfig(max_output_tokens=8))


def use(server: OpenAIServer, *replies: "Reply | str") -> Script:
    script = Script(*replies)
    server.holder["script"] = script  # type: ignore[attr-defined]
    return script


def audit_rows(path: str | Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(str(path))
    conn.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in conn.execute("SELECT * FROM records ORDER BY seq")]
    finally:
        conn.close()


class Stopwatch:
    def __enter__(self) -> "Stopwatch":
        self.started = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.monotonic() - self.started
