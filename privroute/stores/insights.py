"""Aggregates over the audit records for a dashboard, computed in SQL on a read-only store.

Every figure is a GROUP BY in the database (indexes on ``ts``, ``tenant``/``day``
and ``policy``), so a view over 100,000 records reads no record into Python; the
record list is paged by ``seq``. Nothing here writes: it runs on a store opened
``read_only`` (a separate connection, and on SQLite a WAL reader, which never
blocks the appending writer).

What is shown is what a record holds: ids, names, counts, hashes. A record never
holds a prompt, an answer or a detected value, so neither does anything here.

The two dialects differ in how a JSON column is expanded (``json_each`` on
SQLite, ``json_array_elements_text``/``json_each_text`` on PostgreSQL).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from typing import Any

from .sql import SqlStore, _decoded

__all__ = ["ACTIONS", "RECORD_COLUMNS", "Filters", "Insights"]

ACTIONS = ("local", "redact", "frontier", "block")
"""The decision actions, in the order the timeline stacks them (errors without one show as ``-``)."""
RECORD_COLUMNS = ("seq", "ts", "tenant", "policy", "outcome", "action", "sensitivity", "reasons", "entities",
                  "backend", "attempts", "prompt_tokens", "completion_tokens", "cost", "latency_s", "error",
                  "fallback_reason", "policy_hash", "hash")
"""What the record list shows: no HMAC column (they correlate values) and never content."""
_RANGES = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7),
           "30d": timedelta(days=30)}
_FRONTIER_ERRORS = ("FrontierUnavailable", "CircuitOpen", "FrontierTimeout", "MalformedResponse", "BackendError")


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class Filters:
    """What a view is restricted to; every field optional. ``since``/``until``: ISO times (UTC)."""

    tenant: str | None = None
    policy: str | None = None
    action: str | None = None
    rule: str | None = None
    since: str | None = None
    until: str | None = None

    @classmethod
    def from_query(cls, query: Any, *, now: datetime | None = None) -> Filters:
        """From a request's query: ``range`` (1h, 24h, 7d, 30d, all) or ``since``/``until`` (ISO or
        ``YYYY-MM-DDTHH:MM`` from a datetime input, taken as UTC), and the name filters."""
        now = now or datetime.now(timezone.utc)
        values = {f.name: (str(query.get(f.name) or "").strip() or None) for f in fields(cls)}
        chosen = str(query.get("range") or "").strip()
        if chosen in _RANGES and not values["since"]:
            values["since"] = _iso(now - _RANGES[chosen])
        for name in ("since", "until"):
            if values[name]:
                values[name] = _parse_time(values[name])
        return cls(**values)

    def query(self) -> dict[str, str]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}

    def where(self) -> tuple[str, list[Any]]:
        clauses, params = [], []
        for name in ("tenant", "policy", "action"):
            value = getattr(self, name)
            if value is not None:
                if name == "action" and value == "-":
                    clauses.append("action IS NULL")
                    continue
                clauses.append(f"{name} = ?")
                params.append(value)
        if self.rule is not None:
            # reasons is a JSON list of rule ids: the quoted id is one exact element.
            clauses.append("reasons LIKE ? ESCAPE '!'")
            escaped = self.rule.replace("!", "!!").replace("%", "!%").replace("_", "!_").replace('"', "")
            params.append(f'%"{escaped}"%')
        if self.since is not None:
            clauses.append("ts >= ?")
            params.append(self.since)
        if self.until is not None:
            clauses.append("ts < ?")
            params.append(self.until)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _parse_time(text: str) -> str:
    from ..errors import InputError

    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError("a time must be ISO 8601, e.g. 2026-01-31T12:00") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return _iso(when)


def _and(where: str, clause: str) -> str:
    return f"{where} AND {clause}" if where else f" WHERE {clause}"


class Insights:
    """The dashboard's read queries over one store (open it with ``read_only=True``)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self._pg = store.dialect == "postgresql"

    # ------------------------------------------------------------------ views

    def overview(self, flt: Filters) -> dict[str, Any]:
        """Totals, the timeline (calls per bucket and action), and per tenant and per policy figures."""
        where, params = flt.where()
        measures = ("COUNT(*) AS calls, COALESCE(SUM(prompt_tokens), 0) AS prompt_tokens, "
                    "COALESCE(SUM(completion_tokens), 0) AS completion_tokens, COALESCE(SUM(cost), 0.0) AS cost, "
                    "SUM(CASE WHEN action = 'block' THEN 1 ELSE 0 END) AS blocked, "
                    "SUM(CASE WHEN action = 'redact' THEN 1 ELSE 0 END) AS redacted, "
                    "SUM(CASE WHEN action = 'local' THEN 1 ELSE 0 END) AS local, "
                    "SUM(CASE WHEN outcome = 'error' THEN 1 ELSE 0 END) AS errors")
        with self.store._snapshot() as sql:
            span = sql.one(f"SELECT MIN(ts) AS first, MAX(ts) AS last FROM records{where}", tuple(params)) or {}
            width = _bucket_width(flt, span.get("first"), span.get("last"))
            timeline = sql.all(f"SELECT SUBSTR(ts, 1, {width}) AS bucket, COALESCE(action, '-') AS action, "
                               f"COUNT(*) AS calls FROM records{where} GROUP BY SUBSTR(ts, 1, {width}), "
                               f"COALESCE(action, '-') ORDER BY 1", tuple(params))
            total = sql.one(f"SELECT {measures} FROM records{where}", tuple(params)) or {}
            tenants = sql.all(f"SELECT tenant AS name, {measures} FROM records{where} GROUP BY tenant ORDER BY 1",
                              tuple(params))
            policies = sql.all(f"SELECT policy AS name, {measures} FROM records{where} GROUP BY policy ORDER BY 1",
                               tuple(params))
        budget = self.store.budget_status()
        return {"total": _clean(total), "bucket": "hour" if width == 13 else "day",
                "timeline": [_clean(row) for row in timeline], "tenants": [_clean(r) for r in tenants],
                "policies": [_clean(r) for r in policies], "budget_today": budget,
                "budget_day": self.store.today()}

    def rules(self, flt: Filters, limit: int = 25) -> dict[str, Any]:
        """Top rules fired (records whose reasons list the rule) and entity types found and removed."""
        where, params = flt.where()
        if self._pg:
            rules_from = "records, json_array_elements_text(records.reasons::json) AS j(value)"
            ents_from = "records, json_each_text(records.entities::json) AS j(key, value)"
            amount = "CAST(j.value AS BIGINT)"
        else:
            rules_from = "records, json_each(records.reasons) AS j"
            ents_from = "records, json_each(records.entities) AS j"
            amount = "j.value"
        with self.store._snapshot() as sql:
            rules = sql.all(f"SELECT j.value AS rule, COUNT(*) AS records, "
                            f"SUM(CASE WHEN action = 'block' THEN 1 ELSE 0 END) AS blocked, "
                            f"SUM(CASE WHEN action = 'redact' THEN 1 ELSE 0 END) AS redacted, "
                            f"SUM(CASE WHEN action = 'local' THEN 1 ELSE 0 END) AS local "
                            f"FROM {rules_from}{where} GROUP BY j.value ORDER BY 2 DESC, 1 LIMIT ?",
                            (*params, limit))
            entities = sql.all(f"SELECT j.key AS entity_type, COUNT(*) AS records, SUM({amount}) AS found, "
                               f"SUM(CASE WHEN action = 'redact' THEN {amount} ELSE 0 END) AS removed, "
                               f"SUM(CASE WHEN action IN ('local', 'block') THEN {amount} ELSE 0 END) AS kept_back "
                               f"FROM {ents_from}{where} GROUP BY j.key ORDER BY 3 DESC, 1 LIMIT ?",
                               (*params, limit))
        return {"rules": [_clean(r) for r in rules], "entities": [_clean(r) for r in entities]}

    def frontier(self, flt: Filters) -> dict[str, Any]:
        """Frontier health: calls that reached it, attempts, retries, errors by class, fallbacks, latency."""
        where, params = flt.where()
        # A local answer also counts one attempt: the frontier was reached by frontier calls and by
        # calls whose failed frontier attempts ended in a fallback.
        reached = _and(where, "attempts > 0 AND (target = 'frontier' OR fallback_reason IS NOT NULL)")
        # Patterns as parameters: a literal % would be a placeholder to PostgreSQL's driver.
        circuit = "(error = 'CircuitOpen' OR fallback_reason LIKE ?)"
        with self.store._snapshot() as sql:
            # A database written before frontier_status existed (opened read-only, not migrated) has none.
            status = "frontier_status" if "frontier_status" in sql.columns("records") else "NULL"
            head = sql.one(
                f"SELECT COUNT(*) AS calls, COALESCE(SUM(attempts), 0) AS attempts, "
                f"SUM(CASE WHEN {status} = 429 THEN 1 ELSE 0 END) AS http_429, "
                f"SUM(CASE WHEN {status} >= 500 THEN 1 ELSE 0 END) AS http_5xx, "
                f"COALESCE(SUM(CASE WHEN attempts > 1 THEN attempts - 1 ELSE 0 END), 0) AS retries, "
                f"SUM(CASE WHEN target = 'frontier' AND outcome = 'answered' THEN 1 ELSE 0 END) AS answered "
                f"FROM records{reached}", tuple(params)) or {}
            refused = sql.one(f"SELECT COUNT(*) AS n FROM records{_and(where, circuit)}",
                              (*params, "%(CircuitOpen)%")) or {}
            errors = sql.all(f"SELECT error, COUNT(*) AS records FROM records"
                             f"{_and(where, 'error IN (' + ', '.join('?' * len(_FRONTIER_ERRORS)) + ')')} "
                             f"GROUP BY error ORDER BY 2 DESC", (*params, *_FRONTIER_ERRORS))
            fallbacks = sql.all(f"SELECT fallback_reason AS reason, COUNT(*) AS records FROM records"
                                f"{_and(where, 'fallback_reason IS NOT NULL')} GROUP BY fallback_reason "
                                f"ORDER BY 2 DESC", tuple(params))
            answered = _and(where, "target = 'frontier' AND outcome = 'answered'")
            latency = {name: _percentile(sql, answered, params, q) for name, q in (("p50", 0.5), ("p95", 0.95))}
        health = _clean(head)
        # A fallback may have made no attempt (the budget sent it local): counted over every record.
        health["fallbacks"] = sum(int(r["records"]) for r in fallbacks)
        health["circuit_open"] = int(refused.get("n") or 0)
        return {"health": health, "latency_s": latency, "errors": [_clean(r) for r in errors],
                "fallbacks": [_clean(r) for r in fallbacks]}

    def records(self, flt: Filters, *, before: int | None = None, limit: int = 50) -> dict[str, Any]:
        """One page of records, newest first (``before``: the lowest seq of the previous page)."""
        where, params = flt.where()
        if before is not None:
            where, params = _and(where, "seq < ?"), [*params, int(before)]
        with self.store._snapshot() as sql:
            rows = sql.all(f"SELECT {', '.join(c for c in RECORD_COLUMNS)}, truncated, stream, loosened "
                           f"FROM records{where} ORDER BY seq DESC LIMIT ?", (*params, max(1, min(limit, 1000))))
        out = []
        for row in rows:
            decoded = _decoded(row)
            out.append({c: decoded[c] for c in RECORD_COLUMNS})
        more = len(out) == limit and out[-1]["seq"] > 1
        return {"records": out, "next_before": out[-1]["seq"] if more else None}

    def choices(self) -> dict[str, list[str]]:
        """The tenants and policies present (the filter form's options)."""
        with self.store._snapshot() as sql:
            tenants = [r["v"] for r in sql.all("SELECT DISTINCT tenant AS v FROM records ORDER BY 1")]
            policies = [r["v"] for r in sql.all("SELECT DISTINCT policy AS v FROM records ORDER BY 1")]
        return {"tenants": tenants, "policies": policies}


