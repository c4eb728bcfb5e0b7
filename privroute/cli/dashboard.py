"""``privroute dashboard``: the read-only dashboard alone, on one audit store (an auditor's laptop).

    privroute dashboard --audit-db ~/.privroute/audit.db           # http://127.0.0.1:8090/dashboard
    privroute dashboard --database-url postgresql://auditor@db/privroute --port 8091
    PRIVROUTE_DASHBOARD_ADMIN_KEYS=sha256:... privroute dashboard --audit-db a.db --host 0.0.0.0

Nothing is written: the store is opened read-only. On a loopback host no key is
asked; on any other host an admin key is required, given as the hashes in
``PRIVROUTE_DASHBOARD_ADMIN_KEYS`` (comma separated; ``privroute serve --hash-key``
prints one).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..errors import ConfigurationError, MissingDependency
from ..server.config import is_key_hash, is_loopback
from .common import EXIT_USAGE, fail, handle_errors

__all__ = ["ENV_ADMIN_KEYS", "dashboard_command"]

ENV_ADMIN_KEYS = "PRIVROUTE_DASHBOARD_ADMIN_KEYS"


@click.command("dashboard")
@click.option("--audit-db", "audit_db", type=click.Path(dir_okay=False), default=None,
              help="A SQLite audit database (read only).")
@click.option("--database-url", default=None, metavar="URL", help="A PostgreSQL store, postgresql://... (read only).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", type=click.IntRange(0, 65535), default=8090, show_default=True)
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="warning",
              show_default=True)
@handle_errors
def dashboard_command(audit_db: str | None, database_url: str | None, host: str, port: int, log_level: str) -> None:
    """Serve the read-only audit dashboard for one store (no proxy)."""
    if bool(audit_db) == bool(database_url):
        fail("give --audit-db PATH or --database-url URL (one of them)", EXIT_USAGE)
    location: str | Path
    if audit_db:
        location = Path(audit_db).expanduser()
        if not location.is_file():
            fail(f"no audit database at {location}", EXIT_USAGE)
    else:
        assert database_url is not None
        if not database_url.startswith(("postgresql://", "postgres://")):
            fail("--database-url takes postgresql://...; a SQLite file goes with --audit-db", EXIT_USAGE)
        location = database_url
    keys = tuple(k.strip() for k in os.environ.get(ENV_ADMIN_KEYS, "").split(",") if k.strip())
    if not keys and not is_loopback(host):
        fail(f"a non-loopback host needs admin keys: set {ENV_ADMIN_KEYS}=sha256:... "
             "(privroute serve --hash-key prints one)", EXIT_USAGE)
    try:
        import uvicorn

        from ..server.dashboard import DashboardAccess, dashboard_app
    except ImportError as exc:
        raise MissingDependency("starlette/uvicorn", "dashboard") from exc
    if not all(is_key_hash(k) for k in keys):
        raise ConfigurationError(f"{ENV_ADMIN_KEYS}: every entry must be a 'sha256:<64 lowercase hex>' hash "
                                 "(store hashes, never keys)")
    app = dashboard_app(location, DashboardAccess(admin_keys=keys, no_auth=not keys))
    auth = "admin key required" if keys else "no auth (loopback only)"
    click.echo(f"privroute dashboard on http://{host}:{port}/dashboard ({auth}, read only)", err=True)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=False)
