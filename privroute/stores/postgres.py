"""The shared store: PostgreSQL through psycopg 3 and a connection pool (``pip install 'privroute[postgres]'``).

Several proxy replicas (and uvicorn workers) append to one chain: ``append``
takes the head row ``FOR UPDATE`` inside its transaction, so appends from any
number of processes are totally ordered, and a writer killed mid-append leaves
nothing (its transaction never commits). Budget reservations lock the tenant's
day row the same way. The tables live in their own schema (``privroute`` by
default; ``?schema=NAME`` in the URL picks another), created and migrated by
privroute under an advisory lock, so replicas starting together do it once.

Connections are checked when taken from the pool, so a database that went away
and came back is used again without a restart; while it is away every call
fails with StoreUnavailable within ``?pool_timeout=`` seconds (default 5).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import AuditError, MissingDependency, StoreUnavailable
from .sql import SqlStore

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_MIGRATION_LOCK = 0x70726976  # pg_advisory_xact_lock key for schema changes ("priv")
_OWN_PARAMS = ("schema", "pool_size", "pool_timeout")


def _driver() -> tuple[Any, Any, Any]:
    try:
        import psycopg
        import psycopg_pool
        from psycopg.rows import dict_row
    except ImportError as exc:
        raise MissingDependency("psycopg/psycopg_pool", "postgres") from exc
    return psycopg, psycopg_pool, dict_row


def redact_url(url: str) -> str:
    """The URL without its password, for messages and reprs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{netloc[-1]}"))


def split_url(url: str) -> tuple[str, dict[str, str]]:
    """(the libpq URL, privroute's own options) from ``postgresql://...?schema=x&pool_size=8``."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    own = {k: v for k, v in query if k in _OWN_PARAMS}
    rest = [(k, v) for k, v in query if k not in _OWN_PARAMS]
    return urlunsplit(parts._replace(query=urlencode(rest))), own


class _Pg:
    def __init__(self, conn: Any) -> None:
        self._conn = conn

    @staticmethod
    def _q(sql: str) -> str:
        return sql.replace("?", "%s")

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        self._conn.execute(self._q(sql), params)

    def one(self, sql: str, params: tuple[Any, ...] = ()) -> dict[str, Any] | None:
        return self._conn.execute(self._q(sql), params).fetchone()

    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return list(self._conn.execute(self._q(sql), params).fetchall())

    def iter(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[dict[str, Any]]:
        # A server-side cursor: a long chain is streamed, not loaded whole.
        with self._conn.cursor(name=f"privroute_{os.getpid()}_{threading.get_ident()}") as cursor:
            cursor.itersize = 2000
            cursor.execute(self._q(sql), params)
            yield from cursor

    def columns(self, table: str) -> set[str]:
        rows = self._conn.execute("SELECT column_name FROM information_schema.columns WHERE table_schema = "
                                  "current_schema() AND table_name = %s", (table,)).fetchall()
        return {row["column_name"] for row in rows}

    def has_table(self, name: str) -> bool:
        row = self._conn.execute("SELECT to_regclass(%s) AS t", (name,)).fetchone()
        return row is not None and row["t"] is not None


class PostgresStore(SqlStore):
    """The audit chain and budget ledger in PostgreSQL, shared by every replica."""

    dialect = "postgresql"
    _for_update = " FOR UPDATE"
    _types = 1

    def __init__(self, url: str, *, key: bytes | None = None, now: Callable[[], datetime] | None = None,
                 read_only: bool = False) -> None:
        super().__init__(key=key, now=now, read_only=read_only)
        self.url = url
        self._conninfo, own = split_url(url)
        self.schema = own.get("schema", "privroute")
        if not _SCHEMA_NAME.match(self.schema):
            raise AuditError(f"schema {self.schema!r} in the database URL is not a plain lower-case name")
        try:
            self._pool_size = max(1, int(own.get("pool_size", "8")))
            self._pool_timeout = max(0.1, float(own.get("pool_timeout", "5")))
        except ValueError:
            raise AuditError("pool_size and pool_timeout in the database URL must be numbers") from None
        self._pool_obj: Any = None
        self._pid = -1
        self._pool_lock = threading.Lock()
        self._reset_at = 0.0

    def __repr__(self) -> str:  # never shows the key or the password
        return f"PostgresStore(url={redact_url(self.url)!r}, schema={self.schema!r}, keyed={self._key is not None})"

    @property
    def location(self) -> str:  # type: ignore[override]
        return redact_url(self.url)

    def _pool(self) -> Any:
        # A pool must not cross fork(): each worker process opens its own.
        if self._pool_obj is None or self._pid != os.getpid():
            with self._pool_lock:
                if self._pool_obj is None or self._pid != os.getpid():
                    _, psycopg_pool, dict_row = _driver()
                    self._pool_obj = psycopg_pool.ConnectionPool(
                        self._conninfo, min_size=1, max_size=self._pool_size, timeout=self._pool_timeout,
                        open=True, check=psycopg_pool.ConnectionPool.check_connection,
                        kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": 5,
                                "options": f"-c search_path={self.schema}"},
                        name=f"privroute-{self.schema}")
                    self._pid = os.getpid()
        return self._pool_obj

    @contextmanager
    def _connection(self, *, write: bool, snapshot: bool = False) -> Iterator[_Pg]:
        if write and self.read_only:
            raise AuditError(f"audit store at {self.location} is open read-only")
        psycopg, psycopg_pool, _ = _driver()
        what = "written to" if write else "read from"
        try:
            with self._pool().connection() as conn, conn.transaction():
                if snapshot:
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                yield _Pg(conn)
        except (psycopg_pool.PoolTimeout, psycopg.OperationalError) as exc:
            self._reset_pool()
            raise StoreUnavailable(f"audit store at {self.location} cannot be reached ({type(exc).__name__})") \
                from exc
        except psycopg.Error as exc:
            raise AuditError(f"audit store at {self.location} cannot be {what} ({type(exc).__name__})") from exc

    def _reset_pool(self) -> None:
        """Start over with a fresh pool after a connection failure.

        A pool whose connection attempts failed backs off exponentially; once the
        database is back, a fresh pool connects at once instead of after the backoff.
        """
        with self._pool_lock:
            old, now = self._pool_obj, time.monotonic()
            if old is None or now - self._reset_at < 1.0:
                return
            self._pool_obj, self._reset_at = None, now
        if self._pid == os.getpid():
            threading.Thread(target=old.close, kwargs={"timeout": 1.0}, daemon=True).start()

    def _tx(self, write: bool) -> Any:
        return self._connection(write=write)

    def _snapshot(self) -> Any:
        return self._connection(write=False, snapshot=True)

    def _lock_schema(self, sql: Any) -> None:
        sql.run(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})")
        sql.run(f"CREATE SCHEMA IF NOT EXISTS {self.schema}")

    def close(self) -> None:
        with self._pool_lock:
            if self._pool_obj is not None and self._pid == os.getpid():
                self._pool_obj.close()
            self._pool_obj = None
