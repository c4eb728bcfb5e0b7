"""PostgreSQL fixtures: one throw-away server per test session, a fresh schema per test.

``store_location`` runs a test twice, on a SQLite file and on PostgreSQL: the same
store suite for both. The server is started only by the tests that ask for it.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pg_server import TempPostgres


@pytest.fixture(scope="session")
def pg_server() -> Iterator[TempPostgres]:
    with TempPostgres() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: TempPostgres) -> str:
    """A database URL whose tables go to a schema of this test's own."""
    return pg_server.base_url() + f"?schema=t_{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["sqlite", "postgres"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> "str | Path":
    if request.param == "sqlite":
        return tmp_path / "store.db"
    return str(request.getfixturevalue("pg_url"))


def raw_sql(location: "str | Path", *statements: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Run statements straight on the database, as someone with write access but no key would.

    Returns the rows of the last statement (``?`` placeholders on both).
    """
    rows: list[dict[str, Any]] = []
    if isinstance(location, Path):
        conn = sqlite3.connect(str(location))
        conn.row_factory = sqlite3.Row
        for statement in statements:
            rows = [dict(r) for r in conn.execute(statement, params if statement == statements[-1] else ())]
        conn.commit()
        conn.close()
        return rows
    import psycopg
    from psycopg.rows import dict_row

    from privroute.stores.postgres import split_url

    conninfo, own = split_url(location)
    with psycopg.connect(conninfo, autocommit=True, row_factory=dict_row,
                         options=f"-c search_path={own.get('schema', 'privroute')}") as conn:
        for statement in statements:
            cursor = conn.execute(statement.replace("?", "%s"), params if statement == statements[-1] else ())
            rows = list(cursor.fetchall()) if cursor.description else []
    return rows
