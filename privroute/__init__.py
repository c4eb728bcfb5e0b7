"""privroute: a privacy router in front of every LLM call.

Regulated prompts go raw to a local model (llama.cpp); prompts with personal data
are redacted before a frontier model sees them and the answer gets the real values
back; harmless prompts go to the frontier as they are; forbidden ones are refused.

    >>> import privroute
    >>> r = privroute.route("Summarise our Q3 plan", policy="general")  # doctest: +SKIP
    >>> r.decision.action, r.sent, r.answer                              # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from .backends import Backend, Completion, FakeBackend, Message, Usage
from .classify import Decision
from .detect.base import Detector, Entity
from .errors import (
    AuditError,
    BackendError,
    Blocked,
    BudgetExceeded,
    ConfigurationError,
    ContextOverflow,
    DetectionError,
    DetectionTimeout,
    FrontierTimeout,
    FrontierUnavailable,
    InputError,
    LocalTimeout,
    LocalWorkerError,
    MalformedResponse,
    MissingDependency,
    ModelNotFound,
    PolicyError,
    PrivrouteError,
    StoreUnavailable,
)
from .policy import Policy, Sensitivity, load_policy, shipped_policies
from .router import Prompt, Router, RouteResult, get_router
from .vault import Redaction, Restored, StreamRestorer, Vault

__version__ = "0.1.0"

__all__ = [
    "AuditError",
    "Backend",
    "BackendError",
    "Blocked",
    "BudgetExceeded",
    "Completion",
    "ConfigurationError",
    "ContextOverflow",
    "Decision",
    "DetectionError",
    "DetectionTimeout",
    "Detector",
    "Entity",
    "FakeBackend",
    "FrontierTimeout",
    "FrontierUnavailable",
    "InputError",
    "LocalTimeout",
    "LocalWorkerError",
    "MalformedResponse",
    "Message",
    "MissingDependency",
    "ModelNotFound",
    "Policy",
    "PolicyError",
    "PrivrouteError",
    "Redaction",
    "Restored",
    "RouteResult",
    "Router",
    "Sensitivity",
    "StoreUnavailable",
    "StreamRestorer",
    "Usage",
    "Vault",
    "classify",
    "load_policy",
    "redact",
    "redact_files",
    "route",
    "shipped_policies",
]

def route(prompt: Prompt, policy: Any = "general", *, max_tokens: int | None = None) -> RouteResult:
    """Route one prompt (a string or chat messages) under ``policy``.

    ``policy`` is a shipped name, a YAML path or a Policy. One Router per policy is
    cached for the process, so models load once.
    """
    return get_router(policy).route(prompt, max_tokens=max_tokens)


def classify(prompt: Prompt, policy: Any = "general") -> Decision:
    """The routing decision for a prompt, without any model call."""
    return get_router(policy).classify(prompt)


def redact(text: str, policy: Any = "general") -> Redaction:
    """Replace detected PII with placeholders; ``.restore(answer)`` puts values back."""
    return get_router(policy).redact(text)


def redact_files(inputs: Any, *, out_dir: Any, policy: Any = "general", **options: Any) -> Any:
    """Redact files, directories and globs into ``out_dir``; returns a BatchReport (see privroute.batch)."""
    from .batch import redact_files as run

    return run(inputs, out_dir=out_dir, policy=policy, **options)
