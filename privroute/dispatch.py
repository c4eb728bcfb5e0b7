"""One routed call after the decision: budget, bounded frontier call, fallback, audit.

The Router decides (detect, classify, redact: ``Router.prepare``); this module
carries the decision out and records it:

The Router hands over a ``Prepared`` call (defined here, where it is consumed);
the dispatcher holds the backends (``Backends``, built once per Router) and never
calls back into the router.

1. ``Dispatcher.begin``: when the policy requires an audit trail, check that the
   store can take a record *before* anything is sent (AuditError otherwise).
2. ``Call.run`` / ``Call.open_stream``: for a frontier target, check the tenant's
   budget, then call the frontier through the one retry layer
   (privroute.resilience) with the policy's attempts, deadline and breaker. On
   frontier failure (``frontier.fallback: local``) or budget overrun
   (``budget.on_exceed: local``) the local model answers from the original
   messages. Never the other way round: a local target never reaches the frontier.
3. ``Call.answered`` / ``Call.failed``: append one audit record per outcome
   (answered, blocked, error). If that write fails and ``audit.required`` is true,
   the answer is withheld (AuditError).

Logs here carry outcome, types and counts only.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import logsafe
from .audit import AuditEvent, AuditStore, NullAudit, open_audit
from .backends import frontier_from_config, local_from_config
from .backends.base import Backend, Completion, Embeddings, Message, ToolCallDelta, ToolSpec, Usage
from .budget import BudgetGuard, estimate_tokens, output_limit
from .errors import AuditError, BackendError, Blocked, BudgetExceeded, UnsupportedRequest
from .resilience import (
    BreakerRegistry,
    RetrySettings,
    breakers,
    call_with_retry,
    endpoint_key,
)

if TYPE_CHECKING:
    from .classify import Decision
    from .policy import Policy
    from .vault import Redaction

__all__ = ["Backends", "Call", "Dispatcher", "OpenedStream", "Outcome", "Prepared"]

log = logging.getLogger("privroute.dispatch")
logsafe.install()


@dataclass(frozen=True)
class Prepared:
    """A decided call: what goes where. ``sent`` is None for local calls.

    ``messages`` is what the target receives (placeholders for a redacted call);
    ``original`` is the validated prompt as the user wrote it, which only the local
    model may ever see (a local fallback answers from it).
    """

    decision: "Decision"
    messages: tuple[Message, ...]
    sent: str | None
    target: str
    redaction: "Redaction | None"
    original: tuple[Message, ...] = ()

    def __repr__(self) -> str:
        return f"Prepared(action={self.decision.action!r}, target={self.target!r}, messages={len(self.messages)})"


class Backends:
    """The local and frontier backends of one Router, built on first use (thread-safe).

    Given ones are used as they are; missing ones come from the policy's
    ``local:``/``frontier:`` blocks (the frontier raises ConfigurationError when none
    is configured, never falls back to another destination).
    """

    def __init__(self, policy: "Policy", *, local: Backend | None = None, frontier: Backend | None = None,
                 local_embedder: Any = None) -> None:
        self._policy = policy
        self._local = local
        self._frontier = frontier
        self._local_embedder = local_embedder
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Backends(policy={self._policy.name!r})"

    @property
    def local(self) -> Backend:
        with self._lock:
            if self._local is None:
                self._local = local_from_config(self._policy.local)
            return self._local

    @property
    def frontier(self) -> Backend:
        with self._lock:
            if self._frontier is None:
                self._frontier = frontier_from_config(self._policy.frontier)
            return self._frontier

    @property
    def local_embedder(self) -> Any:
        """What embeds locally (``embed(texts)``): the policy's local model loaded for embedding."""
        with self._lock:
            if self._local_embedder is None:
                from .backends.embedder import local_embedder_from_config

                self._local_embedder = local_embedder_from_config(self._policy.local)
            return self._local_embedder


@dataclass(frozen=True)
class Outcome:
    """Who answered, after how many frontier attempts, and why a fallback happened."""

    completion: Completion
    backend: Backend
    target: str
    attempts: int
    sent: str | None
    fallback_reason: str | None = None
    cost: float | None = None
    frontier_status: int | None = None
    """The failed frontier call's HTTP status, when a fallback answered."""

    def __repr__(self) -> str:
        return (f"Outcome(backend={self.backend.name!r}, target={self.target!r}, attempts={self.attempts}, "
                f"fallback_reason={self.fallback_reason!r})")


