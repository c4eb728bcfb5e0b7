"""A throw-away PostgreSQL server for the store tests and benchmarks.

``initdb`` in a temporary directory, as a non-root user (initdb refuses root: when
run as root the cluster belongs to the ``postgres`` user the Debian package
creates), listening on a free port on 127.0.0.1 only, trust authentication for
local connections. Tests run it with fsync off (nothing needs to survive a crash
of the machine; commits still reach the WAL, so a crash of the *server* loses
nothing committed, which the tests rely on); benchmarks with ``durable=True``.
``stop`` removes it.

    with TempPostgres() as pg:
        url = pg.url("test_db")       # created on demand

If the binaries are missing, ``scripts/ensure-postgres.sh`` installs Debian's
package first (so the README's test command passes on a fresh machine).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.paths import REPO

_USER = "postgres"


def _bindir() -> Path:
    found = shutil.which("initdb")
    if found is None:
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not candidates:
            subprocess.run(["bash", str(REPO / "scripts" / "ensure-postgres.sh")], check=True)
            candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not candidates:
            raise RuntimeError("PostgreSQL's initdb is not installed: run scripts/ensure-postgres.sh")
        found = candidates[-1]
    return Path(os.path.realpath(found)).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TempPostgres:
    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        """True: fsync on, as a production server (benchmarks); False: fsync off (tests)."""
        self.bindir = _bindir()
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="privroute-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.log = self.root / "server.log"
        self._as_root = os.geteuid() == 0

    def _run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_root:
            command = ["runuser", "-u", _USER, "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=timeout)

    def start(self) -> "TempPostgres":
        self.sockets.mkdir(parents=True)
        if self._as_root:
            shutil.chown(self.root, _USER)
            shutil.chown(self.sockets, _USER)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                  "--no-sync", "--locale=C")
        self.restart()
        return self

    def restart(self) -> None:
        """Start the server (again, after ``stop_server``) and wait until it accepts connections."""
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.sockets} "
                   "-c max_connections=200 -c shared_buffers=32MB")
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server (``immediate`` is a crash), keeping its data."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def stop(self) -> None:
        self.stop_server("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "TempPostgres":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def base_url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.base_url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.base_url(name)

    def wait_ready(self, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.base_url(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
