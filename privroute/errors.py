"""Every exception privroute raises, in one place.

Messages never contain raw prompt text or detected values: they name rules,
entity types, files, keys and counts, never the data itself.

Hierarchy::

    PrivrouteError
    ├── PolicyError (ValueError)            policy file/name cannot be loaded or is invalid
    │   └── PolicyTestError                 a policy test case file is unusable
    ├── InputError (ValueError)             the prompt itself is unusable (empty, too big, wrong type)
    │   ├── FormatError                     a document cannot be read as its type claims (batch)
    │   ├── MappingError                    a batch mapping file or its key is unusable
    │   ├── BatchUsageError                 a batch cannot start as asked (bad OUTDIR, options, key)
    │   ├── ContextOverflow                 the prompt does not fit the local model's context (n_ctx)
    │   ├── UnsupportedRequest              the route cannot do what the request asks (tools on a local model)
    │   └── LanguageNotCovered              redact() on text in a language the policy neither reads
    │                                       nor lets be read as English (unknown_language)
    ├── ConfigurationError (ValueError)     a needed destination or setting is missing
    ├── MissingDependency (ImportError)     an optional extra is not installed
    ├── ModelNotFound (LookupError)         a local model name/path cannot be resolved
    ├── Blocked                             the policy forbids this prompt
    ├── DetectionError (RuntimeError)       the detector failed; nothing was sent
    │   └── DetectionTimeout (TimeoutError) detection ran past its time budget; nothing was sent
    ├── AuditError (RuntimeError)           the audit record could not be written
    │   └── StoreUnavailable (ConnectionError)      the audit/budget database cannot be reached
    ├── BudgetExceeded                      a token/cost budget would be overrun
    ├── QueueFull                           the proxy's local-model queue is full; retry later
    └── BackendError (RuntimeError)         a model backend failed
        ├── FrontierUnavailable (ConnectionError)   refused, 4xx/5xx after retries, circuit open
        │   └── CircuitOpen                         the endpoint's breaker is open; failed fast
        ├── FrontierTimeout (TimeoutError)          the call ran past its deadline
        ├── LocalTimeout (TimeoutError)             a local model call ran past local.deadline_s
        ├── LocalWorkerError                        the local model's worker process died (crash,
        │                                           SIGILL, out-of-memory kill) or misbehaved
        └── MalformedResponse                       the backend answered something unusable

Two maps below are the one place where an error becomes an outcome for a
frontend: ``EXIT_CODES`` (the ``privroute`` command's exit status) and
``HTTP_STATUS`` (the proxy's answer). Both are looked up along the class's MRO,
so a subclass inherits its parent's entry unless it has its own.

Third-party exceptions (openai, httpx, llama_cpp, presidio, yaml, pydantic) are
mapped to these at one boundary each, with ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AuditError",
    "BackendError",
    "BatchUsageError",
    "Blocked",
    "BudgetExceeded",
    "CircuitOpen",
    "ConfigurationError",
    "ContextOverflow",
    "DetectionError",
    "DetectionTimeout",
    "EXIT_CODES",
    "FormatError",
    "FrontierTimeout",
    "FrontierUnavailable",
    "HTTP_STATUS",
    "InputError",
    "LanguageNotCovered",
    "LocalTimeout",
    "LocalWorkerError",
    "MalformedResponse",
    "MappingError",
    "MissingDependency",
    "ModelNotFound",
    "PolicyError",
    "PolicyTestError",
    "PrivrouteError",
    "QueueFull",
    "StoreUnavailable",
    "UnsupportedRequest",
    "exit_code_for",
    "http_status_for",
]


class PrivrouteError(Exception):
    """Root of every error privroute raises on purpose."""


class PolicyError(PrivrouteError, ValueError):
    """A policy could not be loaded: unknown name, unreadable, not YAML, or invalid.

    ``source`` is the file (or policy name), ``line`` the 1-based line when known,
    ``key`` the dotted path of the offending key when known. The message names the
    first problem; ``problems`` lists all of them (``privroute policy check`` prints each).
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        key: str | None = None,
        problems: "Sequence[PolicyError]" = (),
    ) -> None:
        self.message = message
        self.source = source
        self.line = line
        self.key = key
        self.problems: tuple[PolicyError, ...] = tuple(problems) or (self,)
        """Every problem found (each with its own source, line and key); ``(self,)`` when one."""
        where = source or "<policy>"
        if line is not None:
            where = f"{where}:{line}"
        if key:
            where = f"{where}: {key}"
        super().__init__(f"{where}: {message}")


class PolicyTestError(PolicyError):
    """A policy test case file (``privroute policy test``) cannot be read or is invalid."""


class InputError(PrivrouteError, ValueError):
    """The prompt or messages cannot be routed (empty, oversized, wrong type)."""


class FormatError(InputError):
    """A document cannot be read as its type claims. The message holds no content."""


class MappingError(InputError):
    """A batch mapping file cannot be used: wrong key, tampered, unreadable, or no key given."""


class BatchUsageError(InputError):
    """The batch cannot start as asked (exit code 2): bad OUTDIR, options or key."""


class LanguageNotCovered(InputError):
    """Text to redact is in a language the policy does not read, and its ``unknown_language``
    is ``local`` or ``block``: redacting it with another language's detector would leak.
    ``languages`` are the identified codes (ISO 639-1, '' when unknown), ``action`` the policy's."""

    def __init__(self, languages: Sequence[str], action: str) -> None:
        self.languages = tuple(languages)
        self.action = action
        named = ", ".join(code or "unidentified" for code in self.languages)
        super().__init__(f"text in a language the policy does not cover ({named}); its unknown_language is "
                         f"{action!r}, so it is not redacted here (route() answers it {'locally' if action == 'local' else 'with a refusal'})")


