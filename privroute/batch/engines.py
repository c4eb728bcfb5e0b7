"""Where batch detection runs: in process, on a local process pool, or on Ray.

The unit of work is :func:`run_job`: one document's bytes in, its strings and the
entities found in them out (or, for ``--verify``, the PII still detectable in an
output). It never raises for a bad document; the reason comes back in the result,
worded without content. The parent process keeps everything stateful (vault,
writes, manifest), so the same function runs unchanged on any engine, and on a
Ray cluster the workers need no access to the driver's file system.

Models load once per worker process: the pool's initializer and Ray's reused
worker processes both hit the process-wide detector cache (``detect.detector_for``).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..detect import detector_for
from ..detect.base import Entity
from ..detect.chunk import detect_documents
from ..detect.deadline import time_budget
from ..detect.lang import refuse_uncovered
from ..errors import ConfigurationError, DetectionTimeout, LanguageNotCovered, MissingDependency, PrivrouteError
from ..policy import Policy
from ..vault import ISSUED_TOKEN
from .formats import Extracted, FormatError, FormatOptions, format_for

__all__ = ["Analysed", "Engine", "Job", "make_engine", "run_job", "run_jobs"]

JOBS_PER_TASK = 8
"""Documents per pool task: their strings go through spaCy together."""
WATCHDOG_POLL_S = 1.0
"""How often the pool engine looks for a task that has run past its hard limit."""
WATCHDOG_GRACE_S = 30.0
"""Added to a task's hard limit: worker start-up, extraction and the last chunk's work."""
_HAS_WORD = re.compile(r"[^\W_]")


@dataclass(frozen=True)
class Job:
    key: int
    data: bytes = field(repr=False)
    suffix: str
    options: FormatOptions = FormatOptions()
    verify: bool = False
    """Scan an output for PII still detectable (``--verify``) instead of preparing a redaction."""


@dataclass(frozen=True)
class Analysed:
    key: int
    extracted: Extracted | None = None
    entities: tuple[tuple[Entity, ...], ...] = ()
    reason: str | None = None
    residual: tuple[tuple[str, int], ...] = ()
    """For verify jobs: entity types (and counts) found outside placeholders."""


# ------------------------------------------------------------------ the work

_worker_policy: Policy | None = None
_worker_broken: str | None = None


def _init_worker(policy: Policy) -> None:
    """Pool initializer: build the detector now, once for this worker's life.

    A failure is kept and reported with every job (an initializer that raises would
    only show up as a dead pool, without the reason).
    """
    global _worker_policy, _worker_broken
    _worker_policy = policy
    try:
        detector_for(policy.detect).detect("Warm up the pipeline for Jane Roe.")
    except PrivrouteError as exc:  # our messages hold no content: pass them on
        _worker_broken = f"detector could not be loaded ({exc})"
    except Exception as exc:  # noqa: BLE001
        _worker_broken = f"detector could not be loaded ({type(exc).__name__})"


def _pool_jobs(jobs: list[Job]) -> list[Analysed]:
    assert _worker_policy is not None, "pool worker was not initialised"
    if _worker_broken is not None:
        return [Analysed(job.key, reason=_worker_broken) for job in jobs]
    return run_jobs(_worker_policy, jobs)


def run_job(policy: Policy, job: Job) -> Analysed:
    """Extract a document's strings and detect PII in them. Never raises for bad input."""
    return run_jobs(policy, [job])[0]


def run_jobs(policy: Policy, jobs: Sequence[Job]) -> list[Analysed]:
    """``[run_job(policy, job) for job in jobs]``, with the documents' strings detected together.

    spaCy costs less per text over a batch (``detect_many``); each document's
    strings are still packed and split on their own, so its entities do not
    depend on its neighbours. If the batch fails, each document is retried
    alone, so one bad document cannot fail the others.
    """
    results: list[Analysed | None] = [None] * len(jobs)
    ready: list[tuple[int, Extracted]] = []
    for index, job in enumerate(jobs):
        fmt = format_for(job.suffix)
        if fmt is None:
            results[index] = Analysed(job.key, reason=f"unsupported type {job.suffix!r}")
            continue
        try:
            extracted = fmt.extract(job.data, job.options)
            if not job.verify:  # a document in a language the policy does not read fails, as route() would not send it
                refuse_uncovered("\n".join(extracted.strings), policy.detect)
            ready.append((index, extracted))
        except Exception as exc:  # noqa: BLE001 - worded by _failure, without content
            results[index] = _failure(job.key, exc)
    groups = [ready] if len(ready) <= 1 else [ready, *([item] for item in ready)]
    budget = policy.limits.detect_budget_s
    for group in groups:
        if not group or all(results[index] is not None for index, _ in group):
            continue
        try:
            detector = detector_for(policy.detect)
            # Each document has the budget; documents detected together share theirs. A group
            # that runs out is retried document by document, so only the slow one fails.
            with time_budget(None if budget is None else budget * len(group)):
                found = detect_documents(detector, policy.redact.entities, [ex.strings for _, ex in group])
        except Exception as exc:  # noqa: BLE001
            if len(group) == 1:
                results[group[0][0]] = _failure(jobs[group[0][0]].key, exc)
            continue
        for (index, extracted), entities in zip(group, found, strict=True):
            job = jobs[index]
            results[index] = (Analysed(job.key, residual=residual_pii(extracted.strings, entities)) if job.verify
                              else Analysed(job.key, extracted, entities))
    assert all(result is not None for result in results)
    return results  # type: ignore[return-value]


