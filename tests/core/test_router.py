"""route() end to end: real spaCy detector, real SmolLM2, real HTTP frontier on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import privroute
from privroute import (
    Blocked,
    ConfigurationError,
    DetectionError,
    FrontierUnavailable,
    InputError,
    PolicyError,
    Router,
)
from privroute.testing import OpenAIServer
from tests.conftest import policy_with_frontier

PHI_PROMPT = "Patient Jane Roe, MRN 4471123, has new chest pain and a history of diabetes. Next steps?"
PII_PROMPT = "Write a short reminder to Jane Roe at jane.roe@example.com that the meeting moved to Friday."
PLAIN_PROMPT = "Give me three tips for writing clear release notes."


@pytest.fixture
def healthcare(frontier: OpenAIServer, local_backend: Any) -> Router:
    return Router(policy_with_frontier("healthcare", frontier.url), local=local_backend)


@pytest.fixture
def general(frontier: OpenAIServer, local_backend: Any) -> Router:
    return Router(policy_with_frontier("general", frontier.url), local=local_backend)


class TestActions:
    def test_regulated_prompt_stays_local(self, healthcare: Router, frontier: OpenAIServer) -> None:
        """Identifier + health information is answered by llama.cpp; no request is made."""
        result = healthcare.route(PHI_PROMPT)
        assert result.decision.action == "local" and result.decision.sensitivity == "regulated"
        assert "hipaa-identifier-with-health-info" in result.decision.reasons
        assert result.sent is None and result.backend == "local"
        assert result.answer.strip()
        assert frontier.requests == []

    def test_personal_data_is_redacted_and_restored(self, general: Router, frontier: OpenAIServer) -> None:
        """The frontier sees placeholders only; the answer comes back with real values."""
        result = general.route(PII_PROMPT)
        assert result.decision.action == "redact"
        body = frontier.bodies_text()
        assert len(frontier.requests) == 1
        for value in ("Jane Roe", "jane.roe@example.com"):
            assert value not in body
            assert value not in (result.sent or "")
            assert value in result.answer  # the echo server repeats the placeholders back
        assert frontier.requests[0]["messages"][-1]["content"] == result.sent

    def test_harmless_prompt_goes_as_is(self, general: Router, frontier: OpenAIServer) -> None:
        """Nothing sensitive: the exact prompt is sent, and sent says so."""
        result = general.route(PLAIN_PROMPT)
        assert result.decision.action == "frontier"
        assert result.sent == PLAIN_PROMPT
        assert frontier.requests[0]["messages"] == [{"role": "user", "content": PLAIN_PROMPT}]
        assert result.answer == f"You said: {PLAIN_PROMPT}"

    def test_forbidden_prompt_raises_blocked(self, healthcare: Router, frontier: OpenAIServer) -> None:
        """A block rule raises Blocked with its reasons and sends nothing."""
        with pytest.raises(Blocked) as info:
            healthcare.route("Export all patient records with their diagnoses to a spreadsheet.")
        assert "bulk-phi-export" in info.value.reasons
        assert frontier.requests == []

    def test_classify_and_redact_call_no_model(self, general: Router, frontier: OpenAIServer) -> None:
        """classify() and redact() are local computations."""
        assert general.classify(PII_PROMPT).action == "redact"
        redaction = general.redact(PII_PROMPT)
        assert "jane.roe@example.com" not in redaction.text
        assert redaction.restore(redaction.text) == PII_PROMPT
        assert frontier.requests == []

    def test_results_hide_pii_in_repr(self, general: Router) -> None:
        """repr(RouteResult) shows the decision, never prompt or answer text."""
        result = general.route(PII_PROMPT)
        assert "Jane" not in repr(result) and "jane.roe" not in repr(result)
        assert "Jane" not in repr(result.decision)


class TestConversations:
    def test_one_vault_for_all_messages(self, general: Router, frontier: OpenAIServer) -> None:
        """A name in turn 1 and turn 3 gets the same placeholder; sent is the JSON sent."""
        messages = [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "My colleague Jane Roe asked about the offsite."},
            {"role": "assistant", "content": "What would you like to tell her?"},
            {"role": "user", "content": "Email Jane Roe at jane.roe@example.com that it is on Friday."},
        ]
        result = general.route(messages)
        assert result.decision.action == "redact"
        sent = frontier.requests[0]["messages"]
        assert json.loads(result.sent or "") == sent
        assert "Jane Roe" not in json.dumps(sent)
        first = sent[1]["content"].split("colleague ")[1].split(" asked")[0]
        assert first.startswith("<") and first in sent[3]["content"]
        assert "Jane Roe" in result.answer

    def test_route_function_reuses_one_router_per_policy(self) -> None:
        """privroute.route caches a Router per policy, so models load once."""
        assert privroute.get_router("legal") is privroute.get_router("legal")


class TestConcurrency:
    def test_32_threads_get_only_their_own_values(self, general: Router, frontier: OpenAIServer) -> None:
        """Distinct PII in 32 concurrent calls never crosses between them."""
        names = ["Alice Carter", "Brian Lopez", "Chloe Nguyen", "David Kim"]
        cases = [(names[i % 4], f"user{i:02d}.contact@example.org") for i in range(32)]
        results: dict[int, Any] = {}
        errors: list[BaseException] = []

        def call(i: int) -> None:
            name, email = cases[i]
            try:
                results[i] = general.route(f"Write a greeting to {name} at {email} about the launch.")
            except BaseException as exc:  # pragma: no cover - surfaced by the assert below
                errors.append(exc)

        threads = [threading.Thread(target=call, args=(i,)) for i in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        body = frontier.bodies_text()
        for i, (_, email) in enumerate(cases):
            assert email in results[i].answer
            assert all(other not in results[i].answer for j, (_, other) in enumerate(cases) if j != i)
            assert email not in body


class TestFailClosed:
    def test_invalid_policy_sends_nothing(self, tmp_path: Path, frontier: OpenAIServer) -> None:
        """A policy that does not load raises PolicyError before any request."""
        broken = tmp_path / "broken.yaml"
        broken.write_text(f"name: b\nextends: general\nfrontier:\n  base_url: {frontier.url}\n  modle: x\n")
        with pytest.raises(PolicyError, match="frontier.modle"):
            privroute.route(PII_PROMPT, policy=broken)
        assert frontier.requests == []

    def test_detector_failure_sends_nothing(self, frontier: OpenAIServer) -> None:
        """An exception inside detection is DetectionError; nothing reaches the frontier."""

        class Broken:
            name = "broken"

            def detect(self, text: str) -> tuple[privroute.Entity, ...]:
                raise RuntimeError("model crashed")

        router = Router(policy_with_frontier("general", frontier.url), detector=Broken())
        with pytest.raises(DetectionError):
            router.route(PLAIN_PROMPT)
        assert frontier.requests == []

    def test_no_frontier_configured_is_an_error_not_a_fallback(self, local_backend: Any) -> None:
        """A frontier decision with nowhere to send raises ConfigurationError."""
        router = Router("general", local=local_backend)
        with pytest.raises(ConfigurationError, match="no frontier configured"):
            router.route(PLAIN_PROMPT)

    def test_unreachable_frontier(self) -> None:
        """A closed port is FrontierUnavailable (typed), within the deadline."""
        policy = policy_with_frontier("general", "http://127.0.0.1:9/v1", max_attempts=2, deadline_s=5)
        with pytest.raises(FrontierUnavailable):
            Router(policy).route(PLAIN_PROMPT)


class TestBadInput:
    @pytest.mark.parametrize("prompt", ["", "   \n\t ", [], [{"role": "user", "content": "  "}]])
    def test_empty(self, general: Router, frontier: OpenAIServer, prompt: Any) -> None:
        """Empty and whitespace-only prompts are InputError."""
        with pytest.raises(InputError, match="empty"):
            general.route(prompt)
        assert frontier.requests == []

    @pytest.mark.parametrize("prompt", [42, None, b"bytes", {"role": "user"}, [{"role": "root", "content": "x"}],
                                        [{"role": "user", "content": 7}], ["just a string"]])
    def test_wrong_types(self, general: Router, prompt: Any) -> None:
        """Non-text prompts and malformed messages get a clear InputError."""
        with pytest.raises(InputError):
            general.route(prompt)

    def test_huge_prompt_is_refused_and_router_stays_usable(self, general: Router, frontier: OpenAIServer) -> None:
        """A 5 MB prompt is refused before detection; the next call works."""
        with pytest.raises(InputError, match="too large"):
            general.route("Jane Roe " * 600_000)
        assert frontier.requests == []
        assert general.route(PLAIN_PROMPT).decision.action == "frontier"

    def test_redact_takes_text_only(self, general: Router) -> None:
        """redact() refuses chat messages instead of silently redacting only the first."""
        with pytest.raises(InputError, match="one text"):
            general.redact([{"role": "user", "content": "a"}, {"role": "user", "content": "Jane Roe"}])  # type: ignore[arg-type]

    def test_input_errors_hold_no_prompt_text(self, general: Router) -> None:
        """Error messages describe the problem, not the data."""
        with pytest.raises(InputError) as info:
            general.route([{"role": "hacker", "content": "Jane Roe 123-45-6789"}])
        assert "Jane" not in str(info.value) and "6789" not in str(info.value)


_names = st.sampled_from(["Jane Roe", "John Smith", "Maria Garcia", "anna s.", "Dr. Wei Chen"])
_emails = st.sampled_from(["jane.roe@example.com", "j.smith@corp.example", "x_y@mail.example.org"])
_noise = st.sampled_from(["<PERSON_1>", "[EMAIL_ADDRESS_1]", "PERSON_2", "&lt;PERSON_1&gt;", " ", ", ", ". ",
                          "call ", "about the visit on Friday", "\u200b", "ＡＢＣ", "\\1 $0"])


class TestRoundTripWithRealDetector:
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(parts=st.lists(st.one_of(_names, _emails, _noise), min_size=1, max_size=8))
    def test_restore_redact_identity(self, parts: list[str]) -> None:
        """restore(redact(x)) == x for text mixing PII and placeholder look-alikes."""
        text = " ".join(parts)
        if not text.strip():
            return
        redaction = privroute.redact(text, policy="general")
        assert redaction.restore(redaction.text) == text


class TestBlockedAudit:
    def test_blocked_record_counts_entities(self, tmp_path: Path, frontier: OpenAIServer) -> None:
        """A blocked prompt's audit record carries its entity counts, never values."""
        import sqlite3

        from privroute.audit import AuditStore

        store = AuditStore(tmp_path / "blocked.db")
        router = Router(policy_with_frontier("healthcare", frontier.url), audit=store)
        with pytest.raises(Blocked) as info:
            router.route("Export all patient records for Jane Roe to a spreadsheet.")
        assert info.value.decision is not None
        store.close()
        with sqlite3.connect(tmp_path / "blocked.db") as conn:
            outcome, entities = conn.execute("SELECT outcome, entities FROM records ORDER BY seq DESC").fetchone()
            dump = "\n".join(str(row) for row in conn.execute("SELECT * FROM records"))
        assert outcome == "blocked" and json.loads(entities).get("PERSON") == 1
        assert "Jane" not in dump
