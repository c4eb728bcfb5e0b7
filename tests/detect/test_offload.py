"""Long texts detected in a worker process (detect/offload.py): same entities, same budget.

Real worker processes running the real spaCy/Presidio detector. Nothing here asserts a
timing beyond the budget the product enforces.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from privroute.detect import offload
from privroute.detect.deadline import time_budget
from privroute.detect.offload import DetectionPool, OffloadingDetector
from privroute.detect.turns import turn_key
from privroute.errors import DetectionTimeout
from privroute.policy import load_policy
from tests.hostile import fill, hostile

LETTER = ("Dear Mr. Okafor, on 3 March 2021 Jane Roe (SSN 536-22-8147, jane.roe@example.com, "
          "+1 415 555 0199) met Pierre Dubois at 12 Rue de Rivoli, Paris, about the Henderson lease.\n")


@pytest.fixture(scope="module")
def pool() -> Iterator[DetectionPool]:
    pool = DetectionPool(1)
    yield pool
    pool.close()


@pytest.fixture(scope="module")
def detectors(pool: DetectionPool) -> tuple[OffloadingDetector, Any]:
    detect = load_policy("general").detect
    offloading = OffloadingDetector(detect, pool, min_chars=2000)
    return offloading, offloading.inner


class TestOffloading:
    def test_a_long_text_gets_the_same_entities_as_in_process(self, detectors: Any) -> None:
        offloading, inner = detectors
        text = LETTER * 150  # about 27,000 characters: three chunks
        assert len(text) > offloading.min_chars
        found = offloading.detect(text)
        assert found == inner.detect(text)
        assert {e.type for e in found} >= {"PERSON", "US_SSN", "EMAIL_ADDRESS"}

    def test_a_short_text_stays_in_process(self, detectors: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        offloading, inner = detectors

        def refuse(*args: Any) -> Any:
            raise AssertionError("a short text went to the pool")

        monkeypatch.setattr(offloading.pool, "detect", refuse)
        assert offloading.detect(LETTER) == inner.detect(LETTER)

    def test_the_budget_crosses_to_the_worker(self, detectors: Any) -> None:
        offloading, _ = detectors
        with pytest.raises(DetectionTimeout) as caught, turn_key("tenant-a"), time_budget(0.2):
            offloading.detect(hostile(64 * 1024))
        assert caught.value.budget_s == 0.2
        assert "(" not in str(caught.value)  # the message holds no text

    def test_a_worker_that_does_not_stop_is_killed_and_replaced(self, detectors: Any,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
        """No grace after the deadline: the worker is still inside a step, so it is killed;
        the next text gets a new worker and the right answer."""
        offloading, inner = detectors
        offloading.detect(LETTER * 20)  # a worker is running
        assert offloading.pool.idle_workers == 1
        monkeypatch.setattr(offload, "GRACE_S", 0.0)
        with pytest.raises(DetectionTimeout), time_budget(0.05):
            offloading.detect(fill("1*", 64 * 1024))  # a token per character: a step takes longer
        monkeypatch.undo()
        assert offloading.pool.idle_workers == 0
        text = LETTER * 20
        assert offloading.detect(text) == inner.detect(text)
