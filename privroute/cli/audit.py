"""``privroute audit verify|export|stats|migrate``: check, archive and summarise the audit log.

The store is ``--db PATH|URL``, else ``PRIVROUTE_DATABASE_URL``, else
``PRIVROUTE_AUDIT_DB``, else the default (``~/.privroute/audit.db``); a
``postgresql://`` URL is the shared store, anything else a SQLite file. The
commands behave the same on both. ``verify`` exits 0 when the chain is intact
and 1 naming the first bad record; signatures (records, head, checkpoints) are
checked when ``PRIVROUTE_AUDIT_KEY`` is set. It prints a checkpoint token: kept
somewhere else, ``verify --since TOKEN`` later checks only what was appended
since, and shows a database that was cut back, rolled back or replaced.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import click

from ..audit import export, resolve_path, stats, verify
from ..stores import is_postgres, open_store
from ..stores.postgres import redact_url
from .common import EXIT_ERROR, fail, handle_errors, json_option, print_json

db_option = click.option("--db", "db", default=None, metavar="PATH|URL",
                         help="Audit store: a SQLite file or postgresql://... (default: $PRIVROUTE_DATABASE_URL, "
                              "$PRIVROUTE_AUDIT_DB or ~/.privroute/audit.db).")
since_option = click.option("--since", "since", default=None, metavar="CHECKPOINT",
                            help="Start after a checkpoint: the token a previous verify printed (or a file "
                                 "holding it), or the record number of a stored checkpoint.")


def _db(db: str | None) -> str | Path:
    """--db wins over the environment (the library's order is env, then policy)."""
    if db:
        return db if "://" in db else Path(db).expanduser()
    return resolve_path(None)


def _shown(location: str | Path) -> str:
    return redact_url(location) if is_postgres(location) else str(location)


def _since(since: str | None) -> str | None:
    if since and not since.strip().isdigit() and not since.startswith("ckpt1:") and Path(since).is_file():
        return Path(since).read_text(encoding="utf-8").strip()
    return since


@click.group("audit")
def audit_group() -> None:
    """Verify, export and summarise the tamper-evident audit log."""


def _report(report: Any, location: str | Path, as_json: bool, action: str) -> None:
    shown = _shown(location)
    if as_json:
        print_json({"ok": report.ok, "records": report.records, "first_bad": report.first_bad,
                    "problem": report.problem, "signatures": report.signatures, "checkpoint": report.checkpoint,
                    "since": report.since, "db": shown})
    if not report.ok:
        if not as_json:
            fail(f"{shown}: {report.problem}", EXIT_ERROR)
        raise SystemExit(EXIT_ERROR)
    if not as_json:
        after = f" after record {report.since}" if report.since else ""
        click.echo(f"ok: {report.records} records{after}, chain intact (signatures {report.signatures}) "
                   f"{action} {shown}")
        if report.checkpoint:
            click.echo(f"checkpoint: {report.checkpoint}")


@audit_group.command("verify")
@db_option
@since_option
@json_option
@handle_errors
def verify_command(db: str | None, since: str | None, as_json: bool) -> None:
    """Check the chain and its signed head; exit 1 naming the first edited, deleted or reordered record."""
    location = _db(db)
    _report(verify(location, since=_since(since)), location, as_json, "in")


@audit_group.command("export")
@db_option
@since_option
@click.option("--output", "-o", "output", required=True, type=click.Path(dir_okay=False),
              help="JSONL file to write (one record per line); written only if the chain verifies.")
@json_option
@handle_errors
def export_command(db: str | None, since: str | None, output: str, as_json: bool) -> None:
    """Verify the chain and write its records as JSONL for archiving (nothing is written if it does not verify)."""
    location = _db(db)
    target = Path(output).expanduser()
    handle, temp = tempfile.mkstemp(prefix=".export-", suffix=".jsonl", dir=target.parent if target.parent.is_dir()
                                    else None)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            report = export(location, out, since=_since(since))
        if report.ok:
            os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    _report(report, location, as_json, f"written to {target} from")


@audit_group.command("migrate")
@db_option
@handle_errors
def migrate_command(db: str | None) -> None:
    """Create or upgrade the store's schema now (privroute also does it on first write)."""
    location = _db(db)
    store = open_store(location)
    try:
        click.echo(f"ok: {_shown(location)} is at schema {store.schema_version()} (store {store.store_id})")
    finally:
        store.close()


def _table(title: str, groups: dict[str, dict[str, Any]]) -> None:
    click.echo(f"by {title}:")
    for key, row in groups.items():
        click.echo(f"  {key:<24} calls {row['calls']:>7}  tokens {row['prompt_tokens'] + row['completion_tokens']:>10}"
                   f"  cost ${row['cost']:.4f}")


@audit_group.command("stats")
@db_option
@click.option("--tenant", default=None, help="Only this tenant's records.")
@click.option("--from", "day_from", default=None, metavar="YYYY-MM-DD", help="First UTC day included.")
@click.option("--to", "day_to", default=None, metavar="YYYY-MM-DD", help="Last UTC day included.")
@json_option
@handle_errors
def stats_command(db: str | None, tenant: str | None, day_from: str | None, day_to: str | None,
                  as_json: bool) -> None:
    """Calls, tokens and cost by action, sensitivity, backend, tenant, day and outcome."""
    report = stats(_db(db), tenant=tenant, day_from=day_from, day_to=day_to)
    if as_json:
        print_json(report)
        return
    click.echo(f"records: {report['records']}  tokens: {report['prompt_tokens'] + report['completion_tokens']}"
               f"  cost: ${report['cost']:.4f}")
    for column in ("action", "sensitivity", "backend", "tenant", "day", "outcome"):
        _table(column, report[f"by_{column}"])
