"""The local model behind a supervised worker process (the backend policies get).

The router's process never loads llama.cpp. ``LocalWorkerBackend`` keeps a small
pool of worker processes (``local.workers``, each running ``worker_main.py`` with
its own copy of the model) and talks to each over its stdin/stdout pipes:

* a call takes a free worker (waiting, within its deadline, when all are busy), so
  ``workers`` calls run in parallel and no lock serialises the process;
* the whole call (waiting for a worker, loading, answering) is bounded by its
  deadline (``local.deadline_s``): past it the worker is killed and the call gets
  LocalTimeout;
* a worker that dies mid-call (a crash, SIGILL, an out-of-memory SIGKILL) fails only
  that call, with LocalWorkerError naming the signal, and the fix for SIGILL;
* a worker that failed is reaped (no zombies) and a new one is started at once, so
  it is loading while the caller handles the error and the next call works.

Pools are shared per model file and settings within the process (a proxy's tenants
with the same ``local:`` block use one pool); they stop at interpreter exit.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ..errors import LocalTimeout, LocalWorkerError, PrivrouteError
from ..models import resolve_model, verify_checksum
from ..policy import LocalConfig
from .base import Completion, Message, Usage
from .build import rebuild_command
from .llamacpp import default_threads
from .wire import FrameReader, error_from_wire, write_frame

__all__ = ["LocalWorkerBackend"]

log = logging.getLogger("privroute.local")
_T = TypeVar("_T")

_CANCEL_GRACE_S = 2.0
"""How long a cancelled stream may take to stop before its worker is killed instead."""


@dataclass(frozen=True)
class _Spec:
    """What a worker loads: the pool key."""

    model: str
    n_ctx: int
    n_gpu_layers: int
    n_threads: int | None
    seed: int
    workers: int

    def config(self) -> dict[str, Any]:
        return {"model": self.model, "n_ctx": self.n_ctx, "n_gpu_layers": self.n_gpu_layers,
                "n_threads": self.n_threads, "seed": self.seed}


def child_env() -> dict[str, str]:
    # The worker must import this very privroute, wherever it was imported from.
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def _death(returncode: int | None, *, loading: bool) -> LocalWorkerError:
    when = "while loading the model" if loading else "during the call"
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        if name == "SIGILL":
            return LocalWorkerError(
                f"the local model's worker died with SIGILL (illegal instruction) {when}: llama-cpp-python was "
                f"compiled for CPU features this machine lacks; rebuild it portably: {rebuild_command()}",
                signal=name)
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return LocalWorkerError(f"the local model's worker was killed by {name}{hint} {when}; it is being restarted",
                                signal=name)
    return LocalWorkerError(f"the local model's worker exited (code {returncode}) {when}; it is being restarted",
                            exit_code=returncode)


class _Worker:
    """One worker process and its pipes. Used by one call at a time (the pool sees to that)."""

    def __init__(self, spec: _Spec) -> None:
        self.spec = spec
        self.proc: subprocess.Popen[bytes] | None = None
        self._reader: FrameReader | None = None
        self.ready = False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def spawn(self) -> None:
        proc = subprocess.Popen(
            [sys.executable, "-m", "privroute.backends.worker_main"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=child_env(), close_fds=True,
            start_new_session=True,  # a terminal's Ctrl-C goes to the router, which stops the worker
        )
        assert proc.stdin is not None and proc.stdout is not None
        os.set_blocking(proc.stdin.fileno(), False)
        self.proc, self._reader, self.ready = proc, FrameReader(proc.stdout.fileno()), False
        write_frame(proc.stdin.fileno(), {"config": self.spec.config()})  # small: fits the empty pipe

    def ensure_ready(self, deadline: float) -> None:
        """Start the worker if needed and wait for its model to load; load errors are raised typed."""
        if self.proc is None or self.proc.poll() is not None:
            self.stop()
            self.spawn()
        if self.ready:
            return
        try:
            frame = self.recv(deadline)
        except LocalWorkerError:  # its pipe closed: it died loading
            raise _death(self.stop(exited=1.0), loading=True) from None
        if "error" in frame:
            self.stop()
            raise error_from_wire(frame["error"], "local")
        self.ready = True

    def send(self, message: dict[str, Any], deadline: float | None) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        write_frame(self.proc.stdin.fileno(), message, deadline)

    def recv(self, deadline: float | None) -> dict[str, Any]:
        assert self._reader is not None
        return self._reader.read(deadline)

    def stop(self, *, graceful: float = 0.0, exited: float = 0.0) -> int | None:
        """End the process and reap it (no zombie); returns its exit status.

        ``graceful``: close its stdin and give it that long to exit by itself;
        ``exited``: its pipe closed, so it is exiting: give it that long to finish
        (so the status says what ended it, not our kill).
        """
        proc, self.proc, self._reader, self.ready = self.proc, None, None, False
        if proc is None:
            return None
        if exited:
            try:
                proc.wait(exited)
            except subprocess.TimeoutExpired:
                pass
        if graceful and proc.poll() is None:
            try:
                proc.stdin.close()  # type: ignore[union-attr]  # EOF: the worker exits by itself
                proc.wait(graceful)
            except (OSError, subprocess.TimeoutExpired):
                pass
        if proc.poll() is None:
            proc.kill()
        returncode = proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            try:
                pipe.close()  # type: ignore[union-attr]
            except OSError:
                pass
        return returncode

    def restart(self) -> None:
        """Replace a worker that failed a call: the new one loads while the caller handles the error."""
        self.stop()
        try:
            self.spawn()
        except OSError as exc:  # the next call tries again and reports it
            log.warning("local worker could not be restarted (%s)", type(exc).__name__)


class _Pool:
    def __init__(self, spec: _Spec) -> None:
        self.spec = spec
        self.workers = [_Worker(spec) for _ in range(spec.workers)]
        self._free = list(self.workers)
        self._cond = threading.Condition()
        self._started = False

    def acquire(self, deadline: float, timeout: float) -> _Worker:
        with self._cond:
            if not self._started:  # every worker starts loading at the first call
                self._started = True
                for worker in self.workers:
                    try:
                        worker.spawn()
                    except OSError as exc:
                        log.warning("local worker could not be started (%s)", type(exc).__name__)
            for worker in self._free:  # one that died while idle is reaped now, replaced on use
                if worker.proc is not None and worker.proc.poll() is not None:
                    log.warning("local worker %s ended while idle (status %s)", worker.pid, worker.proc.returncode)
                    worker.stop()
            while not self._free:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LocalTimeout(f"no local model worker became free within the deadline ({timeout:g} s)",
                                       backend="local")
                self._cond.wait(left)
            return self._free.pop()

    def release(self, worker: _Worker) -> None:
        with self._cond:
            self._free.append(worker)
            self._cond.notify()

    def pids(self) -> list[int]:
        return [w.pid for w in self.workers if w.pid is not None]

    def close(self) -> None:
        for worker in self.workers:
            worker.stop(graceful=1.0)


_pools: dict[_Spec, _Pool] = {}
_pools_lock = threading.Lock()


def _pool(spec: _Spec) -> _Pool:
    with _pools_lock:
        pool = _pools.get(spec)
        if pool is None:
            pool = _pools[spec] = _Pool(spec)
        return pool


def _forget_pools() -> None:
    # A forked child (a multiprocessing pool) must not share its parent's workers and pipes:
    # it starts its own on its first local call. The parent's workers stay the parent's.
    global _pools_lock
    _pools.clear()
    _pools_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pools)


@atexit.register
def _close_pools() -> None:
    with _pools_lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()


class LocalWorkerBackend:
    """The policy's ``local:`` model, answered by supervised worker processes."""

    def __init__(self, config: LocalConfig | None = None, *, name: str = "local") -> None:
        config = config or LocalConfig()
        self.name = name
        self.config = config
        self.n_ctx = config.n_ctx
        self.n_gpu_layers = config.n_gpu_layers
        self.max_output_tokens = config.max_output_tokens
        self.deadline_s = config.deadline_s
        self.on_overflow = config.on_overflow
        self._resolved = resolve_model(config.model)  # cheap: locates the file, loads nothing
        self.model = self._resolved.name
        model = str(self._resolved.path) if self._resolved.entry is None else self._resolved.name
        threads = config.n_threads or default_threads(config.workers)
        self._spec = _Spec(model, config.n_ctx, config.n_gpu_layers, threads, config.seed, config.workers)

    def __repr__(self) -> str:
        return (f"LocalWorkerBackend(model={self.model!r}, workers={self._spec.workers}, "
                f"n_gpu_layers={self.n_gpu_layers}, n_ctx={self.n_ctx})")

    @property
    def workers(self) -> int:
        return self._spec.workers

    def worker_pids(self) -> list[int]:
        """Process ids of the running workers (for operators and tests)."""
        return _pool(self._spec).pids()

    def close(self) -> None:
        """Stop this model's workers now (they restart on the next call)."""
        with _pools_lock:
            pool = _pools.pop(self._spec, None)
        if pool is not None:
            pool.close()

    def _request(self, op: str, messages: Sequence[Message], max_tokens: int | None) -> dict[str, Any]:
        limit = min(max_tokens or self.max_output_tokens, self.max_output_tokens)
        return {"op": op, "messages": [m.as_dict() for m in messages], "max_tokens": limit,
                "on_overflow": self.on_overflow}

    def complete(self, messages: Sequence[Message], *, max_tokens: int | None = None,
                 timeout: float | None = None) -> Completion:
        lease = _Lease(self, timeout)
        try:
            lease.open(self._request("complete", messages, max_tokens))
            frame = lease.recv()
            lease.outcome = "done"
        finally:
            lease.end()
        if "error" in frame:
            raise error_from_wire(frame["error"], self.name)
        done = frame["done"]
        return Completion(
            text=done["text"], model=self.model, finish_reason=done.get("finish_reason"),
            usage=Usage(int(done.get("prompt_tokens", 0)), int(done.get("completion_tokens", 0))),
            input_truncated=bool(done.get("input_truncated")),
        )

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None,
               timeout: float | None = None) -> "WorkerStream":
        return WorkerStream(self, self._request("stream", messages, max_tokens), timeout)


