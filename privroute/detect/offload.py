"""Detection of long texts in worker processes, outside the caller's GIL.

Turns on the shared pipeline (turns.py) bound how long one caller *waits* for the
detector, but in one process every thread shares one GIL: while a tenant keeps long
hostile texts in detection, another tenant's short requests get a fraction of the
interpreter for everything they do (parsing, rules, redaction, relaying), and a
chunk of dense text (a token for every character) holds the pipeline for a second.

:class:`OffloadingDetector` keeps short texts (under ``min_chars``) in process, where
they cost little, and sends every chunk of a longer text to a :class:`DetectionPool`:
worker processes with their own spaCy pipeline, taken one chunk at a time and
round-robin over keys (the proxy's tenants, turns.py). A busy tenant's long texts then
cost the serving process almost nothing, and the operating system shares the CPU
between processes, with the workers at a lower priority (``WORKER_NICE``): when the CPU
is short, short requests go first and long texts wait. The entities are the same as
in process: the same detector runs on the same chunks (``presidio.CHUNK_CHARS``, cut
by ``chunk.pieces``) and the results are merged the same way. A multilingual policy's
detector (multilingual.py) reads a text as a whole, so its texts go to a worker whole.

The detection budget (deadline.py) crosses over: the worker detects under the time
the request has left and stops there by itself; a worker that has not answered a
moment later is killed (a hard bound a thread cannot have) and the next chunk starts a
new one. Either way the caller gets DetectionTimeout and nothing is sent. A worker
that dies gives DetectionError. Workers start on first use (or ``start()``), as
fresh interpreters (``python -m privroute.detect.offload``), so that a server's threads
are never forked and nothing of the caller's ``__main__`` runs again.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import DetectionError, DetectionTimeout, LocalTimeout, LocalWorkerError
from . import deadline as _deadline
from .base import Entity
from .chunk import pieces
from .turns import FairTurns, current_key

if TYPE_CHECKING:
    from ..policy import DetectConfig

__all__ = ["DetectionPool", "OffloadingDetector"]

log = logging.getLogger("privroute")

WORKER_NICE = 10
"""Scheduling priority the workers lower themselves by (``os.nice``): when the CPU is short,
the serving process (short requests, relaying answers) goes first and long texts wait;
on an idle machine it changes nothing."""

GRACE_S = 5.0
"""How long past the request's deadline a worker may take to answer before it is killed
(it checks the deadline between steps; one step on a chunk takes well under this)."""


def _serve(source: int, sink: int) -> None:
    """A worker's loop: frames of (config JSON, text, budget) in, entities or an error name out."""
    from ..backends.wire import FrameReader, write_frame
    from ..errors import LocalWorkerError
    from ..policy import DetectConfig
    from .presidio import presidio_detector

    reader = FrameReader(source)
    while True:
        try:
            message = reader.read()
        except LocalWorkerError:  # the server closed the pipe: stop
            return
        try:
            detector = presidio_detector(DetectConfig.model_validate_json(message["config"]))
            with _deadline.time_budget(message["budget_s"]):
                found = detector.detect(message["text"])
            answer: dict[str, Any] = {"ok": [[e.start, e.end, e.type, e.score, e.source] for e in found]}
        except DetectionTimeout as exc:
            answer = {"timeout": exc.budget_s}
        except Exception as exc:  # the caller fails closed; only the type crosses (no text)
            answer = {"error": type(exc).__name__}
        write_frame(sink, answer)


class _Worker:
    """One worker process, ``python -m privroute.detect.offload``, spoken to in frames over its
    stdin/stdout (``backends.wire``, as the local model's workers are).

    A plain subprocess rather than multiprocessing: nothing of the caller's ``__main__``
    is imported again, and no thread of a running server is forked.
    """

    def __init__(self) -> None:
        from ..backends.wire import FrameReader
        from ..backends.worker import child_env

        self.process = subprocess.Popen([sys.executable, "-m", "privroute.detect.offload"], env=child_env(),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True,
                                        start_new_session=True)  # a terminal's Ctrl-C goes to the server
        assert self.process.stdin is not None and self.process.stdout is not None
        os.set_blocking(self.process.stdin.fileno(), False)
        self._reader = FrameReader(self.process.stdout.fileno())

    def call(self, config_json: str, text: str, budget_s: float | None, wait_s: float | None) -> dict[str, Any]:
        """The worker's answer; LocalTimeout when none came within ``wait_s``, LocalWorkerError when it died."""
        from ..backends.wire import write_frame

        assert self.process.stdin is not None
        deadline = None if wait_s is None else time.monotonic() + wait_s
        write_frame(self.process.stdin.fileno(), {"config": config_json, "text": text, "budget_s": budget_s},
                    deadline)
        return self._reader.read(deadline)

    def stop(self, *, kill: bool = False) -> None:
        if not kill:
            try:
                assert self.process.stdin is not None
                self.process.stdin.close()  # end of input: the loop returns
                self.process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass


