"""What the SQLite and PostgreSQL stores share: schema and migrations, append, budget holds, reads.

A store is the audit chain *and* the budget ledger, in one database, so that an
answer's record and its spend are written in one transaction:

* ``append(event, settles=hold)`` locks the head, chains the record onto it,
  signs the new head, adds a frontier call's tokens and cost to the tenant's
  day, and removes the call's budget hold, all or nothing;
* ``reserve(tenant, day, tokens, cost, decide)`` locks the tenant's day, hands
  ``decide`` what is spent plus what calls in flight hold, and (if it does not
  raise) inserts a hold. Holds of a process that died expire after
  ``HOLD_TTL_S``.

The dialects differ only in how a connection is had (``_tx``), how a row is
locked (``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` locks the
whole file), column types, and how a table's existence is asked.

Schema versions (the ``meta`` table holds ``schema_version`` and ``store_id``):
1. ``records``, ``head`` (privroute before this table existed);
2. ``meta``, a signed head, ``checkpoints``, ``budget_spend`` (filled from the
   records), ``budget_holds``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any, Protocol

from .chain import (
    ADDED,
    CHECKPOINT_EVERY,
    COLUMNS,
    GENESIS,
    NAMES,
    Checkpoint,
    Head,
    Snapshot,
    key_from_env,
    record_hash,
    sign_checkpoint,
    sign_head,
    sign_record,
)

SCHEMA_VERSION = 2
HOLD_TTL_S = 900.0
"""A budget hold of a call that never settled (its process died) stops counting after this."""
GROUPS = ("action", "sensitivity", "backend", "tenant", "day", "outcome")
_MEASURES = ("COUNT(*) AS calls, COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens, "
             "COALESCE(SUM(completion_tokens), 0) AS completion_tokens, COALESCE(SUM(cost), 0.0) AS cost")


class Sql(Protocol):
    """One transaction's statements; ``?`` placeholders in every dialect."""

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> None: ...
    def one(self, sql: str, params: tuple[Any, ...] = ()) -> dict[str, Any] | None: ...
    def all(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]: ...
    def iter(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[dict[str, Any]]: ...
    def has_table(self, name: str) -> bool: ...
    def columns(self, table: str) -> set[str]: ...


def event_row(event: Any, when: datetime) -> dict[str, Any]:
    """An AuditEvent as the columns of a record (without seq, links and signature)."""
    when = when.astimezone(timezone.utc)
    data = asdict(event)
    data["reasons"] = json.dumps(list(event.reasons))
    data["entities"] = json.dumps({str(k): int(v) for k, v in sorted(dict(event.entities).items())}, sort_keys=True)
    data["truncated"], data["stream"] = int(event.truncated), int(event.stream)
    loosened = getattr(event, "loosened", ())
    data["loosened"] = json.dumps([{"key": k, "reason": r} for k, r in loosened]) if loosened else None
    data["cost"] = None if event.cost is None else float(event.cost)
    data["latency_s"] = float(event.latency_s)
    data["ts"], data["day"] = when.isoformat(timespec="microseconds"), when.date().isoformat()
    return data


def _decoded(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["reasons"] = json.loads(out["reasons"])
    out["entities"] = json.loads(out["entities"])
    out["truncated"], out["stream"] = bool(out["truncated"]), bool(out["stream"])
    out["loosened"] = json.loads(out["loosened"]) if out.get("loosened") else []
    return out


class SqlStore:
    """The audit chain and budget ledger over one database. Thread- and process-safe."""

    persistent = True
    dialect = "sql"
    _for_update = ""
    _types = 0  # index into chain.COLUMNS' (SQLite, PostgreSQL) types

    def __init__(self, *, key: bytes | None = None, now: Callable[[], datetime] | None = None,
                 read_only: bool = False) -> None:
        self._key = key if key is not None else key_from_env()
        self._now = now or (lambda: datetime.now(timezone.utc))
        self.read_only = read_only
        self._store_id: str | None = None
        self._ready_lock = threading.Lock()

    # -------------------------------------------------------------- dialect hooks

    location = "?"

    def _tx(self, write: bool) -> AbstractContextManager[Sql]:
        """A transaction; driver errors leave it as AuditError/StoreUnavailable."""
        raise NotImplementedError

    def _snapshot(self) -> AbstractContextManager[Sql]:
        """A read transaction that sees one moment of the database."""
        raise NotImplementedError

    def _lock_schema(self, sql: Sql) -> None:
        """Serialise migrations between processes (SQLite's write lock already does)."""

    def _int(self) -> str:
        return "INTEGER" if self._types == 0 else "BIGINT"

    def _real(self) -> str:
        return "REAL" if self._types == 0 else "DOUBLE PRECISION"

    # -------------------------------------------------------------- schema

    def _migrate(self, sql: Sql) -> str:
        """Bring the schema to SCHEMA_VERSION; returns the store id."""
        self._lock_schema(sql)
        version = self._version(sql)
        if version < 1:
            columns = ", ".join(f"{name} {types[self._types]}" for name, types in COLUMNS.items())
            sql.run(f"CREATE TABLE IF NOT EXISTS records ({columns})")
            sql.run(f"CREATE TABLE IF NOT EXISTS head (id INTEGER PRIMARY KEY CHECK (id = 1), "
                    f"seq {self._int()} NOT NULL, hash TEXT NOT NULL)")
            sql.run("CREATE INDEX IF NOT EXISTS records_tenant_day ON records (tenant, day)")
        present = sql.columns("records")
        for column in ADDED:
            if column not in present:  # a database written before the column existed
                sql.run(f"ALTER TABLE records ADD COLUMN {column} {COLUMNS[column][self._types].split()[0]}")
        # Read indexes for time ranges and per-policy views (the dashboard), checked on every open so
        # that a store written before them gains them (built once; they do not change the schema
        # version). PostgreSQL is asked first: its CREATE INDEX IF NOT EXISTS locks out appends
        # before it finds the index there.
        for index, columns in (("records_ts", "ts"), ("records_policy_ts", "policy, ts")):
            if self._types == 0 or not sql.has_table(index):
                sql.run(f"CREATE INDEX IF NOT EXISTS {index} ON records ({columns})")
        if version < 2:
            sql.run("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            sql.run("ALTER TABLE head ADD COLUMN sig TEXT")
            sql.run(f"CREATE TABLE IF NOT EXISTS checkpoints (seq {self._int()} PRIMARY KEY, hash TEXT NOT NULL, "
                    "sig TEXT, ts TEXT NOT NULL)")
            sql.run(f"CREATE TABLE IF NOT EXISTS budget_spend (tenant TEXT NOT NULL, day TEXT NOT NULL, "
                    f"tokens {self._int()} NOT NULL, cost {self._real()} NOT NULL, PRIMARY KEY (tenant, day))")
            sql.run(f"CREATE TABLE IF NOT EXISTS budget_holds (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, "
                    f"day TEXT NOT NULL, tokens {self._int()} NOT NULL, cost {self._real()} NOT NULL, "
                    f"expires {self._real()} NOT NULL)")
            sql.run("CREATE INDEX IF NOT EXISTS budget_holds_tenant_day ON budget_holds (tenant, day)")
            # The ledger so far is what the records say was spent on the frontier.
            sql.run("INSERT INTO budget_spend (tenant, day, tokens, cost) SELECT tenant, day, "
                    "COALESCE(SUM(prompt_tokens + completion_tokens), 0), COALESCE(SUM(cost), 0.0) "
                    "FROM records WHERE target = 'frontier' GROUP BY tenant, day")
            store_id = str(uuid.uuid4())
            sql.run("INSERT INTO meta (key, value) VALUES ('store_id', ?)", (store_id,))
            sql.run("INSERT INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            head = sql.one("SELECT seq, hash FROM head WHERE id = 1")
            seq, digest = (int(head["seq"]), head["hash"]) if head else (0, GENESIS)
            if head is None:
                sql.run("INSERT INTO head (id, seq, hash) VALUES (1, 0, ?)", (GENESIS,))
            # Trust on migration: the chain a schema-1 store holds now is signed as it is.
            sig = sign_head(self._key, store_id, seq, digest) if self._key else None
            sql.run("UPDATE head SET sig = ? WHERE id = 1", (sig,))
        row = sql.one("SELECT value FROM meta WHERE key = 'store_id'")
        assert row is not None
        return str(row["value"])

    def _version(self, sql: Sql) -> int:
        if sql.has_table("meta"):
            row = sql.one("SELECT value FROM meta WHERE key = 'schema_version'")
            version = int(row["value"]) if row else 1
            if version > SCHEMA_VERSION:
                from ..errors import AuditError

                raise AuditError(f"audit store at {self.location} has schema {version}; this privroute knows "
                                 f"{SCHEMA_VERSION}: upgrade privroute")
            return version
        return 1 if sql.has_table("records") else 0

    def _ready(self) -> str:
        """The store id, creating or migrating the schema on first use."""
        if self._store_id is None:
            with self._ready_lock:
                if self._store_id is None:
                    with self._tx(write=True) as sql:
                        self._store_id = self._migrate(sql)
        return self._store_id

    @property
    def store_id(self) -> str:
        return self._ready()

    def schema_version(self) -> int:
        """The schema version, after creating or migrating it."""
        self._ready()
        with self._tx(write=False) as sql:
            return self._version(sql)

    # -------------------------------------------------------------- writing

    @property
    def keyed(self) -> bool:
        return self._key is not None

    def hmac(self, value: str | None) -> str | None:
        """HMAC-SHA256 of a value under the audit key; None without a key."""
        if value is None or self._key is None:
            return None
        return hmac.new(self._key, b"value:" + value.encode("utf-8"), hashlib.sha256).hexdigest()

    def check_writable(self) -> None:
        """Raise AuditError (StoreUnavailable when unreachable) unless a record could be written now."""
        self._ready()
        with self._tx(write=True) as sql:
            sql.one("SELECT seq FROM head WHERE id = 1")

    def append(self, event: Any, *, settles: str | None = None) -> int:
        """Chain one record (and settle its call's budget hold); returns its number. Raises AuditError."""
        store_id = self._ready()
        data = event_row(event, self._now())
        with self._tx(write=True) as sql:
            head = sql.one("SELECT seq, hash FROM head WHERE id = 1" + self._for_update)
            assert head is not None  # the migration creates it
            data["seq"], data["prev_hash"] = int(head["seq"]) + 1, head["hash"]
            data["hash"] = record_hash(data)
            data["sig"] = sign_record(self._key, data["hash"]) if self._key else None
            sql.run(f"INSERT INTO records ({', '.join(NAMES)}) VALUES ({', '.join('?' * len(NAMES))})",
                    tuple(data[n] for n in NAMES))
            head_sig = sign_head(self._key, store_id, data["seq"], data["hash"]) if self._key else None
            sql.run("UPDATE head SET seq = ?, hash = ?, sig = ? WHERE id = 1", (data["seq"], data["hash"], head_sig))
            if data["seq"] % CHECKPOINT_EVERY == 0:
                sig = sign_checkpoint(self._key, store_id, data["seq"], data["hash"]) if self._key else None
                sql.run("INSERT INTO checkpoints (seq, hash, sig, ts) VALUES (?, ?, ?, ?)",
                        (data["seq"], data["hash"], sig, data["ts"]))
            if data["target"] == "frontier":
                sql.run("INSERT INTO budget_spend (tenant, day, tokens, cost) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (tenant, day) DO UPDATE SET tokens = budget_spend.tokens + excluded.tokens, "
                        "cost = budget_spend.cost + excluded.cost",
                        (data["tenant"], data["day"], data["prompt_tokens"] + data["completion_tokens"],
                         data["cost"] or 0.0))
            if settles is not None:
                sql.run("DELETE FROM budget_holds WHERE id = ?", (settles,))
        return int(data["seq"])

    # -------------------------------------------------------------- budget ledger

    def today(self) -> str:
        return self._now().astimezone(timezone.utc).date().isoformat()

    def spent(self, tenant: str, day: str) -> tuple[int, float]:
        """Frontier tokens and cost recorded for a tenant on a UTC day (settled calls only)."""
        self._ready()
        with self._tx(write=False) as sql:
            row = sql.one("SELECT tokens, cost FROM budget_spend WHERE tenant = ? AND day = ?", (tenant, day))
        return (int(row["tokens"]), float(row["cost"])) if row else (0, 0.0)

    def reserve(self, tenant: str, day: str, tokens: int, cost: float,
                decide: Callable[[int, float], None]) -> str:
        """Atomically: ``decide(spent + held tokens, spent + held cost)``, then hold these; returns the hold id.

        Whatever ``decide`` raises (BudgetExceeded) propagates and nothing is held.
        """
        self._ready()
        hold, now = uuid.uuid4().hex, time.time()
        with self._tx(write=True) as sql:
            sql.run("INSERT INTO budget_spend (tenant, day, tokens, cost) VALUES (?, ?, 0, 0.0) "
                    "ON CONFLICT (tenant, day) DO NOTHING", (tenant, day))
            spent = sql.one("SELECT tokens, cost FROM budget_spend WHERE tenant = ? AND day = ?" + self._for_update,
                            (tenant, day))
            assert spent is not None
            sql.run("DELETE FROM budget_holds WHERE tenant = ? AND day = ? AND expires <= ?", (tenant, day, now))
            held = sql.one("SELECT COALESCE(SUM(tokens), 0) AS tokens, COALESCE(SUM(cost), 0.0) AS cost "
                           "FROM budget_holds WHERE tenant = ? AND day = ?", (tenant, day))
            assert held is not None
            decide(int(spent["tokens"]) + int(held["tokens"]), float(spent["cost"]) + float(held["cost"]))
            sql.run("INSERT INTO budget_holds (id, tenant, day, tokens, cost, expires) VALUES (?, ?, ?, ?, ?, ?)",
                    (hold, tenant, day, int(tokens), float(cost), now + HOLD_TTL_S))
        return hold

    def release(self, hold: str) -> None:
        """Drop a hold whose call spent nothing recorded here (its record could not be written)."""
        with self._tx(write=True) as sql:
            sql.run("DELETE FROM budget_holds WHERE id = ?", (hold,))

    # -------------------------------------------------------------- reading

    def _meta(self, sql: Sql) -> tuple[int, str | None, Head | None]:
        version = self._version(sql)
        if version < 1:
            from ..errors import AuditError

            raise AuditError(f"{self.location} is not a privroute audit database")
        if version < 2:
            head = sql.one("SELECT seq, hash FROM head WHERE id = 1")
            return version, None, Head(int(head["seq"]), head["hash"], None) if head else None
        store = sql.one("SELECT value FROM meta WHERE key = 'store_id'")
        head = sql.one("SELECT seq, hash, sig FROM head WHERE id = 1")
        return (version, store["value"] if store else None,
                Head(int(head["seq"]), head["hash"], head["sig"]) if head else None)

    def snapshot(self) -> AbstractContextManager[Snapshot]:
        """The chain as of one moment, for verify and export."""
        from contextlib import contextmanager

        @contextmanager
        def opened() -> Iterator[Snapshot]:
            with self._snapshot() as sql:
                _, store_id, head = self._meta(sql)
                # A schema-1 database opened read-only may predate an added column.
                present = sql.columns("records")
                select = f"SELECT {', '.join(n for n in NAMES if n in present or n not in ADDED)} FROM records"

                def checkpoint(seq: int) -> Checkpoint | None:
                    if store_id is None:
                        return None
                    row = sql.one("SELECT seq, hash, sig FROM checkpoints WHERE seq = ?", (seq,))
                    return Checkpoint(store_id, int(row["seq"]), row["hash"], row["sig"]) if row else None

                yield Snapshot(store_id, head,
                               rows=lambda after: sql.iter(f"{select} WHERE seq > ? ORDER BY seq", (after,)),
                               row=lambda seq: sql.one(f"{select} WHERE seq = ?", (seq,)),
                               checkpoint=checkpoint)
        return opened()

    def records(self, *, tenant: str | None = None, outcome: str | None = None, action: str | None = None,
                day_from: str | None = None, day_to: str | None = None, after_seq: int = 0, limit: int = 100,
                newest_first: bool = False) -> list[dict[str, Any]]:
        """Records matching every given filter (days are inclusive ``YYYY-MM-DD``), reasons and entities decoded.

        Page forward with ``after_seq`` = the last seq seen (oldest first), or read the latest with
        ``newest_first``. Read only: a dashboard can hold a read-only store.
        """
        where, params = self._filters(tenant=tenant, outcome=outcome, action=action, day_from=day_from,
                                      day_to=day_to)
        if after_seq:
            where.append("seq > ?")
            params.append(after_seq)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        order = "DESC" if newest_first else "ASC"
        with self._tx(write=False) as sql:
            rows = sql.all(f"SELECT {', '.join(NAMES)} FROM records{clause} ORDER BY seq {order} LIMIT ?",
                           (*params, max(0, int(limit))))
        return [_decoded(row) for row in rows]

    @staticmethod
    def _filters(**given: str | None) -> tuple[list[str], list[Any]]:
        where: list[str] = []
        params: list[Any] = []
        for name, value in given.items():
            if value is None:
                continue
            column, op = {"day_from": ("day", ">="), "day_to": ("day", "<=")}.get(name, (name, "="))
            where.append(f"{column} {op} ?")
            params.append(value)
        return where, params

    def stats(self, *, tenant: str | None = None, day_from: str | None = None,
              day_to: str | None = None) -> dict[str, Any]:
        """Calls, tokens and cost: in total and by action, sensitivity, backend, tenant, day, outcome."""
        where, params = self._filters(tenant=tenant, day_from=day_from, day_to=day_to)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self._snapshot() as sql:
            self._meta(sql)
            total = sql.one(f"SELECT {_MEASURES} FROM records{clause}", tuple(params)) or {}
            report: dict[str, Any] = {"records": int(total.pop("calls", 0)), **_numbers(total)}
            for column in GROUPS:
                rows = sql.all(f"SELECT COALESCE({column}, '-') AS k, {_MEASURES} FROM records{clause} "
                               f"GROUP BY COALESCE({column}, '-') ORDER BY 1", tuple(params))
                report[f"by_{column}"] = {row.pop("k"): _numbers(row) for row in rows}
        return report

    def budget_status(self, day: str | None = None) -> dict[str, dict[str, Any]]:
        """Per tenant on a UTC day: settled tokens and cost, and what calls in flight hold."""
        day = day or self.today()
        with self._tx(write=False) as sql:
            spent = sql.all("SELECT tenant, tokens, cost FROM budget_spend WHERE day = ?", (day,))
            held = sql.all("SELECT tenant, COALESCE(SUM(tokens), 0) AS tokens, COALESCE(SUM(cost), 0.0) AS cost "
                           "FROM budget_holds WHERE day = ? AND expires > ? GROUP BY tenant", (day, time.time()))
        out: dict[str, dict[str, Any]] = {}
        for row in spent:
            out[row["tenant"]] = {"tokens": int(row["tokens"]), "cost": float(row["cost"]), "held_tokens": 0,
                                  "held_cost": 0.0}
        for row in held:
            entry = out.setdefault(row["tenant"], {"tokens": 0, "cost": 0.0})
            entry["held_tokens"], entry["held_cost"] = int(row["tokens"]), float(row["cost"])
        return out


def _numbers(row: Mapping[str, Any]) -> dict[str, Any]:
    """Same types from both drivers (PostgreSQL sums BIGINT into NUMERIC)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        out[key] = float(value) if key == "cost" else int(value)
    return out