@dataclass(frozen=True)
class OpenedStream:
    backend: Backend
    target: str
    deltas: Iterator[str]
    prepared: Prepared


class Dispatcher:
    """Per-Router state: the audit store, the budget guard, the retry settings."""

    def __init__(self, policy: "Policy", backends: Backends, *, audit: "AuditStore | NullAudit | None" = None,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 breaker_registry: BreakerRegistry | None = None, tenant: str | None = None) -> None:
        self.policy = policy
        self.tenant = tenant or policy.budget.tenant
        self.backends = backends
        self._audit = audit
        self._clock = clock
        self._sleep = sleep
        self._breakers = breaker_registry or breakers
        self._budget: BudgetGuard | None = None
        self._lock = threading.Lock()
        self.retry = RetrySettings.from_frontier(policy.frontier)

    @property
    def audit(self) -> "AuditStore | NullAudit":
        with self._lock:
            if self._audit is None:
                self._audit = open_audit(self.policy.audit)
            return self._audit

    @property
    def budget(self) -> BudgetGuard:
        audit = self.audit
        with self._lock:
            if self._budget is None:
                ledger = audit if getattr(audit, "persistent", False) else None
                self._budget = BudgetGuard(self.policy.budget, ledger=ledger, tenant=self.tenant)
            return self._budget

    def elapsed(self, started: float) -> float:
        return self._clock() - started

    def begin(self, prompt: Any, *, stream: bool = False) -> "Call":
        """Start a call; raises AuditError first if a required audit trail is unavailable."""
        if self.policy.audit.required:
            if isinstance(self.audit, NullAudit):
                raise AuditError("this policy requires an audit trail but audit.enabled is false")
            self.audit.check_writable()
        return Call(self, prompt, stream=stream)


def _prompt_text(prompt: Any) -> str | None:
    if isinstance(prompt, str):
        return prompt
    try:
        return json.dumps(list(prompt), sort_keys=True, ensure_ascii=False, default=str)
    except TypeError:
        return None


def _chars(messages: Sequence[Message]) -> int:
    return sum(m.text_size() for m in messages)


def _tool_options(backend: Backend, tools: ToolSpec | None) -> dict[str, Any]:
    """``tools=`` for a backend that can call tools; nothing without tools; UnsupportedRequest otherwise."""
    if tools is None:
        return {}
    if not getattr(backend, "supports_tools", False):
        raise UnsupportedRequest(f"the {backend.name} model ({backend.model}) cannot call tools; this request was "
                                 "routed to it by the policy, so it is refused rather than answered without them",
                                 code="tools_unsupported")
    return {"tools": tools}


