"""Shared fixtures: the real local model, a recording OpenAI-compatible server, isolation."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from privroute.testing import OpenAIServer
from tests.paths import SHARED_DATA

# Fixture modules shared by several test files; registering them here means test
# modules import only the helpers and constants they use, not the fixtures.
pytest_plugins = ("tests.batch.batch_fixtures", "tests.faults_fixtures", "tests.server.server_fixtures",
                  "tests.pg_fixtures")



_MODEL_PACKAGES = ("spacy", "presidio_analyzer", "presidio_anonymizer", "llama_cpp", "thinc")


class _NoModels:
    """With PRIVROUTE_TEST_TIER=fast, importing a model library fails: the fast tier proves it needs none."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.split(".")[0] in _MODEL_PACKAGES:
            raise ImportError(f"{name} is not allowed in the fast test tier")
        return None


FAST_TIER = os.environ.get("PRIVROUTE_TEST_TIER") == "fast"
if FAST_TIER:
    sys.meta_path.insert(0, _NoModels())


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """In the guarded fast tier, modules not marked fast are not even imported (they may import spaCy)."""
    if FAST_TIER and collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        return "pytest.mark.fast" not in collection_path.read_text(encoding="utf-8")
    return None


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may reach a real frontier or write audit records outside tmp."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PRIVROUTE_AUDIT_DB", str(tmp_path / "audit.db"))
    monkeypatch.setenv("PRIVROUTE_AUDIT_KEY", "test-audit-key")


@pytest.fixture(scope="session")
def _frontier_session() -> Iterator[OpenAIServer]:
    with OpenAIServer() as server:
        yield server


@pytest.fixture
def frontier(_frontier_session: OpenAIServer) -> OpenAIServer:
    """A recording OpenAI-compatible server on 127.0.0.1 that echoes the last message."""
    _frontier_session.reset()
    return _frontier_session


@pytest.fixture(scope="session")
def local_backend() -> Any:
    """The real SmolLM2 through llama.cpp (loaded once per test session)."""
    from privroute.backends import local_from_config
    from privroute.policy import LocalConfig

    return local_from_config(LocalConfig(max_output_tokens=48))


def policy_with_frontier(base: str, url: str, **frontier: Any) -> dict[str, Any]:
    """A policy mapping that extends a shipped one and points its frontier at ``url``."""
    return {"name": f"{base}-test", "extends": base,
            "frontier": {"model": "test-frontier", "base_url": url, **frontier},
            "local": {"max_output_tokens": 48}}


def pytest_report_header(config: pytest.Config) -> str:
    return f"privroute tests; shared data: {SHARED_DATA} ({'found' if SHARED_DATA.is_dir() else 'missing'})"
