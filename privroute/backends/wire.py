"""Frames between the router and its local model worker, over the worker's stdin/stdout pipes.

A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON. Reads
and writes on the router's side take a deadline (``time.monotonic()`` value, or
None for no limit): a worker that stops reading or writing can never hold a
caller longer than its deadline. ``select.poll`` is used rather than
``select.select``, which fails on descriptors above 1023 (a busy proxy has them).

A deadline that passes raises ``LocalTimeout``; the other end gone (it exited or was
killed, or sent garbage) raises ``LocalWorkerError``. The router's side re-raises both
with what it knows (the deadline, the signal that ended the worker).

Errors cross the pipe as their type name and PII-free message (privroute's
messages never hold prompt text), and are rebuilt here as the same type.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

from .. import errors

__all__ = ["FrameReader", "error_from_wire", "error_to_wire", "write_frame"]

_HEADER = struct.Struct(">I")
MAX_FRAME = 256 << 20  # a prompt is bounded by limits.max_prompt_chars long before this


def _closed(why: str = "its pipe closed") -> errors.LocalWorkerError:
    return errors.LocalWorkerError(f"the other end of the local model's pipe is gone ({why})")


def _late() -> errors.LocalTimeout:
    return errors.LocalTimeout("the local model's pipe was not ready before the deadline", backend="local")


def encode(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return _HEADER.pack(len(body)) + body


def _remaining_ms(deadline: float | None) -> int | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise _late()
    return max(1, int(left * 1000))


def _wait(fd: int, events: int, deadline: float | None) -> None:
    poller = select.poll()
    poller.register(fd, events)
    while not poller.poll(_remaining_ms(deadline)):
        pass  # woke without an event (timeout rounding): _remaining_ms raises once it is over


def write_frame(fd: int, message: dict[str, Any], deadline: float | None = None) -> None:
    """Write one frame; on a non-blocking fd, waits for room until the deadline."""
    data = memoryview(encode(message))
    while data:
        try:
            written = os.write(fd, data)
        except BlockingIOError:
            _wait(fd, select.POLLOUT, deadline)
            continue
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise _closed() from exc
        data = data[written:]


class FrameReader:
    """Reads frames from one fd, keeping what arrived beyond the current frame."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = bytearray()

    def _take(self) -> dict[str, Any] | None:
        if len(self._buffer) < _HEADER.size:
            return None
        (size,) = _HEADER.unpack_from(self._buffer)
        if size > MAX_FRAME:
            raise _closed(f"a frame of {size} bytes is over the limit")
        end = _HEADER.size + size
        if len(self._buffer) < end:
            return None
        body = bytes(self._buffer[_HEADER.size:end])
        del self._buffer[:end]
        try:
            message = json.loads(body.decode("utf-8"))
        except ValueError:
            raise _closed("a frame is not JSON") from None
        if not isinstance(message, dict):
            raise _closed("a frame is not an object")
        return message

    def _fill(self) -> None:
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError as exc:
            raise _closed() from exc
        if not data:
            raise _closed()
        self._buffer += data

    def read(self, deadline: float | None = None) -> dict[str, Any]:
        """The next frame; LocalTimeout past the deadline, LocalWorkerError when the writer is gone."""
        while True:
            message = self._take()
            if message is not None:
                return message
            _wait(self.fd, select.POLLIN, deadline)
            self._fill()

    def poll(self) -> dict[str, Any] | None:
        """A frame if one is already there, without waiting."""
        message = self._take()
        if message is not None:
            return message
        poller = select.poll()
        poller.register(self.fd, select.POLLIN)
        if poller.poll(0):
            self._fill()
        return self._take()


# ---------------------------------------------------------------- errors across the pipe

_REBUILT = {
    "ContextOverflow": lambda m, a: errors.ContextOverflow(**a),
    "MissingDependency": lambda m, a: errors.MissingDependency(a["package"], a["extra"]),
    "ConfigurationError": lambda m, a: errors.ConfigurationError(m),
    "ModelNotFound": lambda m, a: errors.ModelNotFound(m),
    "InputError": lambda m, a: errors.InputError(m),
}


def error_to_wire(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, errors.ContextOverflow):
        attrs: dict[str, Any] = {"prompt_tokens": exc.prompt_tokens, "fits": exc.fits, "n_ctx": exc.n_ctx,
                                 "answer_tokens": exc.answer_tokens}
        return {"type": "ContextOverflow", "message": str(exc), "attrs": attrs}
    if isinstance(exc, errors.MissingDependency):
        return {"type": "MissingDependency", "message": str(exc),
                "attrs": {"package": exc.package, "extra": exc.extra}}
    if isinstance(exc, errors.PrivrouteError):
        name = type(exc).__name__
        return {"type": name if name in _REBUILT else "BackendError", "message": str(exc), "attrs": {}}
    # A third-party exception's text may quote the prompt: its type is all that crosses.
    return {"type": "BackendError", "message": f"local model failed ({type(exc).__name__})", "attrs": {}}


def error_from_wire(data: dict[str, Any], backend: str) -> errors.PrivrouteError:
    name, message, attrs = str(data.get("type")), str(data.get("message", "")), data.get("attrs") or {}
    build = _REBUILT.get(name)
    if build is not None:
        try:
            return build(message, attrs)
        except (KeyError, TypeError):
            pass  # a worker from another version: fall through to a plain BackendError
    return errors.BackendError(message or "local model failed", backend=backend)