class Call:
    """One route()/stream() call in flight. Holds the prompt only to fall back locally."""

    def __init__(self, dispatcher: Dispatcher, prompt: Any, *, stream: bool) -> None:
        self._d = dispatcher
        self._prompt = prompt
        self._stream = stream
        self._hold: str | None = None
        self.started = dispatcher._clock()

    def __repr__(self) -> str:
        return f"Call(policy={self._d.policy.name!r}, stream={self._stream})"

    # ------------------------------------------------------------ carrying out

    def _fallback(self, prepared: Prepared, max_tokens: int | None, reason: str, *, attempts: int,
                  sent: str | None, status: int | None = None, tools: ToolSpec | None = None) -> Outcome:
        log.info("answering locally: %s", reason)
        local = self._d.backends.local
        completion = local.complete(prepared.original, max_tokens=max_tokens, timeout=self._local_deadline(),
                                    **_tool_options(local, tools))
        return Outcome(completion, local, "local", attempts, sent, reason, frontier_status=status)

    def _local_deadline(self) -> float:
        # Each local call, direct or a fallback, gets the policy's local deadline: a fallback
        # after a frontier failure is bounded too (frontier.deadline_s + local.deadline_s in all).
        return self._d.policy.local.deadline_s

    def _frontier_limit(self, max_tokens: int | None) -> int | None:
        return output_limit(max_tokens, self._d.policy.frontier.max_output_tokens)

    def _check_budget(self, prepared: Prepared, frontier: Backend, limit: int | None) -> None:
        # The hold is settled by this call's audit record (or released when that fails).
        self._hold = self._d.budget.reserve(frontier.model, _chars(prepared.messages), limit)

    def _retrying(self, frontier: Backend, attempt: Callable[[float], Any]) -> Any:
        policy = self._d.policy.frontier
        breaker = self._d._breakers.get(endpoint_key(frontier), failure_threshold=policy.breaker_failures,
                                        cooldown_s=policy.breaker_cooldown_s, clock=self._d._clock)
        # The deadline is the whole route() call's: detection and redaction count too.
        return call_with_retry(attempt, self._d.retry, breaker=breaker, name=frontier.name,
                               clock=self._d._clock, sleep=self._d._sleep, started=self.started)

    def _can_fall_back(self, tools: ToolSpec | None) -> bool:
        """A request with tools falls back only to a local model that can call them."""
        return tools is None or bool(getattr(self._d.backends.local, "supports_tools", False))

    def run(self, prepared: Prepared, max_tokens: int | None, *, tools: ToolSpec | None = None) -> Outcome:
        """Answer a prepared (non-blocked) call; raises typed errors."""
        if prepared.target == "local":
            local = self._d.backends.local
            completion = local.complete(prepared.messages, max_tokens=max_tokens, timeout=self._local_deadline(),
                                        **_tool_options(local, tools))
            return Outcome(completion, local, "local", 1, None)
        frontier = self._d.backends.frontier
        limit = self._frontier_limit(max_tokens)
        policy = self._d.policy
        options = _tool_options(frontier, tools)
        try:
            self._check_budget(prepared, frontier, limit)
        except BudgetExceeded as exc:
            if policy.budget.on_exceed != "local" or not self._can_fall_back(tools):
                raise
            return self._fallback(prepared, max_tokens, f"budget exceeded ({exc.scope})", attempts=0, sent=None,
                                  tools=tools)
        try:
            done = self._retrying(frontier, lambda timeout: frontier.complete(
                prepared.messages, max_tokens=limit, timeout=timeout, **options))
        except BackendError as exc:
            if policy.frontier.fallback != "local" or not self._can_fall_back(tools):
                raise
            return self._fallback(prepared, max_tokens, f"frontier failed ({type(exc).__name__})",
                                  attempts=exc.attempts, sent=prepared.sent if exc.attempts else None,
                                  status=exc.status_code, tools=tools)
        completion: Completion = done.value
        budget = self._d.budget
        cost = budget.cost(completion.model, completion.usage)
        if cost is None:
            cost = budget.cost(frontier.model, completion.usage)
        budget.record(completion.usage, cost)
        return Outcome(completion, frontier, "frontier", done.attempts, prepared.sent, None, cost)

    def run_embed(self, prepared: Prepared, model: str) -> tuple[Embeddings, Outcome]:
        """Embed the prepared texts: locally, or at the frontier within the budget and the retries."""
        texts = [m.content for m in prepared.messages]
        if prepared.target == "local":
            local = self._d.backends.local_embedder
            vectors = local.embed(texts)
            return vectors, Outcome(Completion("", vectors.model, "stop", vectors.usage), local, "local", 1, None)
        frontier = self._d.backends.frontier
        if not callable(getattr(frontier, "embed", None)):
            raise UnsupportedRequest(f"the frontier backend {frontier.name} cannot embed", code="embeddings_unsupported")
        budget = self._d.budget
        self._hold = budget.reserve(model, _chars(prepared.messages), None)
        done = self._retrying(frontier, lambda timeout: frontier.embed(texts, model=model, timeout=timeout))
        vectors: Embeddings = done.value
        cost = budget.cost(vectors.model, vectors.usage)
        cost = budget.cost(model, vectors.usage) if cost is None else cost
        budget.record(vectors.usage, cost)
        completion = Completion("", vectors.model, "stop", vectors.usage)
        return vectors, Outcome(completion, frontier, "frontier", done.attempts, prepared.sent, None, cost)

    def open_stream(self, prepared: Prepared, max_tokens: int | None, *,
                    tools: ToolSpec | None = None) -> OpenedStream:
        """Open a stream: retries and fallback apply until the first delta has arrived."""
        backends = self._d.backends
        if prepared.target == "local":
            options = _tool_options(backends.local, tools)
            deltas = iter(backends.local.stream(prepared.messages, max_tokens=max_tokens,
                                                timeout=self._local_deadline(), **options))
            return self._streamed(deltas, prepared, backends.local, "local", 1, None)
        frontier = backends.frontier
        limit = self._frontier_limit(max_tokens)
        policy = self._d.policy
        options = _tool_options(frontier, tools)

        def local_stream(reason: str, attempts: int, status: int | None = None) -> OpenedStream:
            log.info("streaming locally: %s", reason)
            local_options = _tool_options(backends.local, tools)
            deltas = iter(backends.local.stream(prepared.original, max_tokens=max_tokens,
                                                timeout=self._local_deadline(), **local_options))
            # The local model saw the original text: there is nothing to restore.
            local_prepared = dataclasses.replace(prepared, redaction=None, sent=prepared.sent if attempts else None)
            return self._streamed(deltas, local_prepared, backends.local, "local", attempts, reason, status)

        try:
            self._check_budget(prepared, frontier, limit)
        except BudgetExceeded as exc:
            if policy.budget.on_exceed != "local" or not self._can_fall_back(tools):
                raise
            return local_stream(f"budget exceeded ({exc.scope})", 0)

        def first_delta(timeout: float) -> tuple[str | None, Iterator[str]]:
            deltas = iter(frontier.stream(prepared.messages, max_tokens=limit, timeout=timeout, **options))
            return next(deltas, None), deltas

        try:
            done = self._retrying(frontier, first_delta)
        except BackendError as exc:
            if policy.frontier.fallback != "local" or not self._can_fall_back(tools):
                raise
            return local_stream(f"frontier failed ({type(exc).__name__})", exc.attempts, exc.status_code)
        first, rest = done.value
        return self._streamed(_prepend(first, rest), prepared, frontier, "frontier", done.attempts, None)

    def _streamed(self, deltas: Iterator[str], prepared: Prepared, backend: Backend, target: str, attempts: int,
                  fallback_reason: str | None, frontier_status: int | None = None) -> OpenedStream:
        fields = {"backend": backend.name, "model": backend.model, "target": target, "attempts": attempts,
                  "fallback_reason": fallback_reason, "frontier_status": frontier_status}
        if target == "frontier":
            fields["sent"] = prepared.sent
        return OpenedStream(backend, target, _AuditedStream(self, deltas, prepared, fields), prepared)

    # ------------------------------------------------------------ audit

    def _event(self, outcome: str, prepared: Prepared | None, **fields: Any) -> AuditEvent:
        policy = self._d.policy
        audit = self._d.audit
        decision = prepared.decision if prepared is not None else None
        base: dict[str, Any] = {
            "outcome": outcome, "policy": policy.name, "policy_hash": policy.content_hash,
            "tenant": self._d.tenant, "stream": self._stream,
            "latency_s": self._d._clock() - self.started,
            "prompt_hmac": audit.hmac(_prompt_text(self._prompt)),
        }
        if decision is not None:
            base.update(action=decision.action, sensitivity=decision.sensitivity, reasons=tuple(decision.reasons),
                        entities=dict(decision.entity_counts), loosened=tuple(decision.loosened))
        sent = fields.pop("sent", None)
        base["sent_hmac"] = audit.hmac(sent)
        base.update(fields)
        return AuditEvent(**base)

    def _record(self, event: AuditEvent, *, raise_on_failure: bool) -> None:
        hold, self._hold = self._hold, None
        budget = self._d.budget if hold is not None else None
        settles = hold if budget is not None and budget.settled_by_audit else None
        try:
            # The record and the end of the call's budget hold are one transaction.
            self._d.audit.append(event, settles=settles) if settles else self._d.audit.append(event)
        except AuditError as exc:
            log.warning("audit record (%s) could not be written: %s", event.outcome, type(exc.__cause__).__name__)
            settles = None
            if raise_on_failure and self._d.policy.audit.required:
                self._release(budget, hold)
                raise
        if settles is None:
            self._release(budget, hold)

    @staticmethod
    def _release(budget: BudgetGuard | None, hold: str | None) -> None:
        if budget is None or hold is None:
            return
        try:
            budget.release(hold)
        except AuditError:
            # The ledger is unreachable too: the hold expires by itself (stores.HOLD_TTL_S).
            log.warning("budget hold could not be released; it expires by itself")

    def stream_spend(self, prepared: Prepared, fields: dict[str, Any], streamed_chars: int) -> dict[str, Any]:
        """Estimated usage of a frontier stream (streams report no usage), counted against the budget."""
        if fields.get("target") != "frontier":
            return {}
        usage = Usage(estimate_tokens(_chars(prepared.messages)), estimate_tokens(streamed_chars))
        cost = self._d.budget.cost(fields.get("model"), usage)
        self._d.budget.record(usage, cost)
        return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens, "cost": cost}

    def record_stream(self, prepared: Prepared, outcome: str, error: str | None, fields: dict[str, Any], *,
                      required: bool) -> None:
        self._record(self._event(outcome, prepared, error=error, **fields), raise_on_failure=required)

    def answered(self, prepared: Prepared, outcome: Outcome) -> None:
        """Record an answer; raises AuditError (answer withheld) if a required record fails."""
        completion = outcome.completion
        usage = completion.usage
        self._record(self._event(
            "answered", prepared, backend=outcome.backend.name, model=completion.model, target=outcome.target,
            attempts=outcome.attempts, prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0, cost=outcome.cost,
            truncated=completion.truncated, fallback_reason=outcome.fallback_reason, sent=outcome.sent,
            frontier_status=outcome.frontier_status,
        ), raise_on_failure=True)

    def failed(self, exc: BaseException, prepared: Prepared | None = None, **fields: Any) -> None:
        """Record a refusal or an error; the caller re-raises ``exc``."""
        if isinstance(exc, Blocked):
            counts = getattr(exc.decision, "entity_counts", ())
            event = self._event("blocked", None, action="block", sensitivity=exc.sensitivity,
                                reasons=tuple(exc.reasons), entities=dict(counts), error="Blocked",
                                loosened=tuple(getattr(exc.decision, "loosened", ())))
        else:
            fields.setdefault("attempts", getattr(exc, "attempts", 0) if isinstance(exc, BackendError) else 0)
            if isinstance(exc, BackendError):
                fields.setdefault("frontier_status", exc.status_code)
            if prepared is not None and isinstance(exc, BackendError) and fields["attempts"]:
                fields.setdefault("sent", prepared.sent)
                fields.setdefault("target", prepared.target)
            event = self._event("error", prepared, error=type(exc).__name__, **fields)
        self._record(event, raise_on_failure=False)


