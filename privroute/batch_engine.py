"""Where batch detection runs: in process, on a local process pool, or on Ray.

The unit of work is :func:`run_job`: one document's bytes in, its strings and the
entities found in them out (or, for ``--verify``, the PII still detectable in an
output). It never raises for a bad document; the reason comes back in the result,
worded without content. The parent process keeps everything stateful (vault,
writes, manifest), so the same function runs unchanged on any engine, and on a
Ray cluster the workers need no access to the driver's file system.

Models load once per worker process: the pool's initializer and Ray's reused
worker processes both hit the process-wide router cache (``get_router``).
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .detect.base import Entity
from .errors import ConfigurationError, MissingDependency, PrivrouteError
from .formats import Extracted, FormatError, FormatOptions, format_for
from .policy import Policy

__all__ = ["Analysed", "Engine", "Job", "make_engine", "run_job", "detect_many"]

PACK_CHARS = 10_000
"""Short strings (CSV cells, JSON values) are scanned together, up to this many characters."""
SPLIT_CHARS = 10_000
"""Longer strings are scanned in pieces cut at paragraph or line breaks: Presidio's context
enhancer is quadratic in a text's length, and spaCy refuses texts over 1M characters."""
_SEPARATOR = "\n\n"
_HAS_WORD = re.compile(r"[^\W_]")
# Issued tokens, as privroute.vault writes them; what --verify must not count as PII.
_TOKEN = re.compile(r"<[A-Z][A-Z0-9_]*_\d+>")


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
    from .router import get_router

    try:
        get_router(policy).detector.detect("Warm up the pipeline for Jane Roe.")
    except PrivrouteError as exc:  # our messages hold no content: pass them on
        _worker_broken = f"detector could not be loaded ({exc})"
    except Exception as exc:  # noqa: BLE001
        _worker_broken = f"detector could not be loaded ({type(exc).__name__})"


def _pool_job(job: Job) -> Analysed:
    assert _worker_policy is not None, "pool worker was not initialised"
    if _worker_broken is not None:
        return Analysed(job.key, reason=_worker_broken)
    return run_job(_worker_policy, job)


def run_job(policy: Policy, job: Job) -> Analysed:
    """Extract a document's strings and detect PII in them. Never raises for bad input."""
    from .router import get_router

    fmt = format_for(job.suffix)
    if fmt is None:
        return Analysed(job.key, reason=f"unsupported type {job.suffix!r}")
    try:
        extracted = fmt.extract(job.data, job.options)
        router = get_router(policy)
        entities = detect_many(router.detector, policy.redact.entities, extracted.strings)
    except FormatError as exc:
        return Analysed(job.key, reason=str(exc))
    except MissingDependency as exc:
        return Analysed(job.key, reason=str(exc))
    except PrivrouteError as exc:  # privroute's messages never quote content
        return Analysed(job.key, reason=f"detection failed ({exc})")
    except Exception as exc:  # noqa: BLE001 - a message may quote content; name the type only
        return Analysed(job.key, reason=f"detection failed ({type(exc).__name__})")
    if job.verify:
        return Analysed(job.key, residual=residual_pii(extracted.strings, entities))
    return Analysed(job.key, extracted, entities)


def detect_many(detector: Any, only: Sequence[str], strings: Sequence[str]) -> tuple[tuple[Entity, ...], ...]:
    """Entities for each string, scanning short strings together and long ones in pieces.

    Packed strings are joined with a blank line; a span that crosses into a
    neighbour is clipped to each string it touches, so nothing flagged is lost.
    """
    found: list[list[Entity]] = [[] for _ in strings]
    pack: list[int] = []
    pack_chars = 0

    def flush() -> None:
        nonlocal pack, pack_chars
        if pack:
            _scan_pack(detector, strings, pack, found)
        pack, pack_chars = [], 0

    for index, text in enumerate(strings):
        if not _HAS_WORD.search(text):
            continue
        if len(text) > SPLIT_CHARS:
            for offset, piece in _pieces(text):
                found[index].extend(_shift(e, offset) for e in detector.detect(piece))
            continue
        if pack_chars + len(text) > PACK_CHARS:
            flush()
        pack.append(index)
        pack_chars += len(text) + len(_SEPARATOR)
    flush()
    return tuple(tuple(sorted(e for e in ents if not only or e.type in only)) for ents in found)


