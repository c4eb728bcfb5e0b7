"""``privroute redact --out OUTDIR INPUT...``: the batch command's terminal side.

Exit codes: 0 every document succeeded (or was skipped), 1 any document failed,
2 usage errors (nothing was done: bad OUTDIR, missing mapping key, unknown policy,
missing optional dependency, unreachable Ray cluster).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

import click

from ..errors import ConfigurationError, MissingDependency, PolicyError

__all__ = ["ProgressBar", "run_batch_cli", "DEFAULT_KEY_ENV"]

DEFAULT_KEY_ENV = "PRIVROUTE_MAPPING_KEY"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class ProgressBar:
    """One self-rewriting stderr line: bar, count, documents/s and ETA (TTYs only)."""

    def __init__(self, stream: TextIO, width: int = 28, min_interval_s: float = 0.1) -> None:
        self.stream, self.width, self.min_interval_s = stream, width, min_interval_s
        self._last = 0.0
        self._shown = False

    def __call__(self, finished: int, total: int, elapsed_s: float) -> None:
        now = time.monotonic()
        if finished < total and now - self._last < self.min_interval_s:
            return
        self._last = now
        self.stream.write("\r" + self.line(finished, total, elapsed_s))
        self.stream.flush()
        self._shown = True

    def line(self, finished: int, total: int, elapsed_s: float) -> str:
        share = finished / total if total else 1.0
        filled = int(share * self.width)
        rate = finished / elapsed_s if elapsed_s > 0 else 0.0
        eta = (total - finished) / rate if rate > 0 else None
        eta_text = "--:--" if eta is None else _clock(eta)
        return (f"[{'#' * filled}{'.' * (self.width - filled)}] {finished}/{total} docs  "
                f"{rate:.1f} docs/s  ETA {eta_text} ")

    def close(self) -> None:
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _usage(message: str) -> int:
    click.echo(f"privroute: error: {message}", err=True)
    return EXIT_USAGE


def run_batch_cli(
    inputs: Sequence[str],
    *,
    policy: str,
    out_dir: str,
    key: str | None = None,
    key_env: str = DEFAULT_KEY_ENV,
    quiet: bool = False,
    progress: bool | None = None,
    as_json: bool = False,
    max_size_mb: float | None = None,
    columns: Sequence[str] = (),
    **options: Any,
) -> int:
    """Run a batch from CLI arguments; returns the exit code. Never prints document content."""
    from ..batch import BatchUsageError, redact_files
    from ..batch.mapping import MappingError

    if not inputs:
        return _usage("no INPUT given (files, directories or globs)")
    if options.get("mapping") is not None:
        key = key if key is not None else os.environ.get(key_env)
        if not key:
            return _usage(f"--mapping needs a key: set ${key_env} (or name another variable with --key-env)")
        options["mapping_key"] = key
    if max_size_mb is not None:
        options["max_bytes"] = int(max_size_mb * 1024 * 1024)
    options["columns"] = tuple(name.strip() for spec in columns for name in spec.split(",") if name.strip())
    show = (not quiet and sys.stderr.isatty()) if progress is None else progress
    bar = ProgressBar(sys.stderr) if show else None
    try:
        report = redact_files(list(inputs), out_dir=out_dir, policy=policy, progress=bar, **options)
    except (BatchUsageError, MappingError, PolicyError, MissingDependency, ConfigurationError) as exc:
        return _usage(str(exc))
    finally:
        if bar is not None:
            bar.close()
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False))
    if not quiet:
        click.echo(f"privroute: {report.done} done, {report.skipped} skipped, {len(report.failed)} failed "
                   f"({report.as_dict()['docs_per_s']} docs/s); report: {report.report_path}", err=True)
        for path, reason in report.failed[:20]:
            click.echo(f"  failed: {path}: {reason}", err=True)
        if len(report.failed) > 20:
            click.echo(f"  ... and {len(report.failed) - 20} more (see the report)", err=True)
    return report.exit_code