class _Lease:
    """One call's hold on one worker, from taking it to giving it back in a known state.

    ``outcome``: "busy" while the answer is under way (ending then means the caller
    gave up: cancel it), "done" when the worker is back at rest, "failed" when it must
    be replaced (timed out, died).
    """

    def __init__(self, backend: LocalWorkerBackend, timeout: float | None) -> None:
        # The checksum is checked here, in the router: a wrong file is refused before any worker loads it.
        verify_checksum(backend._resolved)
        self.backend = backend
        self.timeout = backend.deadline_s if timeout is None else timeout
        self.deadline = time.monotonic() + self.timeout
        self.pool = _pool(backend._spec)
        self.worker = self.pool.acquire(self.deadline, self.timeout)
        self.outcome = "busy"

    def _timed_out(self) -> LocalTimeout:
        self.outcome = "failed"
        return LocalTimeout(f"the local model did not answer within its deadline ({self.timeout:g} s); "
                            f"its worker was stopped and is being restarted", backend=self.backend.name)

    def open(self, request: dict[str, Any]) -> None:
        try:
            self.worker.ensure_ready(self.deadline)
        except LocalTimeout:
            raise self._timed_out() from None
        except PrivrouteError:
            self.outcome = "done"  # it could not load: the next call starts a new one and reports again
            raise
        self._io(lambda: self.worker.send(request, self.deadline))

    def recv(self) -> dict[str, Any]:
        return self._io(lambda: self.worker.recv(self.deadline))

    def _io(self, action: Callable[[], _T]) -> _T:
        """One pipe operation of the call; a timeout or a dead worker becomes the call's typed error."""
        try:
            return action()
        except LocalTimeout:
            raise self._timed_out() from None
        except LocalWorkerError:
            self.outcome = "failed"
            raise _death(self.worker.stop(exited=1.0), loading=False) from None

    def end(self) -> None:
        try:
            if self.outcome == "busy" and not _cancel(self.worker, self.deadline):
                self.outcome = "failed"
            if self.outcome == "failed":
                self.worker.restart()
        finally:
            self.pool.release(self.worker)


