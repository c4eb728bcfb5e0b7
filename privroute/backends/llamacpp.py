"""The local model in *this* process, through llama-cpp-python.

This is the engine the supervised worker (``worker.py``) runs inside its child
process; policies never load it into the router's own process. It is also the
in-process reference that ``benchmarks/bench_local.py`` measures the worker against.

The GGUF file loads once (lazily, on first use) and is shared by every backend in
the process that names the same file and settings. llama.cpp contexts are not
thread-safe, so calls on one model are serialised by a lock.

Prompts are measured in the model's own tokens (the chat template applied), never
cut silently: a prompt that leaves less than the answer's token limit of ``n_ctx``
raises ContextOverflow, unless ``on_overflow="keep_recent"``, which drops the oldest
non-system turns and then the front of the last message, and says so
(``Completion.input_truncated``).
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import BackendError, ConfigurationError, ContextOverflow, MissingDependency
from ..models import resolve_model, verify_checksum
from .base import Completion, Message, Usage
from .build import rebuild_command

__all__ = ["Fitted", "LlamaCppBackend", "default_threads"]

_shared: dict[tuple[Any, ...], tuple[Any, threading.Lock]] = {}
_shared_lock = threading.Lock()


def default_threads(workers: int = 1) -> int:
    """llama.cpp threads per model: the cores shared between workers, at most 4 each."""
    return max(1, min(4, (os.cpu_count() or 1) // max(1, workers)))


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise MissingDependency("llama-cpp-python", "local") from exc
    return llama_cpp


def check_gpu_offload(n_gpu_layers: int) -> None:
    """n_gpu_layers != 0 needs a build with GPU offload; say how to get one instead of running on the CPU."""
    if n_gpu_layers == 0:
        return
    if not _import_llama_cpp().llama_supports_gpu_offload():
        raise ConfigurationError(
            f"local.n_gpu_layers is {n_gpu_layers} but this llama-cpp-python build has no GPU offload; "
            f"set local.n_gpu_layers: 0, or rebuild it for your GPU: {rebuild_command('cuda')} "
            f"(Apple silicon: {rebuild_command('metal')})"
        )


def _load(path: str, n_ctx: int, n_gpu_layers: int, n_threads: int | None, chat_format: str | None,
          seed: int) -> tuple[Any, threading.Lock]:
    key = (path, n_ctx, n_gpu_layers, n_threads, chat_format, seed)
    with _shared_lock:
        if key in _shared:
            return _shared[key]
        llama_cpp = _import_llama_cpp()
        check_gpu_offload(n_gpu_layers)
        try:
            llm = llama_cpp.Llama(
                model_path=path, n_ctx=n_ctx, n_gpu_layers=n_gpu_layers,
                n_threads=n_threads or default_threads(),
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


class _DryRun:
    """Stands in for the Llama object inside a chat handler.

    The handler applies the chat template and tokenizes exactly as for a real call,
    then passes the tokens to ``create_completion``, which here only counts them and
    returns an empty stream (the handler wraps it lazily, so nothing is evaluated):
    an exact prompt size in the model's tokens.
    """

    def __init__(self, llm: Any) -> None:
        self._llm = llm
        self.tokens: int | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._llm, name)

    def create_completion(self, prompt: Any, **_: Any) -> Iterator[Any]:
        if not isinstance(prompt, list):
            prompt = self._llm.tokenize(str(prompt).encode("utf-8"), special=True)
        self.tokens = len(prompt)
        return iter(())


@dataclass(frozen=True)
class Fitted:
    """Messages that fit the context, as llama-cpp-python takes them."""

    messages: tuple[dict[str, str], ...]
    prompt_tokens: int
    input_truncated: bool

    def __repr__(self) -> str:
        return (f"Fitted(messages={len(self.messages)}, prompt_tokens={self.prompt_tokens}, "
                f"input_truncated={self.input_truncated})")


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
        on_overflow: str = "refuse",
        verify: bool = True,
        name: str = "local",
    ) -> None:
        if on_overflow not in ("refuse", "keep_recent"):
            raise ConfigurationError(f"on_overflow must be 'refuse' or 'keep_recent', not {on_overflow!r}")
        self.name = name
        self.model_ref = model
        self.n_ctx = n_ctx
        self.n_gpu_layers = n_gpu_layers
        self.n_threads = n_threads
        self.max_output_tokens = max_output_tokens
        self.seed = seed
        self.on_overflow = on_overflow
        self.verify = verify
        """Check the catalog's sha256 before loading (a worker's router has already checked it)."""
        self._resolved = resolve_model(model)  # cheap: locates the file, loads nothing
        self.model = self._resolved.name

    def __repr__(self) -> str:
        return f"LlamaCppBackend(model={self.model!r}, n_gpu_layers={self.n_gpu_layers}, n_ctx={self.n_ctx})"

    def load(self) -> tuple[Any, threading.Lock]:
        """Load the model now (checksum, GPU offload, llama.cpp); later calls reuse it."""
        if self.verify:
            verify_checksum(self._resolved)
        return _load(str(self._resolved.path), self.n_ctx, self.n_gpu_layers, self.n_threads,
                     self._resolved.chat_format, self.seed)

    def limit(self, max_tokens: int | None) -> int:
        return min(max_tokens or self.max_output_tokens, self.max_output_tokens)

    # ------------------------------------------------------------ fitting the context

    def count_tokens(self, llm: Any, messages: Sequence[dict[str, str]]) -> int:
        from llama_cpp import llama_chat_format

        handler = (llm.chat_handler or llm._chat_handlers.get(llm.chat_format)
                   or llama_chat_format.get_chat_completion_handler(llm.chat_format))
        dry = _DryRun(llm)
        handler(llama=dry, messages=list(messages), max_tokens=1, stream=True)
        if dry.tokens is not None:
            return dry.tokens
        # A handler that never reaches create_completion (multimodal ones): count the text itself.
        text = "\n".join(m["content"] for m in messages)
        return len(llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)) + 8 * len(messages)

    def fit(self, messages: Sequence[Message], limit: int, llm: Any | None = None, *,
            on_overflow: str | None = None) -> Fitted:
        """The messages if they leave ``limit`` tokens for the answer; else refuse or keep the recent part."""
        on_overflow = on_overflow or self.on_overflow
        if llm is None:
            llm, _ = self.load()
        room = self.n_ctx - limit
        kept = [m.as_dict() for m in messages]
        count = self.count_tokens(llm, kept)
        if count <= room:
            return Fitted(tuple(kept), count, False)
        overflow = ContextOverflow(prompt_tokens=count, fits=max(0, room), n_ctx=self.n_ctx, answer_tokens=limit)
        if on_overflow != "keep_recent" or room <= 0:
            raise overflow
        # Oldest turns first; system messages carry the instructions and stay.
        while count > room:
            drop = next((i for i, m in enumerate(kept[:-1]) if m["role"] != "system"), None)
            if drop is None:
                break
            kept.pop(drop)
            count = self.count_tokens(llm, kept)
        for _ in range(4):  # the template's tokens around the text shift a little: re-measure
            if count <= room:
                break
            last = kept[-1]
            tokens = llm.tokenize(last["content"].encode("utf-8"), add_bos=False, special=False)
            keep = len(tokens) - (count - room) - 2
            if keep <= 0:
                raise overflow  # what must stay (system messages) does not fit by itself
            text = llm.detokenize(tokens[-keep:]).decode("utf-8", errors="ignore")
            kept[-1] = {"role": last["role"], "content": text}
            count = self.count_tokens(llm, kept)
        if count > room:
            raise overflow
        return Fitted(tuple(kept), count, True)

    # ------------------------------------------------------------ generating

    def _options(self, limit: int) -> dict[str, Any]:
        return {"max_tokens": limit, "temperature": 0.0, "seed": self.seed}

    def complete(self, messages: Sequence[Message], *, max_tokens: int | None = None,
                 timeout: float | None = None) -> Completion:
        llm, lock = self.load()
        limit = self.limit(max_tokens)
        with lock:
            return self.complete_fitted(self.fit(messages, limit, llm), limit, llm)

    def complete_fitted(self, fitted: Fitted, limit: int, llm: Any | None = None) -> Completion:
        """The whole answer to already-fitted messages."""
        if llm is None:
            llm, _ = self.load()
        try:
            response = llm.create_chat_completion(messages=list(fitted.messages), **self._options(limit))
        except (ValueError, RuntimeError) as exc:
            raise BackendError(f"local model failed ({type(exc).__name__})", backend=self.name) from exc
        choice = response["choices"][0]
        usage = response.get("usage") or {}
        return Completion(
            text=choice["message"].get("content") or "",
            model=self.model,
            finish_reason=choice.get("finish_reason"),
            usage=Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))),
            input_truncated=fitted.input_truncated,
        )

    def stream(self, messages: Sequence[Message], *, max_tokens: int | None = None,
               timeout: float | None = None) -> Iterator[str]:
        llm, lock = self.load()
        limit = self.limit(max_tokens)
        with lock:
            fitted = self.fit(messages, limit, llm)
            return (yield from self.stream_fitted(fitted, limit, llm))

    def stream_fitted(self, fitted: Fitted, limit: int, llm: Any | None = None) -> Iterator[str]:
        """Deltas of the answer to already-fitted messages; returns the finish reason."""
        if llm is None:
            llm, _ = self.load()
        finish_reason = None
        try:
            for chunk in llm.create_chat_completion(messages=list(fitted.messages), stream=True,
                                                    **self._options(limit)):
                choice = chunk["choices"][0]
                finish_reason = choice.get("finish_reason") or finish_reason
                delta = choice.get("delta", {}).get("content")
                if delta:
                    yield delta
        except (ValueError, RuntimeError) as exc:
            raise BackendError(f"local model failed ({type(exc).__name__})", backend=self.name) from exc
        return finish_reason
