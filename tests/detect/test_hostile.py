"""Hostile text through the real detector: every shape the search found finishes inside the budget.

Real spaCy/Presidio detector; no timed assertion beyond the budget the product enforces.
"""

from __future__ import annotations

from typing import Any

from privroute.detect.deadline import time_budget
from privroute.policy import load_policy
from tests.hostile import HOSTILE_SHAPES, fill

SIZE = 64 * 1024


class TestHostileShapes:
    def test_every_found_shape_at_64_kb_finishes_inside_the_budget(self, warm_router: Any) -> None:
        """Under the default policy budget (60 s) every shape completes; before the fix the
        bracket and quote runs took hours at this size."""
        budget = load_policy("general").limits.detect_budget_s
        assert budget is not None
        for unit in HOSTILE_SHAPES:
            with time_budget(budget):
                warm_router.detector.detect(fill(unit, SIZE))  # raises DetectionTimeout if over

    def test_long_identifiers_are_still_found_by_the_recognizers(self, warm_router: Any) -> None:
        """Only spaCy reads the cut copy: a long URL is still redacted whole."""
        url = "https://example.com/" + "a1b2c3d4" * 20 + "?user=jane.roe@example.com"
        text = f"Write to Jane Roe about {url} please."
        found = warm_router.detector.detect(text)
        start = text.index(url)
        assert any(e.start <= start + 20 and e.end >= start + len(url) - 30 for e in found)
