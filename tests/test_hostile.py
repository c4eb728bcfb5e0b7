"""Bounded work on hostile text: what spaCy reads, the time budget, fair turns, fail closed.

Real spaCy/Presidio detector, real SmolLM2 and a real HTTP frontier on 127.0.0.1;
the turn and deadline units use threads and the clock, never timed assertions.
"""

from __future__ import annotations

import random
import re
import threading
import time
from typing import Any

import pytest

from privroute import DetectionError, DetectionTimeout, PrivrouteError, Router
from privroute.detect.deadline import check, current, time_budget
from privroute.detect.runs import MAX_RUN, MAX_SYMBOLS, bound_runs
from privroute.detect.turns import FairTurns, turn_key
from privroute.policy import load_policy
from privroute.router import DETECTION_TIMEOUT_REASON
from privroute.testing import OpenAIServer
from tests.conftest import policy_with_frontier

# Shapes that were quadratic (the issue's) and the worst that benchmarks/bench_hostile_search.py
# found (ratio to prose, before the fix); each is repeated to 64 kB.
HOSTILE_SHAPES = ("(", "[", '"', ",", "&#", "\U0001F600\u200d", "1/", "1*", "1^", "1-", "1+", "1\U0001F600",
                  " ;", " )", "Z~", "a,", "a/", "(1) ", "a\t1\t", "\u1fdf", "\uff63", "\u20af", "\u00ad",
                  "\U0001F1FA\U0001F1F8")
SIZE = 64 * 1024
SECRET = "Jane Roe, SSN 536-22-8147"


def fill(unit: str, size: int = SIZE) -> str:
    return (unit * (size // len(unit) + 1))[:size]


class TestWhatSpacyReads:
    def test_prose_is_read_unchanged(self) -> None:
        text = "Patient Jane Roe (MRN 4471123) called on 3/2/2024 -- see https://example.com/a?b=c."
        assert bound_runs(text) is text

    def test_same_length_only_spaces_added_runs_bounded(self) -> None:
        rng = random.Random(7)
        alphabet = "a1(,.\"& \n\U0001F600\u200d=*"
        for _ in range(500):
            text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
            seen = bound_runs(text)
            assert len(seen) == len(text)
            assert all(a == b or b == " " for a, b in zip(text, seen))
            assert max((len(run) for run in re.findall(r"\S+", seen)), default=0) <= MAX_RUN
            assert not re.search(r"[^\w\s]{%d,}" % (MAX_SYMBOLS + 1), seen)

    def test_long_identifiers_are_still_found_by_the_recognizers(self, warm_router: Any) -> None:
        """Only spaCy reads the cut copy: a long URL or e-mail is still redacted whole."""
        url = "https://example.com/" + "a1b2c3d4" * 20 + "?user=jane.roe@example.com"
        text = f"Write to Jane Roe about {url} please."
        found = warm_router.detector.detect(text)
        start = text.index(url)
        assert any(e.start <= start + 20 and e.end >= start + len(url) - 30 for e in found)


class TestDeadline:
    def test_nested_budgets_only_shorten(self) -> None:
        assert current() is None
        with time_budget(10) as outer:
            with time_budget(100) as inner:
                assert inner is outer
            with time_budget(1) as shorter:
                assert shorter is not None and outer is not None and shorter.at < outer.at
            with time_budget(None) as same:
                assert same is outer
        assert current() is None

    def test_check_raises_a_typed_error_without_content(self) -> None:
        with time_budget(0.01):
            time.sleep(0.03)
            with pytest.raises(DetectionTimeout) as caught:
                check(12345)
        error = caught.value
        assert isinstance(error, DetectionError) and isinstance(error, TimeoutError)
        assert isinstance(error, PrivrouteError) and error.budget_s == 0.01
        assert "12345 characters" in str(error)
        check()  # no budget: nothing to raise

    def test_every_found_shape_at_64_kb_finishes_inside_the_budget(self, warm_router: Any) -> None:
        """Under the default policy budget (60 s) every shape completes; before the fix the first
        ones took hours at this size."""
        budget = load_policy("general").limits.detect_budget_s
        assert budget is not None
        for unit in HOSTILE_SHAPES:
            with time_budget(budget):
                warm_router.detector.detect(fill(unit))  # raises DetectionTimeout if over


class TestFairTurns:
    def test_turns_go_round_robin_over_keys(self) -> None:
        turns = FairTurns()
        order: list[str] = []
        turns.acquire("holder")
        threads = []
        for name, key in (("a1", "A"), ("a2", "A"), ("a3", "A"), ("b1", "B")):
            def work(name: str = name, key: str = key) -> None:
                with turn_key(key), turns:
                    order.append(name)
            thread = threading.Thread(target=work)
            thread.start()
            threads.append(thread)
            while sum(len(q) for q in turns._waiting.values()) < len(threads):
                time.sleep(0.001)  # queue them in a known order
        turns.release()
        for thread in threads:
            thread.join(10)
        assert order == ["a1", "b1", "a2", "a3"]

    def test_a_waiter_gives_up_at_its_deadline(self) -> None:
        turns = FairTurns()
        turns.acquire()
        with time_budget(0.05), pytest.raises(DetectionTimeout):
            turns.acquire("late")
        assert not turns._waiting
        turns.release()
        with turns:  # free again
            pass


@pytest.fixture
def budgeted(frontier: OpenAIServer, local_backend: Any) -> Any:
    def make(on_timeout: str) -> Router:
        policy = policy_with_frontier("general", frontier.url)
        policy["limits"] = {"detect_budget_s": 0.001, "on_detect_timeout": on_timeout}
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
        # Words, not brackets: the local backend keeps the prompt's tail by an estimate of
        # characters per token that a run of brackets would overflow.
        words = f"Please ask {SECRET} about the invoice. " + "The weather report says rain again. " * 1500
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
