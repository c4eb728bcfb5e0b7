"""Test doubles shipped as public API: a recording OpenAI-compatible server, fakes.

``OpenAIServer`` is a real HTTP server on 127.0.0.1 that records every request;
``FakeBackend`` and ``FakeDetector`` are the narrow fakes for the fast test tier
(router, dispatch, classification and resilience without spaCy or SmolLM2).

Public API (like httpx's MockTransport): tests use it as the frontier side, so the
real openai client and the real HTTP path run, and every request body that
"left the machine" can be inspected. ``privroute demo`` uses it, backed by the
local model, as a clearly labelled stand-in for a frontier when no key is set.

``mutate_text`` and ``TRANSFORMS`` (from privroute.mutate) turn any labeled data set into
evasion cases: every PII value rewritten by seeded, composable transforms, the label
spans kept aligned.

A responder decides each reply; a ``Reply`` can inject faults (status codes,
Retry-After, delays, dropped connections, malformed bodies, truncated answers,
streams cut in the middle) or answer with tool calls (their arguments streamed in
pieces split where the test says). ``/embeddings`` answers deterministic vectors
(a hash of each input), so a test can tell which text was embedded.
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .backends.base import Backend, Message
from .backends.fake import FakeBackend
from .detect.fake import FakeDetector
from .mutate import TRANSFORMS, Mutated, mutate_text

__all__ = ["TRANSFORMS", "FakeBackend", "FakeDetector", "Mutated", "OpenAIServer", "Reply", "echo", "fake_vector",
           "mutate_text"]


@dataclass(frozen=True)
class Reply:
    """How the server answers one request."""

    content: str | None = None
    status: int = 200
    finish_reason: str = "stop"
    headers: Mapping[str, str] = field(default_factory=dict)
    raw_body: bytes | None = None
    delay_s: float = 0.0
    drop: bool = False
    cut_stream_after: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    tool_calls: tuple[Mapping[str, str], ...] = ()
    """``{"name", "arguments"}`` (and optionally ``"id"``) per call; finish_reason becomes "tool_calls"."""
    split_at: tuple[int, ...] | None = None
    """Where a streamed tool call's arguments are cut into pieces (default: every ``stream_chunk_chars``)."""


Responder = Callable[[dict[str, Any]], "Reply | str"]


def echo(body: dict[str, Any]) -> str:
    """Default responder: repeat the last message, so placeholders come back."""
    messages = body.get("messages") or [{}]
    return f"You said: {messages[-1].get('content', '')}"


