"""Keep prompt text out of third-party DEBUG logs.

openai 1.x logs every request's options, message bodies included, at DEBUG
("Request options: {...}"); a user who turns on DEBUG to chase a network problem
would write prompts (raw PII, for a local OpenAI-compatible server) into their
logs. A filter on those loggers withholds any log argument that carries a request
body. Presidio logs the words around each entity at DEBUG ("Context list is:
..."), often as pre-formatted f-strings, so its DEBUG records are withheld whole.
privroute's own loggers never log text, only counts, types and rule ids.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

__all__ = ["WithholdBodies", "WithholdDebugText", "install"]

_LOGGERS = ("openai", "openai._base_client", "httpx", "httpx2", "httpcore", "httpcore.http11")
_TEXT_LOGGERS = ("presidio-analyzer", "presidio-anonymizer", "decision_process")
_BODY_KEYS = frozenset({"json_data", "messages", "content", "prompt", "input", "files", "data"})
_installed = False
_lock = threading.Lock()


def _holds_body(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(key in _BODY_KEYS or _holds_body(item) for key, item in value.items())
    if isinstance(value, (bytes, bytearray)):
        return True
    if isinstance(value, str):
        return '"messages"' in value or "'messages'" in value or '"content"' in value
    if isinstance(value, (list, tuple)):
        return any(_holds_body(item) for item in value)
    return hasattr(value, "json_data")


class WithholdBodies(logging.Filter):
    """Replaces a record whose arguments carry a request body with a fixed line."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not args:
            return True
        values = tuple(args.values()) if isinstance(args, Mapping) else tuple(args)
        if any(_holds_body(value) for value in values):
            record.msg = "request details withheld by privroute (they may hold prompt text)"
            record.args = ()
        return True


class WithholdDebugText(logging.Filter):
    """For libraries that log the analysed text at DEBUG: keep the record, drop its content."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG:
            record.msg = "detail withheld by privroute (it may quote the analysed text)"
            record.args = ()
        return True


def install() -> None:
    """Attach the filters to the openai/httpx and presidio loggers (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        withhold = WithholdBodies()
        for name in _LOGGERS:
            logging.getLogger(name).addFilter(withhold)
        quiet = WithholdDebugText()
        for name in _TEXT_LOGGERS:
            logging.getLogger(name).addFilter(quiet)
        _installed = True
