"""Every exception privroute raises, in one place.

Messages never contain raw prompt text or detected values: they name rules,
entity types, files, keys and counts, never the data itself.

Hierarchy::

    PrivrouteError
    ├── PolicyError (ValueError)            policy file/name cannot be loaded or is invalid
    ├── InputError (ValueError)             the prompt itself is unusable (empty, too big, wrong type)
    ├── ConfigurationError (ValueError)     a needed destination or setting is missing
    ├── MissingDependency (ImportError)     an optional extra is not installed
    ├── ModelNotFound (LookupError)         a local model name/path cannot be resolved
    ├── Blocked                             the policy forbids this prompt
    ├── DetectionError (RuntimeError)       the detector failed; nothing was sent
    ├── AuditError (RuntimeError)           the audit record could not be written
    ├── BudgetExceeded                      a token/cost budget would be overrun
    └── BackendError (RuntimeError)         a model backend failed
        ├── FrontierUnavailable (ConnectionError)   refused, 4xx/5xx after retries, circuit open
        ├── FrontierTimeout (TimeoutError)          the call ran past its deadline
        └── MalformedResponse                       the backend answered something unusable

Third-party exceptions (openai, httpx, llama_cpp, presidio, yaml, pydantic) are
mapped to these at one boundary each, with ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AuditError",
    "BackendError",
    "Blocked",
    "BudgetExceeded",
    "ConfigurationError",
    "DetectionError",
    "FrontierTimeout",
    "FrontierUnavailable",
    "InputError",
    "MalformedResponse",
    "MissingDependency",
    "ModelNotFound",
    "PolicyError",
    "PrivrouteError",
]


class PrivrouteError(Exception):
    """Root of every error privroute raises on purpose."""


class PolicyError(PrivrouteError, ValueError):
    """A policy could not be loaded: unknown name, unreadable, not YAML, or invalid.

    ``source`` is the file (or policy name), ``line`` the 1-based line when known,
    ``key`` the dotted path of the offending key when known.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        key: str | None = None,
    ) -> None:
        self.message = message
        self.source = source
        self.line = line
        self.key = key
        where = source or "<policy>"
        if line is not None:
            where = f"{where}:{line}"
        if key:
            where = f"{where}: {key}"
        super().__init__(f"{where}: {message}")


class InputError(PrivrouteError, ValueError):
    """The prompt or messages cannot be routed (empty, oversized, wrong type)."""


class ConfigurationError(PrivrouteError, ValueError):
    """A destination or setting the decision needs is not configured."""


class MissingDependency(PrivrouteError, ImportError):
    """An optional dependency is missing; the message says which extra to install."""

    def __init__(self, package: str, extra: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{package} is not installed; install it with: pip install 'privroute[{extra}]'"
        )


class ModelNotFound(PrivrouteError, LookupError):
    """A local model name is not in the catalog, or its file does not exist."""


class Blocked(PrivrouteError):
    """The policy forbids sending this prompt anywhere. Nothing was sent."""

    def __init__(self, reasons: Sequence[str], *, sensitivity: str | None = None,
                 decision: object | None = None) -> None:
        self.reasons = tuple(reasons)
        self.sensitivity = sensitivity
        self.decision = decision
        """The privroute.Decision that blocked (entity counts, no values), when known."""
        because = ", ".join(self.reasons) if self.reasons else "policy default"
        super().__init__(f"blocked by policy ({because})")


class DetectionError(PrivrouteError, RuntimeError):
    """PII detection failed. Fail closed: nothing was sent."""


class AuditError(PrivrouteError, RuntimeError):
    """The audit record could not be written (or the chain does not verify)."""


class BudgetExceeded(PrivrouteError):
    """A configured token or cost budget would be exceeded."""

    def __init__(self, message: str, *, scope: str | None = None) -> None:
        self.scope = scope
        super().__init__(message)


class BackendError(PrivrouteError, RuntimeError):
    """A model backend failed. ``backend`` names it; ``attempts`` counts the tries."""

    def __init__(self, message: str, *, backend: str | None = None, attempts: int = 1) -> None:
        self.backend = backend
        self.attempts = attempts
        super().__init__(message)


class FrontierUnavailable(BackendError, ConnectionError):
    """The frontier endpoint refused, failed, or its circuit is open."""


class FrontierTimeout(BackendError, TimeoutError):
    """The frontier call did not finish within its deadline."""


class MalformedResponse(BackendError):
    """The backend answered with something that is not a usable completion."""
