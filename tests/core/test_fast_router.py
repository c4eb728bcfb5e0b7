"""The router and dispatch on fakes: every action, fail-closed paths, fallback, audit; no models.

This is the fast tier (``-m fast``): FakeDetector stands in for spaCy/Presidio and
FakeBackend for SmolLM2, while the frontier side is still a real HTTP server on
127.0.0.1 (``OpenAIServer``), so what crossed the wire is what a test reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from privroute import Blocked, DetectionError, Router
from privroute.audit import AuditStore, NullAudit, verify
from privroute.testing import FakeBackend, FakeDetector, OpenAIServer, Reply
from tests.conftest import policy_with_frontier

pytestmark = pytest.mark.fast

NAME, MRN = "Jane Roe", "4471123"
DETECTOR = FakeDetector({NAME: "PERSON"}, patterns={r"\bMRN \d{7}\b": "MEDICAL_RECORD_NUMBER"})


def _router(url: str, base: str = "general", *, local: Any = None, audit: Any = None, **frontier: Any) -> Router:
    return Router(policy_with_frontier(base, url, **frontier), detector=DETECTOR,
                  local=local or FakeBackend("local"), audit=audit)


class TestActions:
    def test_personal_data_is_redacted_on_the_wire_and_restored(self, frontier: OpenAIServer) -> None:
        """redact: the frontier sees a placeholder, the caller the real name."""
        result = _router(frontier.url).route(f"Write a birthday note to {NAME}.")
        assert result.decision.action == "redact"
        assert NAME not in frontier.bodies_text() and "<PERSON_1>" in frontier.bodies_text()
        assert NAME in result.answer and result.backend != "local"

    def test_regulated_prompt_stays_local(self, frontier: OpenAIServer) -> None:
        """local: a record number with health information never reaches the frontier."""
        local = FakeBackend("local")
        result = _router(frontier.url, "healthcare", local=local).route(
            f"Patient {NAME}, MRN {MRN}, has new chest pain. Next steps?")
        assert (result.decision.action, result.backend, result.sent) == ("local", "local", None)
        assert frontier.requests == [] and len(local.calls) == 1

    def test_harmless_prompt_goes_as_is(self, frontier: OpenAIServer) -> None:
        result = _router(frontier.url).route("What is a haiku?")
        assert result.decision.action == "frontier" and result.sent == "What is a haiku?"

    def test_forbidden_prompt_is_blocked_and_nothing_sent(self, frontier: OpenAIServer) -> None:
        with pytest.raises(Blocked):
            _router(frontier.url, "healthcare").route("Export all patient records with diagnoses.")
        assert frontier.requests == []


class TestFailClosed:
    def test_detector_failure_sends_nothing(self, frontier: OpenAIServer) -> None:
        router = Router(policy_with_frontier("general", frontier.url), detector=FakeDetector(error=RuntimeError("x")),
                        local=FakeBackend("local"), audit=NullAudit())
        with pytest.raises(DetectionError):
            router.route(f"Note to {NAME}")
        assert frontier.requests == []

    def test_local_decision_never_falls_back_to_the_frontier(self, frontier: OpenAIServer) -> None:
        broken = FakeBackend("local", error=RuntimeError("local down"))
        with pytest.raises(Exception):
            _router(frontier.url, "healthcare", local=broken, fallback="local").route(
                f"Patient {NAME}, MRN {MRN}, chest pain.")
        assert frontier.requests == []


class TestDispatch:
    def test_frontier_failure_falls_back_to_local_with_the_original_text(self) -> None:
        """fallback: local: the local model answers from the unredacted messages."""
        local = FakeBackend("local")
        with OpenAIServer(respond=lambda body: Reply(status=503)) as failing:
            result = _router(failing.url, local=local, fallback="local", max_attempts=2).route(f"Hi {NAME}")
            assert NAME not in failing.bodies_text() and len(failing.requests) == 2
        assert result.backend == "local" and result.fallback_reason
        assert NAME in local.calls[-1][-1].content

    def test_stream_restores_and_names_the_answering_model(self, frontier: OpenAIServer) -> None:
        streaming = _router(frontier.url).stream(f"Say hello to {NAME}.")
        assert NAME in "".join(streaming)
        assert streaming.model == "test-frontier"

    def test_every_outcome_is_audited(self, frontier: OpenAIServer, tmp_path: Path) -> None:
        store = AuditStore(tmp_path / "audit.db")
        router = _router(frontier.url, "healthcare", audit=store)
        router.route("What is a haiku?")
        with pytest.raises(Blocked):
            router.route("Export all patient records with diagnoses.")
        assert verify(tmp_path / "audit.db").ok
        assert NAME not in (tmp_path / "audit.db").read_bytes().decode("latin-1")
