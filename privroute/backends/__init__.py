"""Model backends: one small contract (Backend), three implementations.

* ``worker``: a GGUF model in supervised worker processes (the local, trusted side;
  ``worker_main`` runs in the worker, ``llamacpp`` is the engine it runs, also usable
  in process, ``wire`` the frames between them);
* ``openai``: any OpenAI-compatible HTTP endpoint (frontier, or a local server);
* ``fake``: scripted, records what it received (tests, dry runs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Backend, Completion, Message, Usage
from .fake import FakeBackend

if TYPE_CHECKING:
    from ..policy import FrontierConfig, LocalConfig

__all__ = ["Backend", "Completion", "FakeBackend", "Message", "Usage", "frontier_from_config", "local_from_config"]


def local_from_config(config: "LocalConfig") -> Backend:
    """The local backend a policy asks for: llama.cpp in supervised workers, or a trusted server."""
    if config.base_url:
        from .openai import OpenAIBackend

        return OpenAIBackend(config.model, base_url=config.base_url, api_key="no-key", name="local")
    from .worker import LocalWorkerBackend

    return LocalWorkerBackend(config)


def frontier_from_config(config: "FrontierConfig") -> Backend:
    """The frontier backend; raises ConfigurationError when none is configured."""
    from .openai import OpenAIBackend

    return OpenAIBackend.from_config(
        config.model, config.base_url, config.api_key_env, temperature=config.temperature,
        default_timeout=config.deadline_s,
    )