def _scan_pack(detector: Any, strings: Sequence[str], pack: list[int], found: list[list[Entity]]) -> None:
    if len(pack) == 1:
        found[pack[0]].extend(detector.detect(strings[pack[0]]))
        return
    joined = _SEPARATOR.join(strings[i] for i in pack)
    bounds, offset = [], 0
    for i in pack:
        bounds.append((i, offset, offset + len(strings[i])))
        offset += len(strings[i]) + len(_SEPARATOR)
    for entity in detector.detect(joined):
        for i, lo, hi in bounds:
            start, end = max(entity.start, lo), min(entity.end, hi)
            if start < end and strings[i][start - lo:end - lo].strip():
                found[i].append(Entity(start - lo, end - lo, entity.type, entity.score, entity.source))


def _pieces(text: str) -> list[tuple[int, str]]:
    """Cut a long text into pieces under SPLIT_CHARS, at the latest paragraph, line or space break."""
    pieces, start = [], 0
    while start < len(text):
        end = min(start + SPLIT_CHARS, len(text))
        if end < len(text):
            for mark in ("\n\n", "\n", " "):
                cut = text.rfind(mark, start + SPLIT_CHARS // 2, end)
                if cut > start:
                    end = cut + len(mark)
                    break
        pieces.append((start, text[start:end]))
        start = end
    return pieces


def _shift(entity: Entity, offset: int) -> Entity:
    return Entity(entity.start + offset, entity.end + offset, entity.type, entity.score, entity.source)


def residual_pii(strings: Sequence[str], entities: Sequence[Sequence[Entity]]) -> tuple[tuple[str, int], ...]:
    """Types of entities that still show real text once placeholders are set aside."""
    counts: dict[str, int] = {}
    for text, ents in zip(strings, entities):
        for entity in ents:
            rest = _TOKEN.sub("", text[entity.start:entity.end])
            if _HAS_WORD.search(rest) and not _inside_token(text, entity):
                counts[entity.type] = counts.get(entity.type, 0) + 1
    return tuple(sorted(counts.items()))


def _inside_token(text: str, entity: Entity) -> bool:
    for match in _TOKEN.finditer(text, max(0, entity.start - 64), min(len(text), entity.end + 64)):
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
    """A process pool; each worker loads the models once, in its initializer."""

    name = "pool"

    def __init__(self, policy: Policy, workers: int) -> None:
        self.workers = workers
        self._policy = policy
        self._pending: dict[cf.Future[Analysed], int] = {}
        self._pool = self._start()

    def _start(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(self.workers, mp_context=_context(), initializer=_init_worker,
                                      initargs=(self._policy,))

    def submit(self, job: Job) -> None:
        self._pending[self._pool.submit(_pool_job, job)] = job.key

    def completed(self) -> list[Analysed]:
        if not self._pending:
            return []
        done, _ = cf.wait(self._pending, return_when=cf.FIRST_COMPLETED)
        results, broken = [], False
        for future in done:
            key = self._pending.pop(future)
            try:
                results.append(future.result())
            except cf.process.BrokenProcessPool:
                broken = True
                results.append(Analysed(key, reason="worker process died (out of memory or crashed)"))
            except Exception as exc:  # noqa: BLE001 - pickling and similar; name the type only
                results.append(Analysed(key, reason=f"worker failed ({type(exc).__name__})"))
        if broken:
            # Every job still queued on the dead pool is lost with it: fail them too,
            # and give the rest of the batch a fresh pool.
            for future, key in list(self._pending.items()):
                results.append(Analysed(key, reason="worker process died (out of memory or crashed)"))
            self._pending.clear()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._start()
        return results

    def close(self) -> None:
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


def make_engine(kind: str, policy: Policy, *, workers: int, address: str | None = None) -> Engine:
    if kind == "ray":
        return RayEngine(policy, workers, address)
    if workers <= 1:
        return InlineEngine(policy)
    return PoolEngine(policy, workers)
