"""A time budget for detection, checked between the steps of the work.

A thread cannot be killed, so a budget is only as good as the points where the
work looks at it. The detector cuts a long text into chunks (``presidio.py``) and
calls :func:`check` before each chunk and between the costly steps inside one
(normalisation, spaCy, the recognizers, the assembly passes). Every step costs
time linear in its chunk's length, bounded by the chunk size, so the work stops
within about one chunk's time of the deadline.

The deadline travels in a context variable: whoever starts the work (the router
for a request, the batch runner for a document) opens :func:`time_budget` around
it, and nested budgets only ever shorten the deadline. Code that runs without a
budget pays one context-variable read per check.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from ..errors import DetectionTimeout

__all__ = ["Deadline", "check", "current", "time_budget"]


@dataclass(frozen=True)
class Deadline:
    """When the work must stop (``time.monotonic()``), and the budget it came from."""

    at: float
    budget_s: float

    def remaining(self) -> float:
        return self.at - time.monotonic()


_current: ContextVar[Deadline | None] = ContextVar("privroute_detect_deadline", default=None)


def current() -> Deadline | None:
    """The deadline of the work running in this context, if any."""
    return _current.get()


@contextlib.contextmanager
def time_budget(seconds: float | None) -> Iterator[Deadline | None]:
    """Run the body under a budget of ``seconds`` (None: no budget of its own).

    An enclosing budget that ends sooner stays in force: a request's budget
    cannot be extended by a step inside it.
    """
    outer = _current.get()
    if seconds is None:
        yield outer
        return
    if seconds <= 0:
        raise ValueError("a time budget must be positive")
    mine = Deadline(time.monotonic() + seconds, seconds)
    chosen = outer if outer is not None and outer.at <= mine.at else mine
    token = _current.set(chosen)
    try:
        yield chosen
    finally:
        _current.reset(token)


def check(chars: int | None = None) -> None:
    """Raise DetectionTimeout when the current deadline has passed.

    ``chars`` (the length of the text being worked on) only goes into the
    message, which never holds any of the text itself.
    """
    deadline = _current.get()
    if deadline is not None and time.monotonic() >= deadline.at:
        size = f" on {chars} characters" if chars is not None else ""
        raise DetectionTimeout(f"detection stopped after its time budget of {deadline.budget_s:g}s{size}; "
                               "nothing was sent", budget_s=deadline.budget_s)
