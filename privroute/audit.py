"""The audit log: one SQLite record per routed call, hash-chained, with no raw PII.

Where: ``PRIVROUTE_AUDIT_DB`` if set, else the policy's ``audit.path``, else
``~/.privroute/audit.db`` (created on first write). A policy with
``audit.enabled: false`` writes nothing.

What a record holds: time, tenant, policy name and content hash, outcome, action,
sensitivity, reasons (rule ids), entity counts per type, backend, model, attempts,
tokens, cost, latency, error class, fallback reason. Never a prompt, an answer or
a detected value. Where a value must be correlatable (the prompt, what was sent),
the record holds HMAC-SHA256 under ``PRIVROUTE_AUDIT_KEY``; without a key those
fields stay empty: a plain hash of a short value (an SSN) is reversible by brute
force, an HMAC is not without the key.

Tamper evidence: every record stores the hash of the previous one and its own
hash over all its fields (``hash = sha256(canonical JSON)``), and a one-row
``head`` table holds the last sequence number and hash. ``verify`` finds an
edited, deleted, inserted or reordered record, and a truncated tail. With a key,
each hash is also signed (HMAC), so someone who can write the file but does not
hold the key cannot rebuild a consistent chain.

One writer at a time, across threads (a lock) and processes (``BEGIN IMMEDIATE``
takes SQLite's write lock before the head is read, so two processes can never
chain onto the same record).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .errors import AuditError

__all__ = [
    "AuditEvent",
    "AuditStore",
    "NullAudit",
    "VerifyReport",
    "default_path",
    "open_audit",
    "resolve_path",
    "stats",
    "verify",
]

GENESIS = "0" * 64
ENV_DB = "PRIVROUTE_AUDIT_DB"
ENV_KEY = "PRIVROUTE_AUDIT_KEY"
OUTCOMES = ("answered", "blocked", "error")

_COLUMNS: dict[str, str] = {
    "seq": "INTEGER PRIMARY KEY",
    "ts": "TEXT NOT NULL",
    "day": "TEXT NOT NULL",
    "tenant": "TEXT NOT NULL",
    "policy": "TEXT NOT NULL",
    "policy_hash": "TEXT NOT NULL",
    "outcome": "TEXT NOT NULL",
    "action": "TEXT",
    "sensitivity": "TEXT",
    "reasons": "TEXT NOT NULL",
    "entities": "TEXT NOT NULL",
    "target": "TEXT",
    "backend": "TEXT",
    "model": "TEXT",
    "attempts": "INTEGER NOT NULL",
    "prompt_tokens": "INTEGER NOT NULL",
    "completion_tokens": "INTEGER NOT NULL",
    "cost": "REAL",
    "latency_s": "REAL NOT NULL",
    "error": "TEXT",
    "fallback_reason": "TEXT",
    "truncated": "INTEGER NOT NULL",
    "stream": "INTEGER NOT NULL",
    "prompt_hmac": "TEXT",
    "sent_hmac": "TEXT",
    "loosened": "TEXT",
    "prev_hash": "TEXT NOT NULL",
    "hash": "TEXT NOT NULL",
    "sig": "TEXT",
}
_UNHASHED = ("hash", "sig")
# Columns added after the first release: NULL in older records, and left out of the
# hashed body while NULL, so records written before they existed still verify.
_ADDED = {"loosened": "TEXT"}
_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS records ({', '.join(f'{k} {v}' for k, v in _COLUMNS.items())})",
    "CREATE TABLE IF NOT EXISTS head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, "
    "hash TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS records_tenant_day ON records (tenant, day)",
)


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

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}")


def default_path() -> Path:
    return Path.home() / ".privroute" / "audit.db"


def resolve_path(configured: str | None = None) -> Path:
    """``PRIVROUTE_AUDIT_DB``, else the policy's ``audit.path``, else the default."""
    chosen = os.environ.get(ENV_DB) or configured
    return Path(chosen).expanduser() if chosen else default_path()


def _key_from_env() -> bytes | None:
    value = os.environ.get(ENV_KEY)
    return value.encode("utf-8") if value else None


def _canonical(record: Mapping[str, Any]) -> bytes:
    body = {k: record.get(k) for k in _COLUMNS
            if k not in _UNHASHED and not (k in _ADDED and record.get(k) is None)}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _record_hash(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical(record)).hexdigest()


def _sign(key: bytes, digest: str) -> str:
    return hmac.new(key, b"record:" + digest.encode(), hashlib.sha256).hexdigest()


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