class WorkerStream:
    """Text deltas from a worker. ``input_truncated`` is known once the first delta has arrived.

    Closing it early (the consumer went away) cancels the answer in the worker, which
    then serves the next call; a worker that does not stop in time is restarted.
    """

    def __init__(self, backend: LocalWorkerBackend, request: dict[str, Any], timeout: float | None) -> None:
        self.input_truncated = False
        self.finish_reason: str | None = None
        self._deltas = self._run(backend, request, timeout)

    def __repr__(self) -> str:
        return f"WorkerStream(input_truncated={self.input_truncated}, finish_reason={self.finish_reason!r})"

    def __iter__(self) -> "WorkerStream":
        return self

    def __next__(self) -> str:
        return next(self._deltas)

    def close(self) -> None:
        self._deltas.close()

    def _run(self, backend: LocalWorkerBackend, request: dict[str, Any], timeout: float | None) -> Iterator[str]:
        lease = _Lease(backend, timeout)
        try:
            lease.open(request)
            while True:
                frame = lease.recv()
                if "delta" in frame:
                    yield str(frame["delta"])
                elif "start" in frame:
                    self.input_truncated = bool(frame["start"].get("input_truncated"))
                elif "done" in frame:
                    lease.outcome = "done"
                    self.finish_reason = frame["done"].get("finish_reason")
                    return self.finish_reason
                else:
                    lease.outcome = "done"
                    raise error_from_wire(frame.get("error") or {}, backend.name)
        finally:
            lease.end()


def _cancel(worker: _Worker, deadline: float) -> bool:
    """Ask a worker to stop the answer it is streaming; True when it did, in time."""
    if worker.proc is None or not worker.ready:
        return False
    limit = min(deadline, time.monotonic() + _CANCEL_GRACE_S)
    try:
        worker.send({"op": "cancel"}, limit)
        while True:
            frame = worker.recv(limit)
            if "done" in frame or "error" in frame:
                return True
    except (OSError, PrivrouteError):
        return False
