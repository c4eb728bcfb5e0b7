"""Turns on the shared spaCy pipeline, handed out fairly between callers.

Every configuration on one spaCy model shares one pipeline, which is not
thread-safe, so detection takes turns on it. A plain lock would let whoever
holds it for a whole request (a huge or hostile text) stall everyone else, and
it is not even first-come first-served. Here:

* a turn covers one chunk of a text (``presidio.CHUNK_CHARS``), never a whole
  request, so a long text yields between its chunks;
* waiting turns are granted round-robin over *keys* (the proxy's tenant, set
  with :func:`turn_key`), first-come first-served within a key: a tenant with ten
  hostile requests in flight gets one turn in two when another tenant is waiting,
  not ten in eleven;
* a waiter gives up when its detection deadline passes (``deadline.py``), so a
  request queued behind others still fails closed inside its budget.

The whole chunk's work (normalisation, spaCy, recognizers) runs inside the turn:
it is Python work that holds the GIL anyway, and keeping a busy tenant's other
threads parked leaves the CPU to the tenant whose turn it is.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict, deque
from collections.abc import Hashable, Iterator
from contextvars import ContextVar

from . import deadline as _deadline

__all__ = ["FairTurns", "current_key", "turn_key"]

_key: ContextVar[Hashable] = ContextVar("privroute_detect_turn_key", default=None)


@contextlib.contextmanager
def turn_key(key: Hashable) -> Iterator[None]:
    """Detection started in this context waits for its turns under ``key`` (a tenant name)."""
    token = _key.set(key)
    try:
        yield
    finally:
        _key.reset(token)


def current_key() -> Hashable:
    return _key.get()


class FairTurns:
    """``slots`` turns at a time (one by default), granted round-robin over keys. Not reentrant."""

    def __init__(self, slots: int = 1) -> None:
        if slots < 1:
            raise ValueError("FairTurns needs at least one slot")
        self._lock = threading.Lock()
        self._free = slots
        self._waiting: OrderedDict[Hashable, deque[threading.Event]] = OrderedDict()

    def __repr__(self) -> str:
        with self._lock:
            return f"FairTurns(free={self._free}, waiting={sum(len(q) for q in self._waiting.values())})"

    def acquire(self, key: Hashable = None) -> None:
        """Wait for a turn; raise DetectionTimeout if the current deadline passes first."""
        with self._lock:
            if self._free:
                self._free -= 1
                return
            granted = threading.Event()
            self._waiting.setdefault(key, deque()).append(granted)
        while True:
            limit = _deadline.current()
            if granted.wait(None if limit is None else max(0.0, limit.remaining())):
                return  # the turn was handed over by release()
            with self._lock:
                if granted.is_set():
                    return
                queue = self._waiting.get(key)
                if queue is not None and granted in queue:
                    queue.remove(granted)
                    if not queue:
                        del self._waiting[key]
            _deadline.check()  # raises: the deadline has passed
            # A clock that has not quite reached the deadline: queue again.
            with self._lock:
                if self._free:
                    self._free -= 1
                    return
                self._waiting.setdefault(key, deque()).append(granted)

    def release(self) -> None:
        """End a turn: hand it to the next key's oldest waiter, else free it."""
        with self._lock:
            if not self._waiting:
                self._free += 1
                return
            key, queue = next(iter(self._waiting.items()))
            granted = queue.popleft()
            del self._waiting[key]
            if queue:
                self._waiting[key] = queue  # to the back of the round
            granted.set()

    # ``with turns:`` takes a turn under the key :func:`turn_key` set (threading.Lock's interface).
    def __enter__(self) -> "FairTurns":
        self.acquire(current_key())
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
