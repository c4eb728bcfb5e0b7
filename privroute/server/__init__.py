"""The OpenAI-compatible privacy proxy: a frontend over the core, never imported by it.

``app`` (Starlette app, ``create_app``), ``protocol`` (request parsing, response and
error bodies), ``gate`` (the bounded local-model queue), ``config`` (serve config,
tenants, keys), ``metrics`` (Prometheus). Starlette loads only with ``app``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(f"module 'privroute.server' has no attribute {name!r}")
