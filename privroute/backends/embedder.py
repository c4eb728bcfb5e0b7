"""Local embeddings through llama.cpp: the policy's local GGUF model, loaded for embedding.

A model loaded for chat cannot embed (llama.cpp needs ``embedding=True`` at load
time), so the embedder keeps its own instance, loaded on first use into the
engine's table of loaded models (``llamacpp``: shared by every embedder with the
same file and settings, freed at exit) and run in this process, not in a
supervised worker. Vectors are the mean of the token vectors, so one text gives
one vector whatever the model's default pooling.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import BackendError
from ..models import resolve_model, verify_checksum
from .base import Embeddings, Usage
from .llamacpp import _import_llama_cpp, _shared, _shared_lock, check_gpu_offload, default_threads

if TYPE_CHECKING:
    from ..policy import LocalConfig

__all__ = ["LlamaCppEmbedder", "local_embedder_from_config"]

class LlamaCppEmbedder:
    """``embed(texts)`` with a GGUF model (catalog name or path) in this process."""

    name = "local"

    def __init__(self, model: str = "smollm2-135m-instruct", *, n_ctx: int = 2048, n_threads: int | None = None,
                 n_gpu_layers: int = 0) -> None:
        self._resolved = resolve_model(model)  # locates the file, loads nothing
        self.model = self._resolved.name
        self.n_ctx, self.n_threads, self.n_gpu_layers = n_ctx, n_threads, n_gpu_layers

    def __repr__(self) -> str:
        return f"LlamaCppEmbedder(model={self.model!r}, n_ctx={self.n_ctx})"

    def _llm(self) -> tuple[Any, threading.Lock]:
        verify_checksum(self._resolved)
        path = str(self._resolved.path)
        key = ("embedding", path, self.n_ctx, self.n_threads, self.n_gpu_layers)
        with _shared_lock:
            if key not in _shared:
                llama_cpp = _import_llama_cpp()
                check_gpu_offload(self.n_gpu_layers)
                try:
                    llm = llama_cpp.Llama(
                        model_path=path, n_ctx=self.n_ctx, n_gpu_layers=self.n_gpu_layers, embedding=True,
                        pooling_type=llama_cpp.LLAMA_POOLING_TYPE_MEAN, verbose=False,
                        n_threads=self.n_threads or default_threads())
                except (ValueError, RuntimeError, OSError) as exc:
                    raise BackendError(f"local embedding model failed to load ({type(exc).__name__})",
                                       backend=self.name) from exc
                _shared[key] = (llm, threading.Lock())
            return _shared[key]

    def embed(self, texts: Sequence[str], *, model: str | None = None, timeout: float | None = None) -> Embeddings:
        llm, lock = self._llm()
        vectors, tokens = [], 0
        with lock:
            try:
                for text in texts:  # one at a time: a batch would need n_ctx for all of them together
                    if len(llm.tokenize(text.encode("utf-8"))) > self.n_ctx:
                        raise BackendError(f"an input is longer than the local model's context ({self.n_ctx} "
                                           "tokens); split it", backend=self.name)
                    response = llm.create_embedding(text)
                    vectors.append(tuple(float(x) for x in response["data"][0]["embedding"]))
                    tokens += int((response.get("usage") or {}).get("prompt_tokens", 0))
            except (ValueError, RuntimeError) as exc:
                raise BackendError(f"local embedding failed ({type(exc).__name__})", backend=self.name) from exc
        return Embeddings(tuple(vectors), self.model, Usage(tokens, 0))


def local_embedder_from_config(config: "LocalConfig") -> Any:
    """The local embedder a policy's ``local:`` block names: llama.cpp here, or its trusted server."""
    if config.base_url:
        from .openai import OpenAIBackend

        return OpenAIBackend(config.model, base_url=config.base_url, api_key="no-key", name="local")
    return LlamaCppEmbedder(config.model, n_ctx=config.n_ctx, n_threads=config.n_threads,
                            n_gpu_layers=config.n_gpu_layers)
