"""Batch redaction of files and directory trees: ``redact_files`` and its report.

What it promises (docs/batch.md has the user's view):

* the output tree mirrors the inputs under OUTDIR; nothing is ever written inside an
  input tree, and an OUTDIR inside an input directory is refused before any work;
* every output is written atomically (temporary file in the same directory, fsync,
  rename), so a crash leaves whole outputs or none;
* a manifest (input hash -> output) lets a rerun skip finished documents;
* a bad document fails alone, with a reason that names the problem, never the
  content; the report says what was done, skipped and failed;
* placeholders come from privroute's Vault: one per document, or one for the
  whole batch with ``consistent=True`` (kept, encrypted, with ``mapping=``).

Detection runs on an :mod:`~privroute.batch_engine` (process pool by default, Ray on
request); everything stateful stays in this process.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from ..errors import InputError
from ..policy import Policy, load_policy
from ..vault import LOOKALIKE_TYPE, Redaction, Vault
from .discover import BatchUsageError, Item, discover, ensure_outside_inputs
from .engines import Analysed, Job, make_engine
from .formats import Edit, FormatOptions, format_for
from .mapping import (
    check_key,
    load_mapping,
    save_mapping,
    vault_entries,
    vault_from_entries,
)

__all__ = ["BatchOptions", "BatchReport", "BatchUsageError", "redact_files", "atomic_write"]

REPORT_NAME = "report.json"
STATE_DIR = ".privroute"
_TMP_SUFFIX = ".privroute-tmp"
_FORMAT_VERSION = 1  # bump when outputs for the same input and options change
_CHECKPOINT_S = 2.0
_INFLIGHT_BYTES = 256 * 1024 * 1024


class BatchOptions(BaseModel):
    """Validated options of one batch run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    consistent: bool = False
    mapping: Path | None = None
    mapping_key: SecretStr | None = None
    force: bool = False
    verify: bool = False
    engine: Literal["pool", "ray"] = "pool"
    address: str | None = None
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1, le=256)
    columns: tuple[str, ...] = ()
    max_bytes: int = Field(100 * 1024 * 1024, ge=1)
    """Larger files fail with a clear reason instead of exhausting memory."""
    detect_budget_s: float | None = Field(None, gt=0, le=86_400)
    """Detection time budget per document; None: the policy's ``limits.detect_budget_s``.
    A document past it fails (reported with the reason) and the run goes on."""


@dataclass(frozen=True)
class BatchReport:
    """What a batch did. ``as_dict`` is OUTDIR/report.json. Holds paths and counts, never content."""

    done: int
    skipped: int
    failed: tuple[tuple[str, str], ...]
    entities: dict[str, int]
    skipped_files: tuple[tuple[str, str], ...] = ()
    converted: tuple[tuple[str, str, str], ...] = ()
    elapsed_s: float = 0.0
    bytes_in: int = 0
    engine: str = ""
    workers: int = 1
    notes: tuple[str, ...] = ()
    report_path: Path | None = field(default=None, compare=False)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def as_dict(self) -> dict[str, Any]:
        rate = self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0
        return {
            "done": self.done,
            "skipped": self.skipped,
            "failed": [{"path": p, "reason": r} for p, r in self.failed],
            "entities": dict(sorted(self.entities.items())),
            "skipped_files": [{"path": p, "reason": r} for p, r in self.skipped_files],
            "converted": [{"path": p, "output": o, "note": n} for p, o, n in self.converted],
            "engine": self.engine,
            "workers": self.workers,
            "elapsed_s": round(self.elapsed_s, 3),
            "docs_per_s": round(rate, 2),
            "bytes_in": self.bytes_in,
            "notes": list(self.notes),
        }


Progress = Callable[[int, int, float], None]
"""progress(finished, total, elapsed_s), called after every document."""


def redact_files(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    out_dir: str | os.PathLike[str],
    policy: Any = "general",
    progress: Progress | None = None,
    **options: Any,
) -> BatchReport:
    """Redact files, directories (recursively) and globs into ``out_dir``; see BatchOptions.

    Raises BatchUsageError (nothing done) when the run cannot start safely;
    per-document problems are in the report instead.
    """
    try:
        opts = BatchOptions(**options)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in exc.errors())
        raise BatchUsageError(f"invalid batch options ({problems})") from None
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]  # one path, not a sequence of one-character paths
    loaded = load_policy(policy)
    return _Batch(inputs, Path(out_dir), loaded, opts, progress).run()