def _prepend(first: str | None, rest: Iterator[str]) -> Iterator[str]:
    if first is not None:
        yield first
    return (yield from rest)  # keeps the backend's finish_reason



class _AuditedStream:
    """Deltas passed through; one audit record when the stream ends, fails or is dropped.

    A frontier stream has already been requested when this exists, so even a
    stream that is never iterated gets its record (at garbage collection).
    """

    def __init__(self, call: Call, deltas: Iterator[str], prepared: Prepared, fields: dict[str, Any]) -> None:
        self._deltas = deltas
        self.truncated = False
        """True once the stream has ended with finish_reason "length"."""
        self.finish_reason: str | None = None
        self._state = _StreamEnd(call, prepared, fields)
        weakref.finalize(self, self._state.finish, "abandoned")

    def __iter__(self) -> "_AuditedStream":
        return self

    def __next__(self) -> str:
        try:
            delta = next(self._deltas)
            self._state.chars += len(delta.arguments if isinstance(delta, ToolCallDelta) else delta)
            return delta
        except StopIteration as stop:
            self.finish_reason = stop.value if isinstance(stop.value, str) else None
            self.truncated = stop.value == "length"
            self._state.truncated = self.truncated
            self._state.finish("answered")
            raise
        except Exception as exc:
            self._state.finish("error", exc)
            raise

    @property
    def input_truncated(self) -> bool:
        return bool(getattr(self._deltas, "input_truncated", False))

    def close(self) -> None:
        self._state.finish("abandoned")
        close = getattr(self._deltas, "close", None)
        if close is not None:
            close()


class _StreamEnd:
    def __init__(self, call: Call, prepared: Prepared, fields: dict[str, Any]) -> None:
        self._call = call
        self._prepared = prepared
        self._fields = fields
        self._lock = threading.Lock()
        self._done = False
        self.chars = 0
        self.truncated = False

    def finish(self, how: str, exc: BaseException | None = None) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        fields = {**self._fields, **self._call.stream_spend(self._prepared, self._fields, self.chars)}
        if how == "error" and exc is not None:
            self._call.failed(exc, self._prepared, **fields)
        elif how == "abandoned":
            self._call.record_stream(self._prepared, "error", "StreamAbandoned", fields, required=False)
        else:
            fields["truncated"] = self.truncated
            self._call.record_stream(self._prepared, "answered", None, fields, required=True)