class DetectionPool:
    """``processes`` detection workers, handed out one chunk at a time, round-robin over keys."""

    def __init__(self, processes: int = 1) -> None:
        if processes < 1:
            raise ValueError("a detection pool needs at least one process")
        self.processes = processes
        self._turns = FairTurns(processes)
        self._lock = threading.Lock()
        self._idle: list[_Worker | None] = [None] * processes  # None: not started (or killed)
        self._closed = False

    def __repr__(self) -> str:
        return f"DetectionPool(processes={self.processes}, turns={self._turns!r})"

    @property
    def idle_workers(self) -> int:
        """Worker processes running and not in use."""
        with self._lock:
            return sum(worker is not None for worker in self._idle)

    def start(self, configs: Sequence["DetectConfig"] = ()) -> None:
        """Start every worker now and load the detectors of ``configs`` in each (holds every turn)."""
        held: list[_Worker] = []
        try:
            for _ in range(self.processes):
                self._turns.acquire(None)
                try:
                    held.append(self._take())
                except BaseException:
                    self._turns.release()
                    raise
            for worker in held:
                for config in configs:
                    worker.call(config.model_dump_json(), "warm up", None, None)
        finally:
            for worker in held:
                self._give_back(worker)
                self._turns.release()

    def detect(self, config_json: str, text: str) -> tuple[Entity, ...]:
        """Entities of ``text`` (one chunk) found by a worker; waits for a turn under the current key."""
        self._turns.acquire(current_key())
        try:
            worker = self._take()
            limit = _deadline.current()
            remaining = None if limit is None else max(0.001, limit.remaining())
            try:
                answer = worker.call(config_json, text, remaining,
                                     None if remaining is None else remaining + GRACE_S)
            except LocalTimeout:
                worker.stop(kill=True)  # it did not stop by itself: the hard bound
                worker = None
                raise DetectionTimeout(f"detection stopped after its time budget of {limit.budget_s:g}s on "
                                       f"{len(text)} characters; nothing was sent", budget_s=limit.budget_s) from None
            except LocalWorkerError as exc:
                worker.stop(kill=True)
                worker = None
                raise DetectionError("a detection worker process died; nothing was sent") from exc
            finally:
                self._give_back(worker)
        finally:
            self._turns.release()
        if "ok" in answer:
            return tuple(Entity(*fields) for fields in answer["ok"])
        if "timeout" in answer:
            _deadline.check(len(text))  # the same message as in process
            budget = answer["timeout"]
            raise DetectionTimeout(f"detection stopped after its time budget of {budget:g}s on {len(text)} "
                                   "characters; nothing was sent", budget_s=budget)
        raise DetectionError(f"a detection worker failed ({answer.get('error')}); nothing was sent")

    def _take(self) -> _Worker:
        # The caller holds a turn, so at least one slot is free.
        with self._lock:
            if self._closed:
                raise DetectionError("the detection pool is closed; nothing was sent")
            slot = self._idle.pop()
        if slot is None:
            started = time.perf_counter()
            try:
                slot = _Worker()
            except Exception:
                with self._lock:
                    self._idle.append(None)
                raise
            log.info("detection worker process started (%.0f ms)", (time.perf_counter() - started) * 1000)
        return slot

    def _give_back(self, worker: _Worker | None) -> None:
        with self._lock:
            if self._closed and worker is not None:
                worker.stop()
                worker = None
            self._idle.append(worker)

    def close(self) -> None:
        """Stop the idle workers now; busy ones stop when their chunk is done."""
        with self._lock:
            self._closed = True
            workers, self._idle = [w for w in self._idle if w is not None], [None] * len(self._idle)
        for worker in workers:
            worker.stop()


class OffloadingDetector:
    """The default detector for ``config``, with texts of ``min_chars`` or more detected in ``pool``."""

    name = "presidio"

    def __init__(self, config: "DetectConfig", pool: DetectionPool, *, min_chars: int = 2000) -> None:
        self.config = config
        self.pool = pool
        self.min_chars = min_chars
        self._config_json = config.model_dump_json()
        self._inner: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OffloadingDetector(min_chars={self.min_chars}, pool={self.pool!r})"

    @property
    def inner(self) -> Any:
        """The in-process detector, for short texts (built on first use)."""
        with self._lock:
            if self._inner is None:
                from .presidio import presidio_detector

                self._inner = presidio_detector(self.config)
            return self._inner

    def detect(self, text: str) -> tuple[Entity, ...]:
        if not isinstance(text, str):
            raise TypeError(f"detect() needs a str, not {type(text).__name__}")
        if len(text) < self.min_chars:
            return self.inner.detect(text)
        from .presidio import CHUNK_CHARS, PresidioDetector, merge_overlaps

        if not isinstance(self.inner, PresidioDetector):
            # A multilingual detector reads the whole text (its segments, names carried from
            # one to another): the text goes whole, so the entities stay the same.
            return self.pool.detect(self._config_json, text)
        entities: list[Entity] = []
        for start, piece in pieces(text, CHUNK_CHARS):
            _deadline.check(len(text))
            entities.extend(Entity(e.start + start, e.end + start, e.type, e.score, e.source)
                            for e in self.pool.detect(self._config_json, piece))
        return merge_overlaps(entities)

    def detect_many(self, texts: Sequence[str]) -> list[tuple[Entity, ...]]:
        return [self.detect(text) for text in texts]


if __name__ == "__main__":  # a worker process (see _Worker)
    if hasattr(os, "nice"):
        os.nice(WORKER_NICE)
    # The answers get their own copy of stdout; anything a library prints goes to stderr.
    _answers = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _serve(0, _answers)
