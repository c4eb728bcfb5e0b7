"""The embedded store: one SQLite file (WAL), one writer at a time.

Across threads a lock, across processes ``BEGIN IMMEDIATE``, which takes SQLite's
write lock before the head is read, so two processes never chain onto the same
record. One machine only: several replicas need the PostgreSQL store.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import AuditError
from .sql import SqlStore


class _Sqlite:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        self._conn.execute(sql, params)

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> dict[str, Any] | None:
        row = self._conn.execute(sql, params).fetchone()
        return dict(row) if row is not None else None

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return [dict(row) for row in self._conn.execute(sql, params)]

    def iter(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[dict[str, Any]]:
        for row in self._conn.execute(sql, params):
            yield dict(row)

    def columns(self, table: str) -> set[str]:
        return {row[1] for row in self._conn.execute(f"PRAGMA table_info({table})")}

    def has_table(self, name: str) -> bool:
        return self._conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                                  (name,)).fetchone() is not None


class SQLiteStore(SqlStore):
    """Appends hash-chained records to one SQLite file. Thread- and process-safe on one machine."""

    dialect = "sqlite"

    def __init__(self, path: str | Path, *, key: bytes | None = None, now: Callable[[], datetime] | None = None,
                 read_only: bool = False) -> None:
        super().__init__(key=key, now=now, read_only=read_only)
        self.path = Path(path)
        self._lock = threading.RLock()
        self._conn_obj: sqlite3.Connection | None = None
        self._pid = -1

    def __repr__(self) -> str:  # never shows the key
        return f"SQLiteStore(path={str(self.path)!r}, keyed={self._key is not None})"

    @property
    def location(self) -> str:  # type: ignore[override]
        return str(self.path)

    def _open(self) -> sqlite3.Connection:
        if self.read_only:
            if not self.path.is_file():
                raise AuditError(f"no audit database at {self.path}")
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30.0, isolation_level=None,
                                   check_same_thread=False)
        else:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    def _conn(self) -> sqlite3.Connection:
        # A connection must not cross fork(): a child opens its own.
        if self._conn_obj is None or self._pid != os.getpid():
            try:
                self._conn_obj, self._pid = self._open(), os.getpid()
            except (OSError, sqlite3.Error) as exc:
                raise AuditError(f"audit store at {self.path} cannot be opened ({type(exc).__name__})") from exc
        return self._conn_obj

    @contextmanager
    def _tx(self, write: bool) -> Iterator[_Sqlite]:
        if write and self.read_only:
            raise AuditError(f"audit store at {self.path} is open read-only")
        with self._lock:
            conn = self._conn()
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield _Sqlite(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                what = "written to" if write else "read from"
                raise AuditError(f"audit store at {self.path} cannot be {what} ({type(exc).__name__})") from exc

    def _snapshot(self) -> Any:
        # A deferred transaction in WAL mode reads one snapshot from its first SELECT on.
        return self._tx(write=False)

    def close(self) -> None:
        with self._lock:
            if self._conn_obj is not None and self._pid == os.getpid():
                self._conn_obj.close()
            self._conn_obj = None
