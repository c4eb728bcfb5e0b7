"""Budgets: output caps, per-tenant daily tokens and cost, the price table, block or local."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from privroute import BudgetExceeded, ConfigurationError, FakeBackend, Router, Usage
from privroute.budget import (
    BudgetGuard,
    MemoryLedger,
    PriceTable,
    estimate_tokens,
    output_limit,
)
from privroute.policy import BudgetConfig
from privroute.testing import OpenAIServer, Reply
from tests.faults_fixtures import (
    PII_PROMPT,
    PII_VALUES,
    PLAIN_PROMPT,
    audit_rows,
    fault_policy,
    use,
)


def _prices(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    return path


def _budget_policy(url: str, tmp_path: Path, **budget: Any) -> dict[str, Any]:
    prices = _prices(tmp_path, "models:\n  gpt-4o-mini: {input: 1000, output: 2000}\n")
    return {**fault_policy("general", url), "budget": {"tenant": "acme", "prices": str(prices), **budget}}


class TestPriceTable:
    def test_shipped_table_prices_known_models(self) -> None:
        """The shipped YAML loads and prices per million tokens."""
        table = PriceTable.load()
        price = table.price("gpt-4o-mini")
        assert price is not None
        assert table.cost("gpt-4o-mini", Usage(1_000_000, 0)) == pytest.approx(price.input)

    def test_dated_variants_take_the_base_price(self, tmp_path: Path) -> None:
        """"gpt-4o-2024-08-06" is priced as gpt-4o, not as gpt-4o-mini; unknown models cost None."""
        table = PriceTable.load(_prices(tmp_path, "models:\n  gpt-4o: {input: 2, output: 8}\n"
                                                  "  gpt-4o-mini: {input: 1, output: 1}\n"))
        assert table.price("gpt-4o-2024-08-06") == table.price("gpt-4o")
        assert table.price("gpt-4o-mini-2024") == table.price("gpt-4o-mini")
        assert table.cost("someone-else", Usage(10, 10)) is None

    @pytest.mark.parametrize("text,fragment", [
        ("models:\n  m: {input: -1, output: 1}\n", "models.m.input"),
        ("models:\n  m: {input: 1, output: 1, extra: 2}\n", "extra"),
        ("models: [unclosed\n", "not valid YAML"),
    ])
    def test_bad_price_table_names_the_problem(self, tmp_path: Path, text: str, fragment: str) -> None:
        """A wrong price file is a ConfigurationError naming the file and key."""
        with pytest.raises(ConfigurationError, match="prices.yaml") as caught:
            PriceTable.load(_prices(tmp_path, text))
        assert fragment in str(caught.value)

    def test_missing_price_file(self, tmp_path: Path) -> None:
        """A price path that does not exist is a clear error."""
        with pytest.raises(ConfigurationError, match="cannot be read"):
            PriceTable.load(tmp_path / "none.yaml")

    @given(prompt=st.integers(0, 10**7), completion=st.integers(0, 10**7))
    def test_cost_is_linear(self, prompt: int, completion: int) -> None:
        """Cost is input and output tokens times their prices per million."""
        table = PriceTable({"m": PriceTable.load().models["gpt-4o"]})
        price = table.models["m"]
        expected = (prompt * price.input + completion * price.output) / 1_000_000
        assert table.cost("m", Usage(prompt, completion)) == pytest.approx(expected)


class TestGuard:
    def test_token_budget_counts_spend_and_prompt(self) -> None:
        """Used tokens plus this call's prompt estimate must stay within daily_tokens."""
        ledger = MemoryLedger()
        guard = BudgetGuard(BudgetConfig(tenant="t", daily_tokens=100), ledger=ledger, today=lambda: "2026-01-01")
        guard.check("m", prompt_chars=160)  # 40 <= 100
        guard.record(Usage(40, 30), None)
        guard.check("m", prompt_chars=120)  # 70 + 30 <= 100
        with pytest.raises(BudgetExceeded, match="tenant 't'") as caught:
            guard.check("m", prompt_chars=160)  # 70 + 40 > 100
        assert caught.value.scope == "tokens"

    def test_budget_is_per_tenant_and_per_day(self) -> None:
        """Another tenant or another UTC day starts from zero."""
        ledger, day = MemoryLedger(), ["2026-01-01"]
        acme = BudgetGuard(BudgetConfig(tenant="acme", daily_tokens=10), ledger=ledger, today=lambda: day[0])
        other = BudgetGuard(BudgetConfig(tenant="other", daily_tokens=10), ledger=ledger, today=lambda: day[0])
        acme.record(Usage(10, 0), None)
        with pytest.raises(BudgetExceeded):
            acme.check("m", 4)
        other.check("m", 4)
        day[0] = "2026-01-02"
        acme.check("m", 4)

    def test_cost_budget_needs_a_price(self, tmp_path: Path) -> None:
        """daily_cost with an unpriced model refuses (fail closed) rather than spending blind."""
        guard = BudgetGuard(BudgetConfig(daily_cost=1.0, prices=str(_prices(tmp_path, "models: {}\n"))))
        with pytest.raises(ConfigurationError, match="no price"):
            guard.check("mystery-model", 10)

    def test_cost_budget(self, tmp_path: Path) -> None:
        """Spent cost plus the estimate must stay within daily_cost."""
        prices = _prices(tmp_path, "models:\n  m: {input: 1000000, output: 1000000}\n")  # $1 per token
        guard = BudgetGuard(BudgetConfig(daily_cost=10.0, prices=str(prices)), today=lambda: "d")
        guard.check("m", prompt_chars=20)  # about $5
        guard.record(Usage(3, 3), guard.cost("m", Usage(3, 3)))  # $6 spent
        guard.check("m", prompt_chars=16)  # $6 + $4 <= $10
        with pytest.raises(BudgetExceeded) as caught:
            guard.check("m", prompt_chars=20)
        assert caught.value.scope == "cost"

    @given(requested=st.none() | st.integers(1, 10_000), cap=st.none() | st.integers(1, 10_000))
    def test_output_limit_only_lowers(self, requested: int | None, cap: int | None) -> None:
        """A caller can lower the policy's output cap, never raise it."""
        limit = output_limit(requested, cap)
        if cap is not None:
            assert limit is not None and limit <= cap
        if requested is not None:
            assert limit is not None and limit <= requested

    def test_estimate(self) -> None:
        """About four characters per token, rounded up."""
        assert (estimate_tokens(0), estimate_tokens(1), estimate_tokens(8), estimate_tokens(9)) == (0, 1, 2, 3)