def _failure(key: int, exc: Exception) -> Analysed:
    if isinstance(exc, DetectionTimeout):
        budget = f" of {exc.budget_s:g}s" if exc.budget_s is not None else ""
        return Analysed(key, reason=f"detection timed out: over the time budget{budget} per document")
    if isinstance(exc, (FormatError, MissingDependency, LanguageNotCovered)):
        return Analysed(key, reason=str(exc))
    if isinstance(exc, PrivrouteError):  # privroute's messages never quote content
        return Analysed(key, reason=f"detection failed ({exc})")
    # Any other message may quote content: name the type only.
    return Analysed(key, reason=f"detection failed ({type(exc).__name__})")


def residual_pii(strings: Sequence[str], entities: Sequence[Sequence[Entity]]) -> tuple[tuple[str, int], ...]:
    """Types of entities that still show real text once placeholders are set aside."""
    counts: dict[str, int] = {}
    for text, ents in zip(strings, entities):
        for entity in ents:
            rest = ISSUED_TOKEN.sub("", text[entity.start:entity.end])
            if _HAS_WORD.search(rest) and not _inside_token(text, entity):
                counts[entity.type] = counts.get(entity.type, 0) + 1
    return tuple(sorted(counts.items()))


def _inside_token(text: str, entity: Entity) -> bool:
    for match in ISSUED_TOKEN.finditer(text, max(0, entity.start - 64), min(len(text), entity.end + 64)):
        if match.start() <= entity.start and entity.end <= match.end():
            return True
    return False


# ------------------------------------------------------------------ engines


class Engine(Protocol):
    name: str
    workers: int

    def submit(self, job: Job) -> None: ...

    def completed(self) -> list[Analysed]:
        """Block until at least one submitted job is done; return all that are."""

    def close(self) -> None: ...


class InlineEngine:
    """Runs jobs in this process (one worker, tests, tiny batches)."""

    name = "inline"
    workers = 1

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._done: list[Analysed] = []

    def submit(self, job: Job) -> None:
        self._done.append(run_job(self._policy, job))

    def completed(self) -> list[Analysed]:
        done, self._done = self._done, []
        return done

    def close(self) -> None:
        pass


