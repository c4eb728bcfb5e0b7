"""The ``privroute`` command line: a frontend over the core, never imported by it.

One module per command family (prompt, policy, models, eval, audit, serve, batch,
demo); ``common`` holds what they share; ``main`` is the click group.
"""

from __future__ import annotations

from .main import main

__all__ = ["main"]
