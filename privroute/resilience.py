"""The one retry layer for frontier calls, and a circuit breaker per endpoint.

Backends never retry (the openai client is built with ``max_retries=0``); every
retry happens here, so attempts are counted in one place and bounded by the
policy's ``frontier.max_attempts`` and ``frontier.deadline_s``.

* Retried: HTTP 408, 409, 429 and 5xx, connection errors, per-attempt timeouts.
  Not retried: other 4xx (the request itself is wrong), malformed answers.
* Backoff: exponential with jitter (``base * 2**(n-1)``, capped, randomised over
  its upper half so that clients which failed together do not retry together);
  a ``Retry-After`` header raises the wait up to ``retry_after_max_s``.
* Deadline: the whole call, retries and waits included. Each attempt gets the time
  that is left as its timeout and runs under a watchdog, so a server trickling
  bytes cannot keep the call alive; a wait that would cross the deadline is not
  started. A call ends at most ``_WATCHDOG_GRACE_S`` after its deadline.
* Circuit breaker per endpoint (base_url + model): after ``failure_threshold``
  consecutive failed attempts the circuit opens and calls fail fast
  (``CircuitOpen``) for ``cooldown_s``; then exactly one probe call is let
  through, and its outcome closes or re-opens the circuit.

Error messages carry status codes, counts and exception class names only.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .errors import (
    BackendError,
    CircuitOpen,
    FrontierTimeout,
    FrontierUnavailable,
    MalformedResponse,
)

__all__ = [
    "Attempted",
    "BreakerRegistry",
    "CircuitBreaker",
    "CircuitOpen",
    "RetrySettings",
    "backoff_delay",
    "breakers",
    "call_with_retry",
    "endpoint_key",
    "is_retryable",
]

T = TypeVar("T")

_RETRYABLE_4XX = frozenset({408, 409, 429})
_WATCHDOG_GRACE_S = 0.25
"""The client's own timeout (set to the time left) normally fires first; the
watchdog is the backstop for servers that keep a connection alive byte by byte."""


@dataclass(frozen=True)
class RetrySettings:
    """Bounds for one call. Built from a policy's ``frontier:`` block."""

    max_attempts: int = 3
    deadline_s: float = 60.0
    backoff_base_s: float = 0.5
    backoff_max_s: float = 8.0
    retry_after_max_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.deadline_s <= 0:
            raise ValueError("deadline_s must be positive")

    @classmethod
    def from_frontier(cls, frontier: Any) -> "RetrySettings":
        return cls(
            max_attempts=frontier.max_attempts,
            deadline_s=frontier.deadline_s,
            backoff_base_s=frontier.backoff_base_s,
            backoff_max_s=frontier.backoff_max_s,
            retry_after_max_s=frontier.retry_after_max_s,
        )


@dataclass(frozen=True)
class Attempted(Generic[T]):
    """A successful call and how many attempts it took."""

    value: T
    attempts: int


def is_retryable(exc: BaseException) -> bool:
    """Whether another attempt may succeed where this one failed."""
    if isinstance(exc, CircuitOpen):
        return False
    if isinstance(exc, FrontierTimeout):
        return True
    if isinstance(exc, FrontierUnavailable):
        status = exc.status_code
        return status is None or status in _RETRYABLE_4XX or status >= 500
    return False


def _counts_against_endpoint(exc: BaseException) -> bool:
    """Failures that say the endpoint is unhealthy (a 400 says the request is wrong)."""
    return is_retryable(exc) or isinstance(exc, MalformedResponse)


def backoff_delay(attempt: int, settings: RetrySettings, *, retry_after: float | None = None,
                  rng: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
    ceiling = min(settings.backoff_max_s, settings.backoff_base_s * (2 ** (attempt - 1)))
    delay = ceiling / 2 + rng() * ceiling / 2
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, settings.retry_after_max_s))
    return delay


def endpoint_key(backend: Any) -> str:
    """One breaker per endpoint: base_url + model (name + model for in-process backends)."""
    where = getattr(backend, "base_url", None) or f"backend:{getattr(backend, 'name', '?')}"
    return f"{where}|{getattr(backend, 'model', '')}"


