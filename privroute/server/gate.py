"""Backpressure for the local model: a bounded queue in front of it.

The local model answers one call at a time (llama.cpp), so under load requests
pile up. ``LocalGate`` admits at most ``concurrency + queue_size`` local calls;
the next one fails at once with ``QueueFull`` (the proxy answers 429 with
Retry-After) instead of waiting without limit and holding a thread.

The gate wraps the backend, not the request: only calls the router actually sends
to the local model count, including a frontier call that falls back to local.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..backends.base import Backend, Completion, Message
from ..errors import LocalTimeout, QueueFull

__all__ = ["GatedBackend", "LocalGate", "QueueFull"]


class _Ticket:
    """One admitted call; releasing it twice is harmless."""

    def __init__(self, gate: "LocalGate") -> None:
        self._gate = gate
        self._released = False

    def release(self) -> None:
        if not self._released:
            self._released = True
            self._gate._leave()


class LocalGate:
    """Admission control: ``concurrency`` running, ``queue_size`` waiting, the rest refused."""

    def __init__(self, *, concurrency: int = 1, queue_size: int = 8, retry_after_s: int = 2,
                 on_change: Callable[[int, int], None] | None = None) -> None:
        self.capacity = concurrency + queue_size
        self.retry_after_s = retry_after_s
        self._slots = threading.Semaphore(concurrency)
        self._lock = threading.Lock()
        self._admitted = 0
        self._running = 0
        self._on_change = on_change

    def __repr__(self) -> str:
        return f"LocalGate(capacity={self.capacity}, admitted={self._admitted}, running={self._running})"

    def admit(self) -> _Ticket:
        """Take a place in the queue or raise QueueFull at once."""
        with self._lock:
            if self._admitted >= self.capacity:
                raise QueueFull(self.retry_after_s)
            self._admitted += 1
            self._notify()
        return _Ticket(self)

    def _leave(self) -> None:
        with self._lock:
            self._admitted -= 1
            self._notify()

    def _start(self, timeout: float | None = None) -> None:
        # A queued call's wait counts against its local deadline.
        if not self._slots.acquire(timeout=timeout):
            raise LocalTimeout(f"the local model was busy past the call's deadline ({timeout:g} s)", backend="local")
        with self._lock:
            self._running += 1
            self._notify()

    def _stop(self) -> None:
        with self._lock:
            self._running -= 1
            self._notify()
        self._slots.release()

    def _notify(self) -> None:
        if self._on_change is not None:
            self._on_change(self._admitted - self._running, self._running)

    def wrap(self, backend: Backend) -> "GatedBackend":
        return GatedBackend(backend, self)


class GatedBackend:
    """A Backend whose calls pass through a LocalGate; otherwise the wrapped backend."""

    def __init__(self, inner: Backend, gate: LocalGate) -> None:
        self.inner = inner
        self.gate = gate
        self.name = inner.name
        self.model = inner.model

    def __repr__(self) -> str:
        return f"GatedBackend({self.inner!r}, {self.gate!r})"

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self.inner, attribute)

    def _gated(self, call: Callable[[float | None], Any], timeout: float | None) -> Any:
        started = time.monotonic()
        ticket = self.gate.admit()
        try:
            self.gate._start(timeout)
            try:
                return call(_left(timeout, started))
            finally:
                self.gate._stop()
        finally:
            ticket.release()

    def complete(self, messages: Sequence[Message], *, max_tokens: int | None = None,
                 timeout: float | None = None, **options: Any) -> Completion:
        # ``options``: ``tools=`` for a backend that can call them (passed only when a request has tools).
        return self._gated(lambda left: self.inner.complete(messages, max_tokens=max_tokens, timeout=left,
                                                            **options), timeout)

    def embed(self, texts: Sequence[str], *, timeout: float | None = None, **options: Any) -> Any:
        """Local embeddings queue with the local chat calls: one model, one bounded queue."""
        return self._gated(lambda left: self.inner.embed(texts, **options), timeout)

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None,
               timeout: float | None = None, **options: Any) -> Iterator[str]:
        # Admission happens now, not on first iteration, so that a full queue is
        # known before the proxy has sent any response header.
        started = time.monotonic()
        ticket = self.gate.admit()
        return _GatedStream(self, ticket, lambda: self.inner.stream(
            messages, max_tokens=max_tokens, timeout=_left(timeout, started), **options), timeout)


def _left(timeout: float | None, started: float) -> float | None:
    """What is left of a deadline after queueing (a sliver, never zero: the backend reports the timeout)."""
    return None if timeout is None else max(0.001, timeout - (time.monotonic() - started))


class _GatedStream:
    """Holds the queue place until exhausted or closed; the run slot while producing."""

    def __init__(self, backend: GatedBackend, ticket: _Ticket, open_stream: Callable[[], Iterator[str]],
                 timeout: float | None = None) -> None:
        self._gate = backend.gate
        self._timeout = timeout
        self._ticket = ticket
        self._open = open_stream
        self._inner: Iterator[str] | None = None
        self._done = False

    def __iter__(self) -> "_GatedStream":
        return self

    def __next__(self) -> str:
        if self._done:
            raise StopIteration
        if self._inner is None:
            try:
                self._gate._start(self._timeout)
            except BaseException:
                self._finish(started=False)
                raise
            try:
                self._inner = iter(self._open())
            except BaseException:
                self._finish(started=True)
                raise
        try:
            return next(self._inner)
        except BaseException:
            self.close()
            raise

    @property
    def input_truncated(self) -> bool:
        return bool(getattr(self._inner, "input_truncated", False))

    def close(self) -> None:
        if self._done:
            return
        inner, started = self._inner, self._inner is not None
        try:
            close = getattr(inner, "close", None)
            if close is not None:
                close()
        finally:
            self._finish(started=started)

    def _finish(self, *, started: bool) -> None:
        if self._done:
            return
        self._done = True
        if started:
            self._gate._stop()
        self._ticket.release()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown or a broken inner stream: nothing left to release
            pass