class PoolEngine:
    """A process pool; each worker loads the models once, in its initializer.

    Jobs travel in tasks of up to ``jobs_per_task`` documents, detected together
    (``run_jobs``); a task not yet full is sent as soon as the caller waits.
    """

    name = "pool"

    def __init__(self, policy: Policy, workers: int, jobs_per_task: int = JOBS_PER_TASK) -> None:
        self.workers = workers
        self.jobs_per_task = max(1, jobs_per_task)
        self._policy = policy
        self._pending: dict[cf.Future[list[Analysed]], list[Job]] = {}
        self._running_since: dict[cf.Future[list[Analysed]], float] = {}
        self._buffer: list[Job] = []
        self._pool = self._start()

    def _start(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(self.workers, mp_context=_context(), initializer=_init_worker,
                                      initargs=(self._policy,))

    def submit(self, job: Job) -> None:
        self._buffer.append(job)
        if len(self._buffer) >= self.jobs_per_task:
            self._send(1)

    def _send(self, tasks: int) -> None:
        """Send the buffered jobs as ``tasks`` tasks of about equal size."""
        jobs, self._buffer = self._buffer, []
        tasks = max(1, min(tasks, len(jobs)))
        for index in range(tasks):
            share = jobs[index * len(jobs) // tasks:(index + 1) * len(jobs) // tasks]
            if share:
                self._pending[self._pool.submit(_pool_jobs, share)] = share

    def _hard_limit(self, jobs: int) -> float | None:
        """Seconds a task may run before its worker is killed: well past the budget the
        worker enforces itself (detection stops at its deadline), for work between checks
        that never returns."""
        budget = self._policy.limits.detect_budget_s
        return None if budget is None else 2 * budget * jobs + WATCHDOG_GRACE_S

    def completed(self) -> list[Analysed]:
        # A few leftover documents are spread over the idle workers rather than sent as one task.
        self._send(self.workers - len(self._pending))
        if not self._pending:
            return []
        while True:
            done, _ = cf.wait(self._pending, timeout=WATCHDOG_POLL_S, return_when=cf.FIRST_COMPLETED)
            if done:
                break
            overdue = self._overdue()
            if overdue:
                return self._kill_pool(overdue)
        results, broken = [], False
        for future in done:
            self._running_since.pop(future, None)
            keys = [job.key for job in self._pending.pop(future)]
            try:
                results.extend(future.result())
            except cf.process.BrokenProcessPool:
                broken = True
                results.extend(Analysed(key, reason="worker process died (out of memory or crashed)") for key in keys)
            except Exception as exc:  # noqa: BLE001 - pickling and similar; name the type only
                results.extend(Analysed(key, reason=f"worker failed ({type(exc).__name__})") for key in keys)
        if broken:
            # Every job still queued on the dead pool is lost with it: fail them too,
            # and give the rest of the batch a fresh pool.
            for jobs in self._pending.values():
                results.extend(Analysed(job.key, reason="worker process died (out of memory or crashed)")
                               for job in jobs)
            self._pending.clear()
            self._running_since.clear()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._start()
        return results

    def _overdue(self) -> list[cf.Future[list[Analysed]]]:
        """Running tasks past their hard limit (a task's clock starts when it is seen running)."""
        now, overdue = time.monotonic(), []
        for future, jobs in self._pending.items():
            if not future.running():
                continue
            since = self._running_since.setdefault(future, now)
            limit = self._hard_limit(len(jobs))
            if limit is not None and now - since > limit:
                overdue.append(future)
        return overdue

    def _kill_pool(self, overdue: list[cf.Future[list[Analysed]]]) -> list[Analysed]:
        """A worker that never came back: kill the pool (a process is the unit that can be
        stopped), fail the overdue tasks' documents and resend everyone else's to a fresh pool."""
        failed = [Analysed(job.key, reason="detection timed out: the worker ran far past the time budget "
                                           "and was stopped")
                  for future in overdue for job in self._pending.pop(future)]
        innocent = [job for jobs in self._pending.values() for job in jobs]
        self._pending.clear()
        self._running_since.clear()
        for process in list(getattr(self._pool, "_processes", {}).values()):
            process.kill()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._start()
        self._buffer = innocent + self._buffer
        return failed

    def close(self) -> None:
        self._buffer.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)


def _context() -> multiprocessing.context.BaseContext:
    """fork when this process has a single thread; spawn otherwise.

    fork needs no ``if __name__ == "__main__"`` guard in the caller's script and starts
    workers in milliseconds (the executor launches them all before its own thread
    starts); but forking a process whose other threads may hold locks (a server, a
    Ray driver) can deadlock the child, so such processes get spawn.
    """
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class RayEngine:
    """The same job function as Ray tasks: ``address`` names a cluster, None starts a local Ray."""

    name = "ray"

    def __init__(self, policy: Policy, workers: int | None, address: str | None) -> None:
        try:
            import ray
        except ImportError as exc:
            raise MissingDependency("ray", "ray") from exc
        self._ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray and address is not None:
            _check_reachable(address)
        if self._owns_ray:
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address is None and workers:
                kwargs["num_cpus"] = workers
            try:
                ray.init(address=address, **kwargs)
            except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError...
                where = f" at {address}" if address else ""
                raise ConfigurationError(f"cannot start or reach Ray{where} ({type(exc).__name__})") from exc
        self.workers = int(ray.cluster_resources().get("CPU", workers or 1))
        self._remote = ray.remote(run_job).options(max_retries=1)
        self._policy_ref = ray.put(policy)
        self._pending: dict[Any, int] = {}

    def submit(self, job: Job) -> None:
        self._pending[self._remote.remote(self._policy_ref, job)] = job.key

    def completed(self) -> list[Analysed]:
        if not self._pending:
            return []
        ready, rest = self._ray.wait(list(self._pending), num_returns=1)
        more = self._ray.wait(rest, num_returns=len(rest), timeout=0)[0] if rest else []
        results = []
        for ref in [*ready, *more]:
            key = self._pending.pop(ref)
            try:
                results.append(self._ray.get(ref))
            except Exception as exc:  # noqa: BLE001 - a lost node or worker; name the type only
                results.append(Analysed(key, reason=f"Ray task failed ({type(exc).__name__})"))
        return results

    def close(self) -> None:
        if self._owns_ray:
            self._ray.shutdown()


RAY_CONNECT_TIMEOUT_S = 5.0


def _check_reachable(address: str) -> None:
    """Fail fast, with the address in the message, when nothing listens at a Ray address.

    ``ray.init`` on an unreachable address retries for minutes, logging as it goes;
    a plain TCP connect tells the user at once. ``auto`` and ``local`` name no socket.
    """
    import socket

    target = address.removeprefix("ray://")
    if target in ("auto", "local") or "://" in target:
        return
    host, sep, port_text = target.rpartition(":")
    if not sep or not port_text.isdigit():
        raise ConfigurationError(f"Ray address {address!r} is not HOST:PORT, ray://HOST:PORT, auto or local")
    try:
        with socket.create_connection((host.strip("[]"), int(port_text)), timeout=RAY_CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__).lower()
        raise ConfigurationError(f"cannot reach Ray at {address} ({reason}); is the cluster running?") from exc


def make_engine(kind: str, policy: Policy, *, workers: int, address: str | None = None) -> Engine:
    if kind == "ray":
        return RayEngine(policy, workers, address)
    if workers <= 1:
        return InlineEngine(policy)
    return PoolEngine(policy, workers)
