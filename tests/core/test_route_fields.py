"""JSON and key-value records inside prompts: what crosses the wire to the frontier."""

from __future__ import annotations

import json
from typing import Any

import pytest

from privroute import Router
from privroute.testing import OpenAIServer
from tests.conftest import policy_with_frontier

RECORD = {"patient": {"firstName": "Jane", "lastName": "Roe", "mrn": 4471123, "dob": "1968-03-14",
                      "member_id": "XJ99812", "acct_no": "AC-99812"}, "status": "active", "count": 2}
IDENTIFIERS = ("Jane", "Roe", "4471123", "1968-03-14", "XJ99812", "AC-99812")


@pytest.fixture
def general(frontier: OpenAIServer, local_backend: Any) -> Router:
    return Router(policy_with_frontier("general", frontier.url), local=local_backend)


class TestPromptRecords:
    def test_json_tool_result_leaves_no_identifier_on_the_wire(self, general: Router,
                                                               frontier: OpenAIServer) -> None:
        prompt = f"Summarise this API result for the billing team: {json.dumps(RECORD)}"
        result = general.route(prompt)
        assert result.decision.action == "redact"
        body = frontier.bodies_text()
        assert len(frontier.requests) == 1
        for value in IDENTIFIERS:
            assert value not in body and value not in (result.sent or "")
        assert '"status": "active"' in result.sent and '"count": 2' in result.sent  # other fields go as is
        for value in IDENTIFIERS:
            assert value in result.answer  # the echo comes back with the real values

    def test_keys_that_are_values_and_bare_pairs(self, general: Router, frontier: OpenAIServer) -> None:
        prompt = ('Which of these members is overdue? {"Jane Roe": {"member_id": "XJ99812", "due": "2 days"}, '
                  '"A-7712045": {"email": "pat@example.org"}}\nAlso check mrn: 4471123, member_id: ZQ41')
        result = general.route(prompt)
        body = frontier.bodies_text()
        for value in ("Jane Roe", "XJ99812", "A-7712045", "pat@example.org", "4471123", "ZQ41"):
            assert value not in body and value not in (result.sent or "")
        assert "2 days" in body

    def test_messages_hold_records_too(self, general: Router, frontier: OpenAIServer) -> None:
        messages = [{"role": "user", "content": "Look up the customer."},
                    {"role": "assistant", "content": "Which one?"},
                    {"role": "user", "content": 'customer_id=CU-88231 name="Luca Bianchi"'}]
        general.route(messages)
        body = frontier.bodies_text()
        assert "CU-88231" not in body and "Luca Bianchi" not in body

    def test_prose_after_a_role_word_is_not_wiped(self, general: Router) -> None:
        text = "Patient: 67 yo male with chest pain, BP 120/80. Plan: start aspirin."
        assert general.redact(text).text == text