# ---------------------------------------------------------------- writing


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}{_TMP_SUFFIX}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)  # the rename itself survives a power cut only once the directory is synced
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_stale_tmp(targets: Iterable[Path]) -> None:
    """Temporary files a killed run left beside the outputs this run will write (and nothing else)."""
    by_dir: dict[Path, set[str]] = {}
    for target in targets:
        by_dir.setdefault(target.parent, set()).add(target.name)
    for directory, names in by_dir.items():
        if not directory.is_dir():
            continue
        for entry in directory.iterdir():
            parts = entry.name.rsplit(".", 2)  # ".NAME" "PID" "privroute-tmp"
            if (len(parts) == 3 and "." + parts[2] == _TMP_SUFFIX and parts[1].isdigit()
                    and parts[0][1:] in names and parts[0].startswith(".")):
                entry.unlink(missing_ok=True)


class _Manifest:
    """Append-only journal: one JSON line per finished document; the last line per input wins."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / STATE_DIR / "manifest.jsonl"
        self.entries: dict[str, dict[str, Any]] = {}
        self._pending: list[dict[str, Any]] = []
        if self.path.exists():
            for line in self.path.read_text("utf-8", errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                    self.entries[entry["input"]] = entry
                except (ValueError, KeyError, TypeError):
                    continue  # a line torn by a kill: that document is simply redone

    def finished(self, rel: str, digest: str, fingerprint: str, output: Path, verify: bool) -> bool:
        entry = self.entries.get(rel)
        if not entry or entry.get("sha256") != digest or entry.get("fingerprint") != fingerprint:
            return False
        if verify and not entry.get("verified"):
            return False
        try:
            return _sha256(output.read_bytes()) == entry.get("output_sha256")
        except OSError:
            return False

    def add(self, entry: dict[str, Any]) -> None:
        self._pending.append(entry)

    def flush(self, *, sync: bool = False) -> None:
        """Append pending lines. A kill -9 cannot lose what was flushed; only ``sync``
        makes it survive a power cut too (a lost line just means that document is redone)."""
        if not self._pending and not sync:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as handle:
            for entry in self._pending:
                handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        self._pending.clear()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- the run


@dataclass
class _Doc:
    item: Item
    data: bytes = b""
    digest: str = ""
    output: Path | None = None
    rendered: bytes = b""
    counts: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)


class _Batch:
    def __init__(self, inputs: Sequence[Any], out_dir: Path, policy: Policy, opts: BatchOptions,
                 progress: Progress | None) -> None:
        if not inputs:
            raise BatchUsageError("no inputs given")
        if out_dir.exists() and not out_dir.is_dir():
            raise BatchUsageError(f"OUTDIR {out_dir} exists and is not a directory")
        if opts.mapping is not None and opts.mapping_key is None:
            raise BatchUsageError("--mapping needs a key (--key-env VAR or --key)")
        if opts.mapping_key is not None:
            check_key(opts.mapping_key.get_secret_value())
        self.out_dir, self.policy, self.opts, self.progress = out_dir, policy, opts, progress
        self.inputs = [os.fspath(i) for i in inputs]
        self.format_options = FormatOptions(columns=tuple(opts.columns))
        self.fingerprint = _sha256(json.dumps(
            [_FORMAT_VERSION, policy.content_hash, list(opts.columns), opts.consistent]).encode())
        self.shared_vault: Vault | None = None
        self.doc_tokens: dict[str, dict[str, dict[str, str]]] = {}
        self.notes: list[str] = []
        self.failed: list[tuple[str, str]] = []
        self.skipped: list[tuple[str, str]] = []
        self.converted: list[tuple[str, str, str]] = []
        self.entities: dict[str, int] = {}
        self.done = 0
        self.bytes_in = 0

    # -- setup -----------------------------------------------------------

    def _load_mapping(self) -> None:
        """Continue an existing mapping file, even with --force: it may be the only key to
        outputs this run does not touch, so it is extended, never dropped."""
        path, key = self.opts.mapping, self.opts.mapping_key
        previous: dict[str, Any] = {}
        if path is not None and key is not None and path.exists():
            previous = load_mapping(path, key.get_secret_value())
            if bool(previous.get("consistent")) != self.opts.consistent:
                made = "with" if previous.get("consistent") else "without"
                raise BatchUsageError(f"{path} was written by a run {made} --consistent; "
                                      "use the same mode or another mapping file")
        if self.opts.consistent:
            tokens = previous.get("tokens", {})
            self.shared_vault = vault_from_entries(tokens) if tokens else Vault()
        else:
            self.doc_tokens = dict(previous.get("documents", {}))

    def _resume_allowed(self) -> bool:
        if self.opts.force:
            return False
        if self.opts.consistent and self.opts.mapping is None:
            self.notes.append("resume disabled: --consistent without --mapping cannot continue the "
                              "placeholders of an earlier run, so every document is redone")
            return False
        return True

    # -- main loop ---------------------------------------------------------

    def run(self) -> BatchReport:
        started = time.monotonic()
        extra = [self.opts.mapping] if self.opts.mapping is not None else []
        items = ensure_outside_inputs(discover(self.inputs), self.out_dir, self.inputs, also=extra)
        self._load_mapping()
        engine = make_engine(self.opts.engine, self._engine_policy(), workers=self.opts.workers,
                             address=self.opts.address)
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            _remove_stale_tmp([self.out_dir / REPORT_NAME, *extra,
                               *(self.out_dir / i.output_rel for i in items if i.problem is None)])
            self.manifest = _Manifest(self.out_dir)
        except BaseException:
            engine.close()
            raise
        self.resume = self._resume_allowed()
        total = len(items)
        # Enough documents in flight to keep every worker busy with full tasks.
        window = max(4, engine.workers * 4 * getattr(engine, "jobs_per_task", 1))
        inflight_bytes = 0
        queue: deque[tuple[int, Item]] = deque(enumerate(items))
        inflight: dict[int, tuple[str, _Doc]] = {}
        finished = 0
        last_checkpoint = time.monotonic()
        try:
            while queue or inflight:
                # Bounded by count and by bytes, so memory stays flat whatever the corpus size.
                while queue and len(inflight) < window and (not inflight or inflight_bytes < _INFLIGHT_BYTES):
                    key, item = queue.popleft()
                    doc = self._prepare(item)
                    if doc is None:
                        finished += 1
                        self._tick(finished, total, started)
                        continue
                    inflight[key] = ("analyse", doc)
                    inflight_bytes += len(doc.data)
                    engine.submit(Job(key, doc.data, item.suffix, self.format_options))
                for result in engine.completed():
                    stage, doc = inflight.pop(result.key)
                    if stage == "analyse":
                        inflight_bytes -= len(doc.data)
                    nxt = self._advance(stage, doc, result)
                    if nxt is not None:
                        inflight[result.key] = ("verify", doc)
                        engine.submit(Job(result.key, nxt[1], nxt[0], self.format_options, verify=True))
                        continue
                    finished += 1
                    self._tick(finished, total, started)
                if time.monotonic() - last_checkpoint > _CHECKPOINT_S:
                    self._checkpoint()
                    last_checkpoint = time.monotonic()
        finally:
            engine.close()
            self._checkpoint()
        report = BatchReport(
            done=self.done, skipped=len(self.skipped), failed=tuple(sorted(self.failed)), entities=self.entities,
            skipped_files=tuple(sorted(self.skipped)), converted=tuple(sorted(self.converted)),
            elapsed_s=time.monotonic() - started, bytes_in=self.bytes_in, engine=engine.name,
            workers=engine.workers, notes=tuple(self.notes), report_path=self.out_dir / REPORT_NAME)
        atomic_write(self.out_dir / REPORT_NAME,
                     (json.dumps(report.as_dict(), indent=2, ensure_ascii=False) + "\n").encode())
        return report

    def _engine_policy(self) -> Policy:
        """The policy the workers detect under: the run's time budget, when one is given.

        Only the workers get it: the resume fingerprint stays that of the user's policy.
        """
        if self.opts.detect_budget_s is None:
            return self.policy
        limits = self.policy.limits.model_copy(update={"detect_budget_s": self.opts.detect_budget_s})
        return self.policy.model_copy(update={"limits": limits})

    def _tick(self, finished: int, total: int, started: float) -> None:
        if self.progress is not None:
            self.progress(finished, total, time.monotonic() - started)

    # -- stages ------------------------------------------------------------

    def _prepare(self, item: Item) -> _Doc | None:
        """Read and check one input; None when it is already settled (failed or skipped)."""
        if item.problem is not None:
            (self.skipped if item.skip else self.failed).append((item.display, item.problem))
            return None
        try:
            size = item.path.stat().st_size
            if size > self.opts.max_bytes:
                raise InputError(f"file too large ({_mb(size)}; the limit is {_mb(self.opts.max_bytes)})")
            data = item.path.read_bytes()
        except InputError as exc:
            self.failed.append((item.display, str(exc)))
            return None
        except OSError as exc:
            self.failed.append((item.display, _os_reason(exc)))
            return None
        doc = _Doc(item, data, _sha256(data), self.out_dir / item.output_rel)
        if self.resume and self.manifest.finished(item.rel, doc.digest, self.fingerprint, doc.output,
                                                  self.opts.verify):
            self.skipped.append((item.display, "unchanged since the last run (resume)"))
            return None
        self.bytes_in += len(data)
        return doc

    def _advance(self, stage: str, doc: _Doc, result: Analysed) -> tuple[str, bytes] | None:
        """Handle a finished job; returns (suffix, bytes) when the output must be verified first."""
        if result.reason is not None:
            self.failed.append((doc.item.display, result.reason))
            return None
        if stage == "verify":
            if result.residual:
                found = ", ".join(f"{t} x{n}" for t, n in result.residual)
                self.failed.append((doc.item.display, f"verify: output still holds detectable PII ({found}); "
                                                      "not written"))
                return None
            self._commit(doc)
            return None
        fmt = format_for(doc.item.suffix)
        assert fmt is not None and result.extracted is not None
        vault = self.shared_vault if self.shared_vault is not None else Vault()
        redactions = [vault.redact(text, ents) for text, ents in
                      zip(result.extracted.strings, result.entities, strict=True)]
        edits = [_edit(r) for r in redactions]
        try:
            doc.rendered = fmt.render(doc.data, result.extracted, edits)
        except InputError as exc:
            self.failed.append((doc.item.display, str(exc)))
            return None
        except Exception as exc:  # noqa: BLE001 - a writer's message may quote content
            self.failed.append((doc.item.display, f"could not write the redacted document ({type(exc).__name__})"))
            return None
        doc.counts = _entity_counts(redactions)
        if self.opts.mapping is not None and self.shared_vault is None:
            doc.tokens = vault_entries(vault)
        if self.opts.verify:
            return (fmt.output_suffix or doc.item.suffix), doc.rendered
        self._commit(doc)
        return None

    def _commit(self, doc: _Doc) -> None:
        assert doc.output is not None
        try:
            atomic_write(doc.output, doc.rendered)
        except OSError as exc:
            self.failed.append((doc.item.display, f"could not write output ({_os_reason(exc)})"))
            return
        self.done += 1
        for type_, n in doc.counts.items():
            self.entities[type_] = self.entities.get(type_, 0) + n
        fmt = format_for(doc.item.suffix)
        if fmt is not None and fmt.note:
            self.converted.append((doc.item.display, doc.item.output_rel.as_posix(), fmt.note))
        if doc.tokens:
            self.doc_tokens[doc.item.output_rel.as_posix()] = doc.tokens
        self.manifest.add({"input": doc.item.rel, "sha256": doc.digest, "fingerprint": self.fingerprint,
                           "output": doc.item.output_rel.as_posix(), "output_sha256": _sha256(doc.rendered),
                           "verified": self.opts.verify})
        doc.data = doc.rendered = b""
        if self.opts.mapping is None:
            self.manifest.flush()

    def _checkpoint(self) -> None:
        """Mapping first, then the manifest lines it covers: a resumed document always has its tokens."""
        if self.opts.mapping is not None and self.opts.mapping_key is not None:
            if self.shared_vault is not None:
                payload: dict[str, Any] = {"version": 1, "consistent": True, "policy": self.policy.name,
                                           "tokens": vault_entries(self.shared_vault)}
            else:
                payload = {"version": 1, "consistent": False, "policy": self.policy.name,
                           "documents": self.doc_tokens}
            save_mapping(self.opts.mapping, self.opts.mapping_key.get_secret_value(), payload, writer=atomic_write)
        self.manifest.flush(sync=True)


def _edit(redaction: Redaction) -> Edit:
    """The redacted text plus where each token went (for formats that edit in place)."""
    replacements, position, previous = [], 0, 0
    text = redaction.text
    for entity in redaction.entities:
        position += entity.start - previous
        end = text.index(">", position) + 1  # tokens are <TYPE_N>: the first '>' closes it
        replacements.append((entity.start, entity.end, text[position:end]))
        position, previous = end, entity.end
    return Edit(text, tuple(replacements))


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def _os_reason(exc: OSError) -> str:
    import errno

    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "unreadable (permission denied)"
    if exc.errno == errno.ENOENT:
        return "file disappeared before it could be read"
    if exc.errno == errno.EISDIR:
        return "is a directory"
    return f"unreadable ({exc.strerror or type(exc).__name__})"


def _entity_counts(redactions: Iterable[Redaction]) -> dict[str, int]:
    """Entities replaced, per type; input text that merely imitated a placeholder is not PII."""
    total: dict[str, int] = {}
    for redaction in redactions:
        for entity in redaction.entities:
            if entity.type != LOOKALIKE_TYPE:
                total[entity.type] = total.get(entity.type, 0) + 1
    return total