class AuditStore:
    """Appends hash-chained records to one SQLite file. Thread- and process-safe."""

    persistent = True

    def __init__(self, path: str | Path, *, key: bytes | None = None,
                 now: Callable[[], datetime] | None = None) -> None:
        self.path = Path(path)
        self._key = key if key is not None else _key_from_env()
        self._now = now or (lambda: datetime.now(timezone.utc))
        self._lock = threading.Lock()
        self._conn_obj: sqlite3.Connection | None = None
        self._pid = -1

    def __repr__(self) -> str:  # never shows the key
        return f"AuditStore(path={str(self.path)!r}, keyed={self._key is not None})"

    @property
    def keyed(self) -> bool:
        return self._key is not None

    def hmac(self, value: str | None) -> str | None:
        """HMAC-SHA256 of a value under the audit key; None without a key."""
        if value is None or self._key is None:
            return None
        return hmac.new(self._key, b"value:" + value.encode("utf-8"), hashlib.sha256).hexdigest()

    def _conn(self) -> sqlite3.Connection:
        # A connection must not cross fork(): a child opens its own.
        if self._conn_obj is None or self._pid != os.getpid():
            try:
                if str(self.path) != ":memory:":
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = _connect(self.path)
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for statement in _SCHEMA:
                        conn.execute(statement)
                    present = {row[1] for row in conn.execute("PRAGMA table_info(records)")}
                    for column, kind in _ADDED.items():
                        if column not in present:  # a database from before the column existed
                            conn.execute(f"ALTER TABLE records ADD COLUMN {column} {kind}")
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except (OSError, sqlite3.Error) as exc:
                raise AuditError(f"audit store at {self.path} cannot be opened ({type(exc).__name__})") from exc
            self._conn_obj, self._pid = conn, os.getpid()
        return self._conn_obj

    def check_writable(self) -> None:
        """Raise AuditError unless a record could be written now (takes the write lock briefly)."""
        with self._lock:
            conn = self._conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
            except sqlite3.Error as exc:
                raise AuditError(f"audit store at {self.path} is not writable ({type(exc).__name__})") from exc

    def append(self, event: AuditEvent) -> int:
        """Write one record; returns its sequence number. Raises AuditError."""
        when = self._now().astimezone(timezone.utc)
        data = asdict(event)
        data["reasons"] = json.dumps(list(event.reasons))
        data["entities"] = json.dumps({str(k): int(v) for k, v in sorted(dict(event.entities).items())},
                                      sort_keys=True)
        data["truncated"], data["stream"] = int(event.truncated), int(event.stream)
        data["loosened"] = json.dumps([{"key": k, "reason": r} for k, r in event.loosened]) if event.loosened \
            else None
        data["cost"] = None if event.cost is None else float(event.cost)
        data["latency_s"] = float(event.latency_s)
        data["ts"], data["day"] = when.isoformat(timespec="microseconds"), when.date().isoformat()
        with self._lock:
            conn = self._conn()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    head = conn.execute("SELECT seq, hash FROM head WHERE id = 1").fetchone()
                    data["seq"] = (head["seq"] if head else 0) + 1
                    data["prev_hash"] = head["hash"] if head else GENESIS
                    data["hash"] = _record_hash(data)
                    data["sig"] = _sign(self._key, data["hash"]) if self._key else None
                    names = list(_COLUMNS)
                    conn.execute(f"INSERT INTO records ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                                 [data[n] for n in names])
                    conn.execute("INSERT OR REPLACE INTO head (id, seq, hash) VALUES (1, ?, ?)",
                                 (data["seq"], data["hash"]))
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise AuditError(f"audit record could not be written to {self.path} ({type(exc).__name__})") from exc
        return int(data["seq"])

    def spent(self, tenant: str, day: str) -> tuple[int, float]:
        """Frontier tokens and cost recorded for a tenant on a UTC day (the budget ledger)."""
        with self._lock:
            conn = self._conn()
            try:
                row = conn.execute(
                    "SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS tokens, "
                    "COALESCE(SUM(cost), 0.0) AS cost FROM records "
                    "WHERE tenant = ? AND day = ? AND target = 'frontier'", (tenant, day)).fetchone()
            except sqlite3.Error as exc:
                raise AuditError(f"audit store at {self.path} cannot be read ({type(exc).__name__})") from exc
        return int(row["tokens"]), float(row["cost"])

    def today(self) -> str:
        return self._now().astimezone(timezone.utc).date().isoformat()

    def close(self) -> None:
        with self._lock:
            if self._conn_obj is not None and self._pid == os.getpid():
                self._conn_obj.close()
            self._conn_obj = None


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

    def append(self, event: AuditEvent) -> int:
        return 0

    def close(self) -> None:
        return None


_stores: dict[str, AuditStore] = {}
_stores_lock = threading.Lock()


def open_audit(config: Any) -> "AuditStore | NullAudit":
    """The store for a policy's ``audit:`` block; one shared instance per file and key."""
    if not config.enabled:
        return NullAudit()
    path = resolve_path(config.path)
    cache_key = f"{path.resolve() if str(path) != ':memory:' else id(config)}|{os.environ.get(ENV_KEY, '')}"
    with _stores_lock:
        store = _stores.get(cache_key)
        if store is None:
            store = _stores[cache_key] = AuditStore(path)
        return store


# ------------------------------------------------------------------ verify / stats


@dataclass(frozen=True)
class VerifyReport:
    """``ok`` with the record count, or the first bad record and what is wrong with it."""

    ok: bool
    records: int
    first_bad: int | None = None
    problem: str | None = None
    signatures: str = "unchecked"
    """"checked" when a key was given and records were signed, else "unchecked"."""


def _open_existing(path: str | Path) -> sqlite3.Connection:
    path = Path(path)
    if not path.is_file():
        raise AuditError(f"no audit database at {path}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30.0)
        conn.row_factory = sqlite3.Row
        conn.execute("SELECT 1 FROM records LIMIT 1")
    except sqlite3.Error as exc:
        raise AuditError(f"{path} is not a privroute audit database ({type(exc).__name__})") from exc
    return conn


def _rows(conn: sqlite3.Connection) -> Iterator[dict[str, Any]]:
    # A database written before a column was added (and opened read-only) lacks it.
    present = {row[1] for row in conn.execute("PRAGMA table_info(records)")}
    columns = [c for c in _COLUMNS if c in present or c not in _ADDED]
    for row in conn.execute(f"SELECT {', '.join(columns)} FROM records ORDER BY seq"):
        yield dict(row)


def verify(path: str | Path, *, key: bytes | None = None) -> VerifyReport:
    """Walk the chain; name the first record that was edited, deleted, inserted or moved."""
    key = key if key is not None else _key_from_env()
    conn = _open_existing(path)
    try:
        count, prev_seq, prev_hash, signed_seen = 0, 0, GENESIS, False

        def bad(seq: int, problem: str) -> VerifyReport:
            return VerifyReport(False, count, seq, problem, "checked" if key and signed_seen else "unchecked")

        for row in _rows(conn):
            seq = int(row["seq"])
            if seq != prev_seq + 1:
                return bad(prev_seq + 1, f"record {prev_seq + 1} is missing (the next record is {seq}): deleted")
            if row["prev_hash"] != prev_hash:
                return bad(seq, f"record {seq} does not follow record {prev_seq}: "
                                "a record before it was deleted, replaced or reordered")
            if _record_hash(row) != row["hash"]:
                return bad(seq, f"record {seq} does not match its hash: edited")
            if key is not None:
                if row["sig"] is not None:
                    signed_seen = True
                    if not hmac.compare_digest(row["sig"], _sign(key, row["hash"])):
                        return bad(seq, f"record {seq} has an invalid signature: rewritten without the key "
                                        "(or verified with a different key)")
                elif signed_seen:
                    return bad(seq, f"record {seq} is unsigned after signed records: rewritten")
            count, prev_seq, prev_hash = count + 1, seq, row["hash"]
        head = conn.execute("SELECT seq, hash FROM head WHERE id = 1").fetchone()
        head_seq, head_hash = (int(head["seq"]), head["hash"]) if head else (0, GENESIS)
        if (head_seq, head_hash) != (prev_seq, prev_hash):
            if head_seq > prev_seq:
                return bad(prev_seq + 1, f"records {prev_seq + 1}..{head_seq} are missing from the end: deleted")
            return bad(prev_seq, f"record {prev_seq} is not the recorded head of the chain: tampered")
        return VerifyReport(True, count, signatures="checked" if key and signed_seen else "unchecked")
    except sqlite3.Error as exc:
        raise AuditError(f"audit database {path} cannot be read ({type(exc).__name__})") from exc
    finally:
        conn.close()


_GROUPS = ("action", "sensitivity", "backend", "tenant", "day", "outcome")


def stats(path: str | Path) -> dict[str, Any]:
    """Counts, tokens and cost: in total and by action, sensitivity, backend, tenant, day, outcome."""
    conn = _open_existing(path)
    measures = ("COUNT(*) AS calls, COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens, "
                "COALESCE(SUM(completion_tokens), 0) AS completion_tokens, COALESCE(SUM(cost), 0.0) AS cost")
    try:
        total = dict(conn.execute(f"SELECT {measures} FROM records").fetchone())
        report: dict[str, Any] = {"records": total.pop("calls"), **total}
        for column in _GROUPS:
            rows = conn.execute(f"SELECT COALESCE({column}, '-') AS k, {measures} FROM records "
                                f"GROUP BY k ORDER BY k")
            report[f"by_{column}"] = {row["k"]: {key: row[key] for key in row.keys() if key != "k"}
                                      for row in rows}
        return report
    except sqlite3.Error as exc:
        raise AuditError(f"audit database {path} cannot be read ({type(exc).__name__})") from exc
    finally:
        conn.close()