class ContextOverflow(InputError):
    """The prompt has more tokens than the local model's context leaves for it.

    ``prompt_tokens`` is the prompt's size, ``fits`` how many tokens fit (``n_ctx``
    minus ``answer_tokens`` kept for the answer). Nothing was generated.
    """

    def __init__(self, prompt_tokens: int, fits: int, n_ctx: int, answer_tokens: int) -> None:
        self.prompt_tokens = prompt_tokens
        self.fits = fits
        self.n_ctx = n_ctx
        self.answer_tokens = answer_tokens
        super().__init__(
            f"prompt has {prompt_tokens} tokens but the local model fits {fits} (n_ctx {n_ctx} minus "
            f"{answer_tokens} for the answer); shorten it, raise local.n_ctx, or set local.on_overflow: keep_recent"
        )


class UnsupportedRequest(InputError):
    """The route the policy chose cannot do what the request asks (tools on a local model without them).

    ``code`` names what is missing for a frontend (``tools_unsupported``); nothing was sent.
    """

    def __init__(self, message: str, *, code: str = "unsupported") -> None:
        super().__init__(message)
        self.code = code


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


class DetectionTimeout(DetectionError, TimeoutError):
    """Detection ran past its time budget and was stopped. Fail closed: nothing was sent.

    ``budget_s`` is the budget that ran out; the message names it and the text's
    length, never the text.
    """

    def __init__(self, message: str, *, budget_s: float | None = None) -> None:
        self.budget_s = budget_s
        super().__init__(message)


class AuditError(PrivrouteError, RuntimeError):
    """The audit record could not be written (or the chain does not verify)."""


class StoreUnavailable(AuditError, ConnectionError):
    """The audit/budget database cannot be reached (down, refused, pool exhausted); nothing was sent."""


class BudgetExceeded(PrivrouteError):
    """A configured token or cost budget would be exceeded."""

    def __init__(self, message: str, *, scope: str | None = None) -> None:
        self.scope = scope
        super().__init__(message)


class QueueFull(PrivrouteError):
    """The local model's queue is full; try again after ``retry_after_s``. Nothing was sent."""

    def __init__(self, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(f"the local model is busy (queue full); retry after {retry_after_s}s")


class BackendError(PrivrouteError, RuntimeError):
    """A model backend failed. ``backend`` names it; ``attempts`` counts the tries.

    ``status_code`` is the upstream HTTP status when there was one, and
    ``retry_after`` the seconds its Retry-After header asked for (None otherwise).
    """

    def __init__(self, message: str, *, backend: str | None = None, attempts: int = 1,
                 status_code: int | None = None, retry_after: float | None = None) -> None:
        self.backend = backend
        self.attempts = attempts
        self.status_code = status_code
        self.retry_after = retry_after
        super().__init__(message)


class FrontierUnavailable(BackendError, ConnectionError):
    """The frontier endpoint refused, failed, or its circuit is open."""


class CircuitOpen(FrontierUnavailable):
    """The endpoint's circuit is open: the call failed fast, nothing was sent."""


class FrontierTimeout(BackendError, TimeoutError):
    """The frontier call did not finish within its deadline."""


class LocalTimeout(BackendError, TimeoutError):
    """A local model call did not finish within ``local.deadline_s``; its worker was restarted."""


class LocalWorkerError(BackendError):
    """The local model's worker process died during the call (crash, SIGILL, out-of-memory kill).

    ``signal`` names the signal that ended it (e.g. "SIGKILL") or is None; ``exit_code``
    is its exit status when it exited on its own. The worker is restarted for the next call.
    """

    def __init__(self, message: str, *, signal: str | None = None, exit_code: int | None = None,
                 backend: str | None = "local") -> None:
        self.signal = signal
        self.exit_code = exit_code
        super().__init__(message, backend=backend)


class MalformedResponse(BackendError):
    """The backend answered with something that is not a usable completion."""


# Exit status of the ``privroute`` command for each error (README: 1 error, 2 usage, 3 blocked).
EXIT_CODES: dict[type[PrivrouteError], int] = {
    PrivrouteError: 1,
    BatchUsageError: 2,
    Blocked: 3,
}

# HTTP status of the proxy's answer for each error; 429 from the frontier stays 429
# (``http_status_for`` looks at ``status_code``), other upstream failures are 502.
HTTP_STATUS: dict[type[PrivrouteError], int] = {
    PrivrouteError: 500,
    PolicyError: 500,
    InputError: 400,
    ConfigurationError: 500,
    MissingDependency: 500,
    ModelNotFound: 500,
    Blocked: 403,
    DetectionError: 500,
    DetectionTimeout: 422,  # not retried by clients (a 5xx would be): the same text would run out again
    AuditError: 503,
    BudgetExceeded: 429,
    QueueFull: 429,
    BackendError: 502,
    FrontierTimeout: 504,
    LocalTimeout: 504,
}


def _lookup(table: dict[type[PrivrouteError], int], exc: PrivrouteError) -> int:
    for klass in type(exc).__mro__:
        if klass in table:
            return table[klass]  # type: ignore[index]
    raise KeyError(type(exc).__name__)  # unreachable: PrivrouteError is in every table


def exit_code_for(exc: PrivrouteError) -> int:
    """The ``privroute`` command's exit status for an error."""
    return _lookup(EXIT_CODES, exc)


def http_status_for(exc: PrivrouteError) -> int:
    """The proxy's HTTP status for an error."""
    if isinstance(exc, FrontierUnavailable) and exc.status_code == 429:
        return 429
    return _lookup(HTTP_STATUS, exc)