def _percentile(sql: Any, where: str, params: list[Any], q: float) -> float | None:
    count = sql.one(f"SELECT COUNT(*) AS n FROM records{where}", tuple(params))
    n = int(count["n"]) if count else 0
    if n == 0:
        return None
    # Nearest rank: the value at rank ceil(q * n), one indexed.
    rank = max(1, -(-int(q * n * 1000) // 1000))
    row = sql.one(f"SELECT latency_s FROM records{where} ORDER BY latency_s LIMIT 1 OFFSET ?",
                  (*params, min(rank, n) - 1))
    return float(row["latency_s"]) if row else None


def _bucket_width(flt: Filters, first: str | None, last: str | None) -> int:
    """Characters of the ISO time a bucket keeps: 13 (the hour) up to 3 days, else 10 (the day)."""
    start, end = flt.since or first, flt.until or last
    if not start or not end:
        return 13
    try:
        span = datetime.fromisoformat(end) - datetime.fromisoformat(start)
    except ValueError:
        return 10
    return 13 if span <= timedelta(days=3) else 10


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    """Same types from both drivers (PostgreSQL sums into NUMERIC)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None or isinstance(value, str):
            out[key] = value
        elif key == "cost":
            out[key] = round(float(value), 9)  # sums of floats: no 0.7590000000000006
        elif isinstance(value, float) and not value.is_integer():
            out[key] = value
        else:
            out[key] = int(value)
    return out
