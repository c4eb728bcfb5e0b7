"""Where the files that ship with privroute are: the policies and the model catalog.

In the repository they sit at the top (``policies/``, ``models/``), where a reader
looks for them; the wheel maps both into the package (``privroute/policies``,
``privroute/models``; see pyproject.toml). This module finds whichever exists, so a
wheel install, an editable install and a plain checkout on ``PYTHONPATH`` agree.
"""

from __future__ import annotations

import os
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

__all__ = ["MODELS_DIR_ENV", "shipped_dir", "user_model_dirs"]

MODELS_DIR_ENV = "PRIVROUTE_MODELS_DIR"
_CHECKOUT = Path(__file__).resolve().parent.parent


def shipped_dir(folder: str) -> Traversable:
    """``policies`` or ``models``: inside the installed package, else the checkout's top level."""
    inside = resources.files("privroute").joinpath(folder)
    if inside.is_dir():
        return inside
    return _CHECKOUT / folder


def user_model_dirs() -> tuple[Path, ...]:
    """Folders where ``privroute models list`` looks for a user's own ``.gguf`` files.

    ``$PRIVROUTE_MODELS_DIR`` when set, and the checkout's top-level ``models/`` (the
    design's place for them; ``*.gguf`` is git-ignored there).
    """
    found: list[Path] = []
    configured = os.environ.get(MODELS_DIR_ENV)
    if configured:
        found.append(Path(configured).expanduser())
    if (_CHECKOUT / "models" / "catalog.yaml").is_file():
        found.append(_CHECKOUT / "models")
    return tuple(dict.fromkeys(p for p in found if p.is_dir()))