class CircuitBreaker:
    """Closed -> (threshold consecutive failures) -> open -> (cooldown) -> one probe.

    Thread-safe. While the probe is in flight every other call fails fast.
    """

    def __init__(self, key: str, *, failure_threshold: int = 5, cooldown_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.key = key
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    def __repr__(self) -> str:
        return f"CircuitBreaker(key={self.key!r}, state={self.state!r}, failures={self._failures})"

    @property
    def state(self) -> str:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            if self._probing or self._clock() - self._opened_at >= self.cooldown_s:
                return "half-open"
            return "open"

    def acquire(self, name: str = "frontier") -> None:
        """Let a call through or raise CircuitOpen (the caller sends nothing)."""
        with self._lock:
            if self._opened_at is None:
                return
            waited = self._clock() - self._opened_at
            if self._probing or waited < self.cooldown_s:
                left = max(0.0, self.cooldown_s - waited)
                raise CircuitOpen(
                    f"{name}: circuit open after {self._failures} consecutive failures"
                    + ("; a probe call is in flight" if self._probing else f"; next probe in {left:.1f}s"),
                    backend=name, attempts=0,
                )
            self._probing = True

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._probing = False

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._probing or self._failures >= self.failure_threshold:
                self._opened_at = self._clock()
            self._probing = False

    def release(self) -> None:
        """The call ended without a verdict (interrupted): let another probe try."""
        with self._lock:
            self._probing = False


class BreakerRegistry:
    """Breakers by endpoint key, shared by every Router in the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, key: str, *, failure_threshold: int = 5, cooldown_s: float = 30.0,
            clock: Callable[[], float] = time.monotonic) -> CircuitBreaker:
        with self._lock:
            breaker = self._breakers.get(key)
            if breaker is None:
                breaker = self._breakers[key] = CircuitBreaker(
                    key, failure_threshold=failure_threshold, cooldown_s=cooldown_s, clock=clock)
            return breaker

    def clear(self) -> None:
        with self._lock:
            self._breakers.clear()


breakers = BreakerRegistry()


def _run_bounded(fn: Callable[[float], T], timeout: float, name: str) -> T:
    """Run one attempt in a daemon thread; give up on it at ``timeout`` + grace."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = fn(timeout)
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name=f"privroute-{name}-attempt", daemon=True).start()
    if not done.wait(timeout + _WATCHDOG_GRACE_S):
        raise FrontierTimeout(f"{name}: no complete answer within the deadline", backend=name)
    if "error" in box:
        raise box["error"]
    return box["value"]


def _final(error: BackendError, attempts: int, note: str = "") -> BackendError:
    """The last error, re-raised as the same type with the attempt count in it."""
    message = f"{error} (after {attempts} attempt{'s' if attempts != 1 else ''}{note})"
    return type(error)(message, backend=error.backend, attempts=attempts, status_code=error.status_code,
                       retry_after=error.retry_after)


def call_with_retry(
    attempt: Callable[[float], T],
    settings: RetrySettings,
    *,
    breaker: CircuitBreaker | None = None,
    name: str = "frontier",
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
    watchdog: bool = True,
    started: float | None = None,
) -> Attempted[T]:
    """Call ``attempt(timeout_s)`` until it succeeds, within the settings' bounds.

    ``started`` (a ``clock()`` reading) is when the whole call began, so that work
    before the first attempt (detection) counts against the deadline; default: now.
    Raises the last BackendError (same type, ``attempts`` set), FrontierTimeout when
    the deadline ran out, or CircuitOpen when the breaker refused the first try.
    """
    deadline = (clock() if started is None else started) + settings.deadline_s
    tries = 0
    last: BackendError | None = None
    while True:
        left = deadline - clock()
        if left <= 0:
            raise FrontierTimeout(f"{name}: deadline of {settings.deadline_s:g}s reached after {tries} attempt"
                                  f"{'s' if tries != 1 else ''}", backend=name, attempts=tries)
        if breaker is not None:
            try:
                breaker.acquire(name)
            except CircuitOpen as exc:
                if last is None:
                    raise
                raise _final(last, tries, "; circuit now open") from exc
        tries += 1
        try:
            value = _run_bounded(attempt, left, name) if watchdog else attempt(left)
        except BackendError as exc:
            if breaker is not None:
                breaker.failure() if _counts_against_endpoint(exc) else breaker.success()
            last = exc
        except BaseException:
            if breaker is not None:
                breaker.release()
            raise
        else:
            if breaker is not None:
                breaker.success()
            return Attempted(value, tries)
        if not is_retryable(last):
            raise _final(last, tries) from last
        if tries >= settings.max_attempts:
            raise _final(last, tries) from last
        delay = backoff_delay(tries, settings, retry_after=last.retry_after, rng=rng)
        if clock() + delay >= deadline:
            raise _final(last, tries, f"; no time left in the {settings.deadline_s:g}s deadline to retry") from last
        sleep(delay)
