"""The local model's worker process: ``python -m privroute.backends.worker_main``.

Started and supervised by ``worker.py``; this is the only process that loads
llama.cpp. Whatever happens in here (SIGILL from an instruction the CPU lacks, a
segfault, an out-of-memory kill, a hang) ends at most this process and the one
call it was answering.

Frames (``wire.py``) on stdin/stdout:

* router -> worker: ``{"config": {...}}`` once; then ``{"op": "complete" | "stream",
  "messages": [...], "max_tokens": n, "on_overflow": ...}``; during a stream,
  ``{"op": "cancel"}`` stops it.
* worker -> router: ``{"ready": {...}}`` (or ``{"error": ...}``) after loading; for
  "complete": ``{"done": {...}}``; for "stream": ``{"start": {...}}``, ``{"delta": s}``...,
  ``{"done": {"finish_reason": r}}``; any failure: ``{"error": {...}}``.

The worker exits when its stdin closes (``wire`` raises LocalWorkerError, "the other end is gone") (the router exited or dropped it). It runs in
its own session, so a Ctrl-C in the terminal reaches the router, which stops it.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from .base import Message
from ..errors import LocalWorkerError
from .wire import FrameReader, error_to_wire, write_frame

HANG_ENV = "PRIVROUTE_TEST_WORKER_HANG_FILE"
"""Tests only: when this names an existing file, the next request consumes it and sleeps
(the file's content in seconds, default 3600) before answering: a hung worker on demand."""


def _test_hang() -> None:
    path = os.environ.get(HANG_ENV)
    if not path:
        return
    try:
        text = Path(path).read_text().strip()
        os.unlink(path)  # one-shot: exactly one request (of one worker) hangs
    except OSError:
        return
    try:
        seconds = float(text or 3600)
    except ValueError:
        seconds = 3600.0
    time.sleep(seconds)


def _engine(config: dict[str, Any]) -> tuple[Any, Any]:
    from .llamacpp import LlamaCppBackend

    engine = LlamaCppBackend(
        config["model"], n_ctx=int(config["n_ctx"]), n_gpu_layers=int(config["n_gpu_layers"]),
        n_threads=config.get("n_threads"), max_output_tokens=int(config["n_ctx"]), seed=int(config["seed"]),
        verify=False,  # the router checked the file before starting this worker
    )
    llm, _ = engine.load()
    return engine, llm


def _serve(engine: Any, llm: Any, request: dict[str, Any], reader: FrameReader, out: int) -> None:
    messages = [Message(str(m["role"]), str(m["content"])) for m in request["messages"]]
    limit = int(request["max_tokens"])
    _test_hang()
    try:
        fitted = engine.fit(messages, limit, llm, on_overflow=request.get("on_overflow"))
        if request.get("op") != "stream":
            completion = engine.complete_fitted(fitted, limit, llm)
            usage = completion.usage
            write_frame(out, {"done": {
                "text": completion.text, "finish_reason": completion.finish_reason,
                "prompt_tokens": usage.prompt_tokens if usage else 0,
                "completion_tokens": usage.completion_tokens if usage else 0,
                "input_truncated": fitted.input_truncated}})
            return
        write_frame(out, {"start": {"input_truncated": fitted.input_truncated,
                                    "prompt_tokens": fitted.prompt_tokens}})
        deltas = engine.stream_fitted(fitted, limit, llm)
        finish = None
        while True:
            pending = reader.poll()  # one cheap poll per token: the router may have cancelled
            if pending is not None and pending.get("op") == "cancel":
                deltas.close()
                finish = "cancelled"
                break
            try:
                delta = next(deltas)
            except StopIteration as stop:
                finish = stop.value
                break
            write_frame(out, {"delta": delta})
        write_frame(out, {"done": {"finish_reason": finish}})
    except LocalWorkerError:  # the router's end of the pipe is gone
        raise
    except Exception as exc:  # every failure goes back to the caller as a typed, PII-free error
        write_frame(out, {"error": error_to_wire(exc)})


def main() -> int:
    out = os.dup(1)
    # llama.cpp's C code may print to fd 1: send that to stderr, never into the frames.
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    reader = FrameReader(0)
    try:
        config = reader.read().get("config") or {}
        try:
            engine, llm = _engine(config)
        except Exception as exc:  # noqa: BLE001 - a load failure of any kind goes back typed, then exit
            write_frame(out, {"error": error_to_wire(exc)})
            return 1
        write_frame(out, {"ready": {"pid": os.getpid(), "model": engine.model}})
        while True:
            request = reader.read()
            if request.get("op") in ("complete", "stream"):
                _serve(engine, llm, request, reader, out)
            # anything else (a cancel that came after its stream ended) needs no answer
    except LocalWorkerError:  # stdin closed: the router exited or dropped this worker
        return 0


if __name__ == "__main__":
    sys.exit(main())