class OpenAIServer:
    """``with OpenAIServer() as server: OpenAI(base_url=server.url, ...)``."""

    def __init__(
        self,
        respond: Responder | None = None,
        *,
        backend: Backend | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        model: str = "test-frontier",
        stream_chunk_chars: int = 4,
    ) -> None:
        if respond is not None and backend is not None:
            raise ValueError("give respond or backend, not both")
        self.model = model
        self._respond: Responder = respond or (_backend_responder(backend) if backend else echo)
        self._chunk = stream_chunk_chars
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.raw_bodies: list[bytes] = []
        self.handler_errors: list[BaseException] = []
        self._httpd = _RecordingHTTPServer((host, port), self._handler_class(), self.handler_errors)
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -------------------------------------------------------------- lifecycle

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "OpenAIServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="openai-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> "OpenAIServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -------------------------------------------------------------- records

    def bodies_text(self) -> str:
        """Every recorded request body, decoded, concatenated: grep it for leaks."""
        with self._lock:
            return "\n".join(b.decode("utf-8", "replace") for b in self.raw_bodies)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.raw_bodies.clear()

    # -------------------------------------------------------------- handler

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's
            # algorithm and delayed ACKs add ~40 ms to every loopback request.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": server.model, "object": "model",
                                                                 "owned_by": "privroute-test"}]})
                else:
                    self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._json(400, {"error": {"message": "invalid JSON", "type": "invalid_request_error"}})
                    return
                with server._lock:
                    server.raw_bodies.append(raw)
                    server.requests.append(body)
                if self.path.rstrip("/").endswith("/embeddings"):
                    self._embeddings(body)
                    return
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                    return
                reply = server._respond(body)
                if isinstance(reply, str):
                    reply = Reply(content=reply)
                self._answer(body, reply)

            def _answer(self, body: dict[str, Any], reply: Reply) -> None:
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                if reply.status != 200 or reply.raw_body is not None:
                    payload = reply.raw_body if reply.raw_body is not None else json.dumps(
                        {"error": {"message": f"injected {reply.status}", "type": "server_error"}}).encode()
                    self._send(reply.status, payload, reply.headers)
                    return
                content = reply.content or ""
                if body.get("stream"):
                    self._stream(content, reply)
                    return
                prompt_tokens = reply.prompt_tokens if reply.prompt_tokens is not None else _count(body)
                completion_tokens = (reply.completion_tokens if reply.completion_tokens is not None
                                     else len(content.split()))
                message: dict[str, Any] = {"role": "assistant", "content": content}
                finish_reason = reply.finish_reason
                if reply.tool_calls:
                    message["content"] = reply.content
                    message["tool_calls"] = [{"id": call.get("id", f"call_{i}"), "type": "function",
                                              "function": {"name": call["name"], "arguments": call["arguments"]}}
                                             for i, call in enumerate(reply.tool_calls)]
                    finish_reason = "tool_calls"
                self._json(200, {
                    "id": "chatcmpl-test", "object": "chat.completion", "created": int(time.time()),
                    "model": server.model,
                    "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                              "total_tokens": prompt_tokens + completion_tokens},
                }, reply.headers)

            def _stream(self, content: str, reply: Reply) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.close_connection = True
                pieces = [content[i : i + server._chunk] for i in range(0, len(content), server._chunk)]
                for index, piece in enumerate(pieces):
                    if reply.cut_stream_after is not None and index >= reply.cut_stream_after:
                        self.connection.close()
                        return
                    self._event({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
                for number, call in enumerate(reply.tool_calls):
                    for position, piece in enumerate(_split(call["arguments"], reply.split_at, server._chunk)):
                        delta: dict[str, Any] = {"index": number, "function": {"arguments": piece}}
                        if position == 0:
                            delta.update(id=call.get("id", f"call_{number}"), type="function")
                            delta["function"]["name"] = call["name"]
                        self._event({"choices": [{"index": 0, "delta": {"tool_calls": [delta]},
                                                  "finish_reason": None}]})
                finish_reason = "tool_calls" if reply.tool_calls else reply.finish_reason
                self._event({"choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def _embeddings(self, body: dict[str, Any]) -> None:
                inputs = body.get("input")
                texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
                data = [{"object": "embedding", "index": i, "embedding": fake_vector(str(text))}
                        for i, text in enumerate(texts)]
                tokens = sum(len(str(text).split()) for text in texts)
                self._json(200, {"object": "list", "data": data, "model": body.get("model") or server.model,
                                 "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

            def _event(self, data: dict[str, Any]) -> None:
                data = {"id": "chatcmpl-test", "object": "chat.completion.chunk", "created": int(time.time()),
                        "model": server.model, **data}
                self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()

            def _json(self, status: int, data: dict[str, Any], headers: Mapping[str, str] | None = None) -> None:
                self._send(status, json.dumps(data).encode(), headers or {})

            def _send(self, status: int, payload: bytes, headers: Mapping[str, str]) -> None:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

        return Handler


class _RecordingHTTPServer(ThreadingHTTPServer):
    """Keeps handler exceptions for tests instead of printing tracebacks to stderr.

    A client that hangs up mid-answer (fault tests do it on purpose) is not an error.
    """

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler],
                 errors: list[BaseException]) -> None:
        super().__init__(address, handler)
        self._errors = errors

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if exc is not None and not isinstance(exc, (BrokenPipeError, ConnectionResetError)):
            self._errors.append(exc)


def fake_vector(text: str, size: int = 8) -> list[float]:
    """The test server's embedding of ``text``: deterministic, different for different texts."""
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return [round(byte / 255.0, 6) for byte in digest[:size]]


def _split(text: str, at: tuple[int, ...] | None, size: int) -> list[str]:
    cuts = sorted({0, len(text), *(at if at is not None else range(0, len(text), max(1, size)))})
    pieces = [text[a:b] for a, b in zip(cuts, cuts[1:])]
    return pieces or [""]


def _count(body: dict[str, Any]) -> int:
    return sum(len(str(m.get("content", "")).split()) for m in body.get("messages") or [])


def _backend_responder(backend: Backend) -> Responder:
    def respond(body: dict[str, Any]) -> Reply:
        messages = [Message(str(m.get("role", "user")), str(m.get("content", ""))) for m in body.get("messages", [])]
        completion = backend.complete(messages, max_tokens=body.get("max_tokens"))
        usage = completion.usage
        return Reply(content=completion.text, finish_reason=completion.finish_reason or "stop",
                     prompt_tokens=usage.prompt_tokens if usage else None,
                     completion_tokens=usage.completion_tokens if usage else None)

    return respond
