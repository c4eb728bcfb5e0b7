"""The audit log: one record per routed call, hash-chained, signed, with no raw PII.

Where: see ``privroute.stores`` (``PRIVROUTE_DATABASE_URL`` for PostgreSQL, else
``PRIVROUTE_AUDIT_DB``, the policy's ``audit.url`` / ``audit.path``, or
``~/.privroute/audit.db``, created on first write). A policy with
``audit.enabled: false`` writes nothing.

What a record holds: time, tenant, policy name and content hash, outcome, action,
sensitivity, reasons (rule ids), entity counts per type, backend, model, attempts,
tokens, cost, latency, error class, fallback reason. Never a prompt, an answer or
a detected value. Where a value must be correlatable (the prompt, what was sent),
the record holds HMAC-SHA256 under ``PRIVROUTE_AUDIT_KEY``; without a key those
fields stay empty: a plain hash of a short value (an SSN) is reversible by brute
force, an HMAC is not without the key.

Tamper evidence (``privroute.stores.chain``): every record stores the hash of the
previous one and its own hash over all its fields; the head (record count and
last hash) is kept in one row. ``verify`` finds an edited, deleted, inserted or
reordered record and a truncated tail. With a key, record hashes, the head (with
the store's id) and periodic checkpoints are signed, so someone who can write the
database but does not hold the key can neither rebuild a consistent chain nor cut
its tail; the checkpoint token ``verify`` prints, kept elsewhere, shows a database
that was rolled back or replaced (``verify(since=token)``).

This module keeps the names callers use; the stores live in ``privroute.stores``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .stores import ENV_DB, ENV_URL, SqlStore, default_path, open_store, resolve_location
from .stores.chain import ENV_KEY, GENESIS, Checkpoint, VerifyReport, key_from_env, verify_snapshot
from .stores.chain import record_hash as _record_hash
from .stores.sqlite import SQLiteStore

__all__ = [
    "AuditEvent",
    "AuditStore",
    "Checkpoint",
    "NullAudit",
    "VerifyReport",
    "default_path",
    "export",
    "open_audit",
    "open_reader",
    "resolve_path",
    "stats",
    "verify",
]

OUTCOMES = ("answered", "blocked", "error")
AuditStore = SQLiteStore
"""The SQLite store under its historical name: ``AuditStore(path, key=...)``."""
_ = (ENV_DB, ENV_URL, ENV_KEY, GENESIS, _record_hash)  # kept importable from here


@dataclass(frozen=True)
class AuditEvent:
    """What the router reports about one call. Counts, names and HMACs only."""

    outcome: str
    policy: str
    policy_hash: str
    tenant: str = "default"
    action: str | None = None
    sensitivity: str | None = None
    reasons: tuple[str, ...] = ()
    entities: Mapping[str, int] = field(default_factory=dict)
    target: str | None = None
    backend: str | None = None
    model: str | None = None
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None
    latency_s: float = 0.0
    error: str | None = None
    fallback_reason: str | None = None
    truncated: bool = False
    stream: bool = False
    prompt_hmac: str | None = None
    sent_hmac: str | None = None
    loosened: tuple[tuple[str, str], ...] = ()
    """``(key, reason)`` of each declared policy loosening this decision went through."""
    frontier_status: int | None = None
    """The upstream HTTP status of a frontier call that failed (429, 5xx, ...), after its retries; None
    when it did not fail or failed without one (a timeout, a refused connection, an open circuit)."""

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}")


def resolve_path(configured: str | None = None) -> str | Path:
    """The store location: ``PRIVROUTE_DATABASE_URL``, ``PRIVROUTE_AUDIT_DB``, then ``configured``, then the default.

    A SQLite store is a Path, a PostgreSQL store its URL (a str).
    """
    url = configured if configured and "://" in configured else None
    return resolve_location(url, None if url else configured)


class NullAudit:
    """``audit.enabled: false``: nothing is written, nothing is refused."""

    persistent = False
    keyed = False
    path = None

    def __repr__(self) -> str:
        return "NullAudit()"

    def hmac(self, value: str | None) -> str | None:
        return None

    def check_writable(self) -> None:
        return None

    def append(self, event: AuditEvent, *, settles: str | None = None) -> int:
        return 0

    def close(self) -> None:
        return None


_stores: dict[str, SqlStore] = {}
_stores_lock = threading.Lock()


def open_audit(config: Any, *, url: str | None = None) -> "SqlStore | NullAudit":
    """The store for a policy's ``audit:`` block (``url``: the serve config's); one instance per place and key."""
    if not config.enabled:
        return NullAudit()
    location = resolve_location(url or getattr(config, "url", None), config.path)
    where = str(location.resolve()) if isinstance(location, Path) and str(location) != ":memory:" else str(location)
    if str(location) == ":memory:":
        where = f":memory:{id(config)}"
    cache_key = f"{where}|{os.environ.get(ENV_KEY, '')}"
    with _stores_lock:
        store = _stores.get(cache_key)
        if store is None:
            store = _stores[cache_key] = open_store(location)
        return store


# ------------------------------------------------------------------ verify / export / stats


def open_reader(location: str | Path) -> SqlStore:
    """A read-only store on an existing database (verify, export, stats, a dashboard)."""
    return open_store(location, read_only=True)


def _since(since: "Checkpoint | str | int | None") -> "Checkpoint | int | None":
    if isinstance(since, str):
        text = since.strip()
        return int(text) if text.isdigit() else Checkpoint.parse(text)
    return since


def verify(location: str | Path, *, key: bytes | None = None,
           since: "Checkpoint | str | int | None" = None) -> VerifyReport:
    """Walk the chain (from ``since``, a checkpoint token or a stored checkpoint's record number, if given).

    The report names the first record that was edited, deleted, inserted or moved, a
    cut tail, a rewritten head, or a database that is not the checkpoint's.
    """
    key = key if key is not None else key_from_env()
    store = open_reader(location)
    try:
        with store.snapshot() as snapshot:
            return verify_snapshot(snapshot, key=key, since=_since(since))
    finally:
        store.close()


def export(location: str | Path, out: IO[str], *, key: bytes | None = None,
           since: "Checkpoint | str | int | None" = None) -> VerifyReport:
    """Verify the chain and write each verified record as one JSON line to ``out``.

    The caller keeps what was written only if the report is ok (the CLI writes to a
    temporary file and renames it).
    """
    key = key if key is not None else key_from_env()
    store = open_reader(location)

    def emit(row: Mapping[str, Any]) -> None:
        out.write(json.dumps(dict(row), sort_keys=True, ensure_ascii=True) + "\n")

    try:
        with store.snapshot() as snapshot:
            return verify_snapshot(snapshot, key=key, since=_since(since), emit=emit)
    finally:
        store.close()


def stats(location: str | Path, **filters: str | None) -> dict[str, Any]:
    """Counts, tokens and cost: in total and by action, sensitivity, backend, tenant, day, outcome."""
    store = open_reader(location)
    try:
        return store.stats(**filters)
    finally:
        store.close()

