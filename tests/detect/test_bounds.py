"""Bounded work on hostile input, the pure parts: what spaCy reads, the deadline, fair turns.

No model is loaded (fast tier); the turn and deadline units use threads and the clock,
never timed assertions.
"""

from __future__ import annotations

import random
import re
import threading
import time

import pytest

from privroute.detect.deadline import check, current, time_budget
from privroute.detect.runs import MAX_RUN, MAX_SYMBOLS, bound_runs
from privroute.detect.turns import FairTurns, turn_key
from privroute.errors import DetectionError, DetectionTimeout, PrivrouteError

pytestmark = pytest.mark.fast


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

    def test_symbol_runs_become_spaces_words_stay(self) -> None:
        text = "Dear Jane Roe,\n=================\n((((((((((Acme Corp " + "* " * 12 + "end"
        seen = bound_runs(text)
        assert "Jane Roe" in seen and "Acme Corp" in seen and seen.endswith("end")
        assert "=" not in seen and "(" not in seen and "*" not in seen

    def test_stretches_of_one_character_tokens_become_spaces(self) -> None:
        for unit in ("1*", "a\t1\t", "Z\n", "(1) ", "a,"):
            text = "Dear Jane Roe\n" + unit * 80 + "\nfrom Acme Corp"
            seen = bound_runs(text)
            assert seen.startswith("Dear Jane Roe") and seen.endswith("from Acme Corp"), unit
            assert not seen[len("Dear Jane Roe"):-len("from Acme Corp")].strip(), unit

    def test_initials_and_spaced_abbreviations_are_read_unchanged(self) -> None:
        text = "J. R. R. Tolkien met A. B. Smith in the U . S . A . on 1 / 2 / 2020, see (a) and (b)."
        assert bound_runs(text) is text


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


    def test_several_slots_are_taken_before_anyone_waits(self) -> None:
        turns = FairTurns(2)
        turns.acquire("A")
        turns.acquire("A")  # the second slot: no wait
        with time_budget(0.05), pytest.raises(DetectionTimeout):
            turns.acquire("B")  # both taken
        turns.release()
        with time_budget(5):
            turns.acquire("B")  # a slot came back
        turns.release()
        turns.release()
        with pytest.raises(ValueError):
            FairTurns(0)
