"""The local model, in process, through llama-cpp-python.

The GGUF file loads once (lazily, on first use) and is shared by every Router in
the process that names the same file and settings. llama.cpp contexts are not
thread-safe, so calls on one model are serialised by a lock.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import BackendError, MissingDependency
from ..models import resolve_model, verify_checksum
from .base import Completion, Message, Usage

__all__ = ["LlamaCppBackend"]

_shared: dict[tuple[Any, ...], tuple[Any, threading.Lock]] = {}
_shared_lock = threading.Lock()


def _load(path: str, n_ctx: int, n_gpu_layers: int, n_threads: int | None, chat_format: str | None,
          seed: int) -> tuple[Any, threading.Lock]:
    key = (path, n_ctx, n_gpu_layers, n_threads, chat_format, seed)
    with _shared_lock:
        if key in _shared:
            return _shared[key]
        try:
            import llama_cpp
        except ImportError as exc:
            raise MissingDependency("llama-cpp-python", "local") from exc
        try:
            llm = llama_cpp.Llama(
                model_path=path, n_ctx=n_ctx, n_gpu_layers=n_gpu_layers,
                n_threads=n_threads or max(1, min(4, os.cpu_count() or 1)),
                chat_format=chat_format, seed=seed, verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise BackendError(f"local model failed to load ({type(exc).__name__})", backend="local") from exc
        _shared[key] = (llm, threading.Lock())
        return _shared[key]


@atexit.register
def _close_all() -> None:
    """Free models before interpreter teardown, when llama.cpp's own finaliser would crash."""
    with _shared_lock:
        for llm, _ in _shared.values():
            try:
                llm.close()
            except Exception:  # best effort at exit; nothing to report to
                pass
        _shared.clear()


class LlamaCppBackend:
    """A GGUF model (catalog name or path) served in this process."""

    def __init__(
        self,
        model: str = "smollm2-135m-instruct",
        *,
        n_ctx: int = 2048,
        n_gpu_layers: int = 0,
        n_threads: int | None = None,
        max_output_tokens: int = 256,
        seed: int = 0,
        name: str = "local",
    ) -> None:
        self.name = name
        self.model_ref = model
        self.n_ctx = n_ctx
        self.n_gpu_layers = n_gpu_layers
        self.n_threads = n_threads
        self.max_output_tokens = max_output_tokens
        self.seed = seed
        self._resolved = resolve_model(model)  # cheap: locates the file, loads nothing
        self.model = self._resolved.name

    def __repr__(self) -> str:
        return f"LlamaCppBackend(model={self.model!r}, n_gpu_layers={self.n_gpu_layers}, n_ctx={self.n_ctx})"

    def _llm(self) -> tuple[Any, threading.Lock]:
        verify_checksum(self._resolved)
        return _load(str(self._resolved.path), self.n_ctx, self.n_gpu_layers, self.n_threads,
                     self._resolved.chat_format, self.seed)

    def _fit(self, messages: Sequence[Message], max_tokens: int) -> list[dict[str, str]]:
        """Trim the oldest non-system turns so the prompt leaves room for the answer."""
        budget_chars = max(256, (self.n_ctx - max_tokens - 64) * 3)
        kept = [m.as_dict() for m in messages]
        while len(kept) > 1 and sum(len(m["content"]) for m in kept) > budget_chars:
            drop = next((i for i, m in enumerate(kept) if m["role"] != "system"), 0)
            kept.pop(drop)
        if sum(len(m["content"]) for m in kept) > budget_chars:
            last = kept[-1]
            kept[-1] = {"role": last["role"], "content": last["content"][-budget_chars:]}
        return kept

    def complete(self, messages: Sequence[Message], *, max_tokens: int | None = None,
                 timeout: float | None = None) -> Completion:
        llm, lock = self._llm()
        limit = min(max_tokens or self.max_output_tokens, self.max_output_tokens)
        with lock:
            try:
                response = llm.create_chat_completion(
                    messages=self._fit(messages, limit), max_tokens=limit, temperature=0.0, seed=self.seed
                )
            except (ValueError, RuntimeError) as exc:
                raise BackendError(f"local model failed ({type(exc).__name__})", backend=self.name) from exc
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        return Completion(
            text=choice["message"].get("content") or "",
            model=self.model,
            finish_reason=choice.get("finish_reason"),
            usage=Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))),
        )

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None,
               timeout: float | None = None) -> Iterator[str]:
        llm, lock = self._llm()
        limit = min(max_tokens or self.max_output_tokens, self.max_output_tokens)
        with lock:
            try:
                for chunk in llm.create_chat_completion(
                    messages=self._fit(messages, limit), max_tokens=limit, temperature=0.0, seed=self.seed,
                    stream=True,
                ):
                    delta = chunk["choices"][0].get("delta", {}).get("content")
                    if delta:
                        yield delta
            except (ValueError, RuntimeError) as exc:
                raise BackendError(f"local model failed ({type(exc).__name__})", backend=self.name) from exc
