"""``privroute audit verify|stats``: check and summarise the audit log.

The database is ``--db PATH``, else ``PRIVROUTE_AUDIT_DB``, else the default
(``~/.privroute/audit.db``). ``verify`` exits 0 when the chain is intact and 1
naming the first bad record; signatures are checked when ``PRIVROUTE_AUDIT_KEY``
is set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..audit import resolve_path, stats, verify
from .common import EXIT_ERROR, fail, handle_errors, json_option, print_json

db_option = click.option("--db", "db", default=None, metavar="PATH",
                         help="Audit database (default: $PRIVROUTE_AUDIT_DB or ~/.privroute/audit.db).")


def _db_path(db: str | None) -> Path:
    """--db wins over the environment (the library's order is env, then policy)."""
    return Path(db).expanduser() if db else resolve_path(None)


@click.group("audit")
def audit_group() -> None:
    """Verify and summarise the tamper-evident audit log."""


@audit_group.command("verify")
@db_option
@json_option
@handle_errors
def verify_command(db: str | None, as_json: bool) -> None:
    """Check the hash chain; exit 1 naming the first edited, deleted or reordered record."""
    path = _db_path(db)
    report = verify(path)
    if as_json:
        print_json({"ok": report.ok, "records": report.records, "first_bad": report.first_bad,
                    "problem": report.problem, "signatures": report.signatures, "db": str(path)})
    if not report.ok:
        if not as_json:
            fail(f"{path}: {report.problem}", EXIT_ERROR)
        raise SystemExit(EXIT_ERROR)
    if not as_json:
        click.echo(f"ok: {report.records} records, chain intact (signatures {report.signatures}) in {path}")


def _table(title: str, groups: dict[str, dict[str, Any]]) -> None:
    click.echo(f"by {title}:")
    for key, row in groups.items():
        click.echo(f"  {key:<24} calls {row['calls']:>7}  tokens {row['prompt_tokens'] + row['completion_tokens']:>10}"
                   f"  cost ${row['cost']:.4f}")


@audit_group.command("stats")
@db_option
@json_option
@handle_errors
def stats_command(db: str | None, as_json: bool) -> None:
    """Calls, tokens and cost by action, sensitivity, backend, tenant, day and outcome."""
    report = stats(_db_path(db))
    if as_json:
        print_json(report)
        return
    click.echo(f"records: {report['records']}  tokens: {report['prompt_tokens'] + report['completion_tokens']}"
               f"  cost: ${report['cost']:.4f}")
    for column in ("action", "sensitivity", "backend", "tenant", "day", "outcome"):
        _table(column, report[f"by_{column}"])
