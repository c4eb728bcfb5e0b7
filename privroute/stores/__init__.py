"""Where audit records and budget spend are kept: SQLite (one machine) or PostgreSQL (several replicas).

Which store, first match wins:

1. ``PRIVROUTE_DATABASE_URL`` (``postgresql://user@host:5432/db``, or ``sqlite:///path``);
2. ``PRIVROUTE_AUDIT_DB`` (a SQLite path);
3. the serve config's ``database_url`` (for the proxy), else the policy's ``audit.url``;
4. the policy's ``audit.path`` (SQLite);
5. ``~/.privroute/audit.db``.

Both stores have the same interface (``SqlStore``): ``append``, ``check_writable``,
``reserve``/``release``/``spent`` (the budget ledger), ``snapshot`` (verify,
export), and the read API ``records(...)``, ``stats(...)``, ``budget_status()``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ..errors import ConfigurationError
from .chain import CHECKPOINT_EVERY, GENESIS, Checkpoint, Head, VerifyReport, verify_snapshot
from .sql import HOLD_TTL_S, SCHEMA_VERSION, SqlStore
from .sqlite import SQLiteStore

__all__ = [
    "CHECKPOINT_EVERY",
    "ENV_DB",
    "ENV_URL",
    "GENESIS",
    "HOLD_TTL_S",
    "SCHEMA_VERSION",
    "Checkpoint",
    "Head",
    "SQLiteStore",
    "SqlStore",
    "VerifyReport",
    "default_path",
    "is_postgres",
    "open_store",
    "resolve_location",
    "verify_snapshot",
]

ENV_URL = "PRIVROUTE_DATABASE_URL"
ENV_DB = "PRIVROUTE_AUDIT_DB"
_PG_SCHEMES = ("postgresql://", "postgres://")


def default_path() -> Path:
    return Path.home() / ".privroute" / "audit.db"


def is_postgres(location: str | Path | None) -> bool:
    return isinstance(location, str) and location.startswith(_PG_SCHEMES)


def resolve_location(url: str | None = None, path: str | None = None) -> str | Path:
    """The store to use: environment first, then the given URL (serve config / policy), then the path."""
    chosen = os.environ.get(ENV_URL) or None
    if chosen:
        return _normalise(chosen)
    env_path = os.environ.get(ENV_DB)
    if env_path:
        return Path(env_path).expanduser()
    if url:
        return _normalise(url)
    return Path(path).expanduser() if path else default_path()


def _normalise(location: str) -> str | Path:
    if is_postgres(location):
        return location
    if location.startswith("sqlite:///"):
        return Path(location[len("sqlite:///") - 1:]).expanduser()
    if "://" in location:
        raise ConfigurationError(f"database URL scheme not supported: {location.split('://', 1)[0]}:// "
                                 "(use postgresql://... or sqlite:///path)")
    return Path(location).expanduser()


def open_store(location: str | Path, *, key: bytes | None = None, read_only: bool = False,
               now: Callable[[], datetime] | None = None) -> SqlStore:
    """A store for a PostgreSQL URL or a SQLite path (not cached: see ``privroute.audit.open_audit``)."""
    if isinstance(location, str):
        location = _normalise(location)
    if isinstance(location, str):
        from .postgres import PostgresStore

        return PostgresStore(location, key=key, read_only=read_only, now=now)
    return SQLiteStore(location, key=key, read_only=read_only, now=now)
