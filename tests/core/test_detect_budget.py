"""A request whose detection runs past its budget fails closed: blocked, or local, never sent raw.

Real spaCy/Presidio detector, real SmolLM2, and a real recording frontier on 127.0.0.1.
"""

from __future__ import annotations

from typing import Any

import pytest

from privroute import DetectionTimeout, Router
from privroute.policy import load_policy
from privroute.router import DETECTION_TIMEOUT_REASON
from privroute.testing import OpenAIServer
from tests.conftest import policy_with_frontier
from tests.hostile import SECRET, fill


@pytest.fixture
def budgeted(frontier: OpenAIServer, local_backend: Any) -> Any:
    def make(on_timeout: str) -> Router:
        policy = policy_with_frontier("general", frontier.url)
        policy["limits"] = {"detect_budget_s": 0.001, "on_detect_timeout": on_timeout}
        if on_timeout == "local":  # protects less than the parent's block: declared
            policy["loosen"] = [{"key": "limits.on_detect_timeout", "reason": "answer locally rather than refuse"}]
        return Router(policy, local=local_backend)
    return make


class TestOverBudgetFailsClosed:
    TEXT = (f"Please ask {SECRET} about the invoice. " + fill("(", 20_000) + " thanks ") * 3

    def test_block_raises_and_nothing_is_sent(self, budgeted: Any, frontier: OpenAIServer) -> None:
        router = budgeted("block")
        with pytest.raises(DetectionTimeout):
            router.route(self.TEXT)
        with pytest.raises(DetectionTimeout):
            router.redact(self.TEXT)
        assert frontier.requests == []

    def test_local_answers_locally_and_nothing_is_sent(self, budgeted: Any, frontier: OpenAIServer) -> None:
        router = budgeted("local")
        # Words, and few enough of them for the local model's context (it refuses more): their
        # detection still takes longer than the 1 ms budget.
        words = f"Please ask {SECRET} about the invoice. " + "The weather report says rain again. " * 40
        result = router.route([{"role": "user", "content": words}], max_tokens=8)
        assert result.decision.action == "local" and result.decision.reasons == (DETECTION_TIMEOUT_REASON,)
        assert result.sent is None and result.backend == "local"
        assert router.classify(self.TEXT).action == "local"
        assert frontier.requests == []
        with pytest.raises(DetectionTimeout):  # a redaction cannot be made without detection
            router.redact(self.TEXT)

    def test_within_budget_the_same_prompt_is_redacted(self, frontier: OpenAIServer, local_backend: Any) -> None:
        """The control: with the default budget the prompt is detected, redacted and sent without the values."""
        router = Router(policy_with_frontier("general", frontier.url), local=local_backend)
        result = router.route(self.TEXT, max_tokens=8)
        assert result.decision.action == "redact"
        assert "Jane Roe" not in frontier.bodies_text() and "536-22-8147" not in frontier.bodies_text()

    def test_policy_validation(self) -> None:
        from privroute import PolicyError

        with pytest.raises(PolicyError, match="limits.detect_budget_s"):
            load_policy({"name": "x", "limits": {"detect_budget_s": 0}})
        with pytest.raises(PolicyError, match="limits.on_detect_timeout"):
            load_policy({"name": "x", "limits": {"on_detect_timeout": "frontier"}})
        assert load_policy({"name": "x", "limits": {"detect_budget_s": None}}).limits.detect_budget_s is None
        with pytest.raises(PolicyError, match="limits.on_detect_timeout: protects less"):
            load_policy({"name": "x", "extends": "general", "limits": {"on_detect_timeout": "local"}})
