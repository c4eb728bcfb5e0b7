"""Which files a batch reads, where each output goes, and the checks that keep inputs safe.

Inputs are files, directories (walked recursively, following directory links
with loop detection) and globs. Outputs mirror the inputs below their common
parent: ``redact --out OUT corpus/`` writes ``OUT/a/b.txt`` for ``corpus/a/b.txt``.
Problems found here (missing input, symlink loop, special file, unknown type) become
per-file entries of the report; only an unsafe OUTDIR stops the run.
"""

from __future__ import annotations

import errno
import glob
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import BatchUsageError
from .formats import format_for

__all__ = ["BatchUsageError", "Item", "discover", "ensure_outside_inputs"]

RESERVED = ("report.json", ".privroute")


@dataclass(frozen=True)
class Item:
    """One discovered path. ``problem`` set: reported (as skipped when ``skip``), not read."""

    path: Path
    display: str
    rel: str = ""
    suffix: str = ""
    problem: str | None = None
    skip: bool = False

    @property
    def output_rel(self) -> PurePosixPath:
        fmt = format_for(self.suffix)
        extra = fmt.output_suffix if fmt is not None and fmt.output_suffix else ""
        return PurePosixPath(self.rel + extra)


def _failed(path: str, reason: str) -> Item:
    return Item(Path(path), path, problem=reason)


def _link_problem(path: str) -> str:
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
        if exc.errno == errno.ENOENT:
            return "dangling symlink" if os.path.islink(path) else "no such file or directory"
        if exc.errno in (errno.EACCES, errno.EPERM):
            return "unreadable (permission denied)"
        return f"cannot be read ({exc.strerror})"
    return "not a regular file"


def _expand(argument: str) -> list[str]:
    if os.path.lexists(argument) or not glob.has_magic(argument):
        return [argument]
    return sorted(glob.glob(argument, recursive=True)) or []


def discover(inputs: list[str]) -> list[Item]:
    """Every file the inputs name, in a stable order, with its output path relative to OUTDIR."""
    roots: list[tuple[str, bool]] = []  # (path, is_directory)
    items: list[Item] = []
    for argument in inputs:
        matches = _expand(argument)
        if not matches:
            items.append(_failed(argument, "no file matches this pattern"))
        for path in matches:
            if os.path.isdir(path):
                roots.append((path, True))
            elif os.path.isfile(path):
                roots.append((path, False))
            else:
                items.append(_failed(path, _link_problem(path)))
    if not roots:
        return items
    bases = [os.path.abspath(p) if is_dir else os.path.dirname(os.path.abspath(p)) for p, is_dir in roots]
    mirror = os.path.commonpath(bases)
    seen: set[str] = set()
    for path, is_dir in roots:
        files = _walk(path) if is_dir else [(path, None)]
        for file_path, problem in files:
            rel = Path(os.path.relpath(os.path.abspath(file_path), mirror)).as_posix()
            if rel in seen:
                continue
            seen.add(rel)
            items.append(_item(file_path, rel, problem))
    return items


def _item(path: str, rel: str, problem: str | None) -> Item:
    suffix = Path(path).suffix.lower()
    if problem is not None:
        return Item(Path(path), path, rel, suffix, problem, skip=problem == "hidden directory")
    if format_for(suffix) is None:
        what = f"unsupported type {suffix!r}" if suffix else "unsupported type (no extension)"
        return Item(Path(path), path, rel, suffix, what, skip=True)
    return Item(Path(path), path, rel, suffix)


def _walk(top: str) -> list[tuple[str, str | None]]:
    """(path, problem) for every file below ``top``; directory links are followed, loops reported."""
    found: list[tuple[str, str | None]] = []
    start = os.stat(top)
    stack = [(top, frozenset({(start.st_dev, start.st_ino)}))]
    while stack:
        directory, ancestors = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name, reverse=True)
        except OSError as exc:
            found.append((directory, f"directory cannot be listed ({exc.strerror})"))
            continue
        subdirs = []
        for entry in reversed(entries):
            try:
                info = os.stat(entry.path)
            except OSError:
                found.append((entry.path, _link_problem(entry.path)))
                continue
            if stat.S_ISDIR(info.st_mode):
                if (info.st_dev, info.st_ino) in ancestors:
                    found.append((entry.path, "symlink loop (a directory link points back to its parent)"))
                elif entry.name.startswith("."):
                    found.append((entry.path, "hidden directory"))
                else:
                    subdirs.append((entry.path, ancestors | {(info.st_dev, info.st_ino)}))
            elif stat.S_ISREG(info.st_mode):
                found.append((entry.path, None))
            else:
                found.append((entry.path, "not a regular file"))
        stack.extend(reversed(subdirs))
    return found


def _inside(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def ensure_outside_inputs(items: list[Item], out_dir: Path, inputs: list[str],
                          also: Sequence[Path] = ()) -> list[Item]:
    """Refuse an OUTDIR inside an input directory, or any output (or ``also``: the mapping
    file) that would land on an input; mark outputs that collide with each other.

    Checked on resolved paths, so links and ``..`` cannot smuggle a write into the inputs.
    """
    out_real = out_dir.resolve()
    input_dirs = []
    for argument in inputs:
        for path in _expand(argument):
            if os.path.isdir(path):
                real = Path(path).resolve()
                if _inside(out_real, real):
                    raise BatchUsageError(f"OUTDIR {out_dir} is inside the input directory {path}; "
                                          "choose an OUTDIR outside every input")
                input_dirs.append(real)
    input_files = {item.path.resolve() for item in items if item.problem is None}
    for path in also:
        target = path.resolve()
        if target in input_files or any(_inside(target, d) for d in input_dirs):
            raise BatchUsageError(f"{path} is inside the inputs; write it outside every input")
    checked: list[Item] = []
    outputs: set[PurePosixPath] = set()
    for item in items:
        if item.problem is None:
            output = item.output_rel
            target = (out_dir / output).resolve()
            if target in input_files or any(_inside(target, d) for d in input_dirs):
                raise BatchUsageError(f"the output for {item.display} would overwrite an input; "
                                      "choose an OUTDIR outside every input")
            if output.parts[0] in RESERVED or output in outputs:
                item = Item(item.path, item.display, item.rel, item.suffix,
                            "its output path collides with another output or the batch report")
            outputs.add(output)
        checked.append(item)
    return checked