class TestRoutedBudgets:
    def test_overrun_blocks_and_sends_nothing(self, server: OpenAIServer, tmp_path: Path) -> None:
        """on_exceed: block raises BudgetExceeded before the request; the audit records it."""
        router = Router(_budget_policy(server.url, tmp_path, daily_tokens=80, on_exceed="block"))
        first = router.route(PLAIN_PROMPT)
        assert first.usage is not None and first.cost == pytest.approx(
            (first.usage.prompt_tokens * 1000 + first.usage.completion_tokens * 2000) / 1e6)
        sent_before = len(server.requests)
        with pytest.raises(BudgetExceeded):
            for _ in range(20):
                router.route(PLAIN_PROMPT)
        assert len(server.requests) < 20 + sent_before
        rows = audit_rows(Path(os.environ["PRIVROUTE_AUDIT_DB"]))
        assert rows[-1]["error"] == "BudgetExceeded" and rows[-1]["outcome"] == "error"
        assert rows[0]["cost"] == pytest.approx(first.cost)

    def test_overrun_falls_back_to_local(self, server: OpenAIServer, tmp_path: Path, small_local: Any) -> None:
        """on_exceed: local answers on SmolLM2 once the tenant's tokens are spent; nothing more is sent."""
        router = Router(_budget_policy(server.url, tmp_path, daily_tokens=60, on_exceed="local"),
                        local=small_local)
        use(server, Reply(content="ok", prompt_tokens=50, completion_tokens=5))
        assert router.route(PII_PROMPT).backend == "frontier"
        result = router.route(PII_PROMPT)
        assert result.backend == "local" and result.fallback_reason == "budget exceeded (tokens)"
        assert result.sent is None and result.answer.strip()
        assert len(server.requests) == 1
        assert not any(value in server.bodies_text() for value in PII_VALUES)

    def test_cost_budget_enforced_on_route(self, server: OpenAIServer, tmp_path: Path) -> None:
        """A daily cost cap stops the tenant once the priced usage reaches it."""
        router = Router(_budget_policy(server.url, tmp_path, daily_cost=0.1))
        use(server, Reply(content="ok", prompt_tokens=90, completion_tokens=10))  # $0.11
        router.route(PLAIN_PROMPT)
        with pytest.raises(BudgetExceeded) as caught:
            router.route(PLAIN_PROMPT)
        assert caught.value.scope == "cost" and len(server.requests) == 1

    def test_budget_survives_a_restart(self, server: OpenAIServer, tmp_path: Path) -> None:
        """With the audit log on, spend is read back from it: a new Router (or process) sees it."""
        policy = _budget_policy(server.url, tmp_path, daily_tokens=100)
        use(server, Reply(content="ok", prompt_tokens=90, completion_tokens=5))
        Router(policy).route(PLAIN_PROMPT)
        with pytest.raises(BudgetExceeded):
            Router(policy).route(PLAIN_PROMPT)

    def test_streams_spend_an_estimate(self, server: OpenAIServer, tmp_path: Path) -> None:
        """A stream reports no usage; its estimated tokens still count against the budget."""
        router = Router(_budget_policy(server.url, tmp_path, daily_tokens=60))
        use(server, Reply(content="word " * 120))
        assert len("".join(router.stream(PLAIN_PROMPT))) == 600
        (row,) = audit_rows(Path(os.environ["PRIVROUTE_AUDIT_DB"]))
        assert row["completion_tokens"] == 150 and row["cost"] > 0
        with pytest.raises(BudgetExceeded):
            router.route(PLAIN_PROMPT)
        assert len(server.requests) == 1

    def test_local_calls_do_not_spend(self, server: OpenAIServer, tmp_path: Path) -> None:
        """Only frontier tokens count against the daily budget."""
        from tests.faults_fixtures import PHI_PROMPT

        policy = {**_budget_policy(server.url, tmp_path, daily_tokens=200), "extends": "healthcare"}
        local = FakeBackend("local", respond=lambda messages: "word " * 500)
        router = Router(policy, local=local)
        for _ in range(3):
            assert router.route(PHI_PROMPT).backend == "local"
        router.route(PLAIN_PROMPT)
        assert len(server.requests) == 1
