"""Router: policy + detector + classifier + backends -> RouteResult.

The order of work in ``route`` is the safety argument:

1. validate the input (InputError; nothing sent);
2. detect on every message (any failure -> DetectionError; nothing sent);
3. decide (rules -> action);
4. block -> Blocked; local -> raw to the local backend; redact -> placeholders to
   the frontier and values restored into the answer; frontier -> as is.

Nothing leaves the machine before step 3 has finished without an exception.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from .backends import Backend, Message, Usage
from .classify import Decision, decide
from .detect.base import Detector, Entity
from .detect.deadline import check as check_deadline, time_budget
from .dispatch import Backends, Dispatcher, Outcome, Prepared
from .errors import Blocked, DetectionError, DetectionTimeout, InputError, PrivrouteError
from .policy import Policy, load_policy
from .vault import Redaction, StreamRestorer, Vault

if TYPE_CHECKING:
    from .audit import AuditStore, NullAudit

__all__ = ["DETECTION_TIMEOUT_REASON", "Prepared", "Prompt", "RouteResult", "Router", "StreamingRoute",
           "get_router", "to_messages"]

DETECTION_TIMEOUT_REASON = "detection-timeout"
"""The reason a decision carries when detection ran out of time and the policy routes such prompts local."""

log = logging.getLogger("privroute")

Prompt = Union[str, Sequence[Mapping[str, Any]]]
_ROLES = frozenset({"system", "user", "assistant", "developer", "tool"})


@dataclass(frozen=True)
class RouteResult:
    """The outcome of one routed call. ``sent`` is exactly what left the machine.

    For a string prompt ``sent`` is the (redacted) prompt text; for chat messages it
    is the JSON array of messages as sent. It is None when nothing left (local).
    """

    answer: str
    decision: Decision
    sent: str | None
    backend: str
    model: str = ""
    attempts: int = 1
    truncated: bool = False
    usage: Usage | None = None
    cost: float | None = None
    latency_s: float = 0.0
    unknown_placeholders: tuple[str, ...] = ()
    fallback_reason: str | None = None
    input_truncated: bool = False
    """The prompt did not fit the local model's context and its oldest part was cut (local.on_overflow)."""
    redaction: Redaction | None = field(default=None, compare=False)

    def __repr__(self) -> str:
        return (
            f"RouteResult(action={self.decision.action!r}, sensitivity={self.decision.sensitivity!r}, "
            f"reasons={self.decision.reasons!r}, backend={self.backend!r}, answer=<{len(self.answer)} chars>, "
            f"sent={'None' if self.sent is None else f'<{len(self.sent)} chars>'}, attempts={self.attempts}, "
            f"truncated={self.truncated}, input_truncated={self.input_truncated})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "action": self.decision.action,
            "sensitivity": self.decision.sensitivity,
            "reasons": list(self.decision.reasons),
            "entities": dict(self.decision.entity_counts),
            "loosened": [{"key": key, "reason": reason} for key, reason in self.decision.loosened],
            "sent": self.sent,
            "backend": self.backend,
            "model": self.model,
            "attempts": self.attempts,
            "truncated": self.truncated,
            "usage": None if self.usage is None else {
                "prompt_tokens": self.usage.prompt_tokens, "completion_tokens": self.usage.completion_tokens},
            "cost": self.cost,
            "latency_s": round(self.latency_s, 4),
            "unknown_placeholders": list(self.unknown_placeholders),
            "fallback_reason": self.fallback_reason,
            "input_truncated": self.input_truncated,
        }


@dataclass(frozen=True)
class _Analysis:
    messages: tuple[Message, ...]
    per_message: tuple[tuple[Entity, ...], ...]
    decision: Decision
    from_string: bool


def to_messages(prompt: Prompt, *, max_chars: int) -> tuple[tuple[Message, ...], bool]:
    """Validate a prompt (string or chat messages); returns (messages, was_string)."""
    if isinstance(prompt, str):
        messages: tuple[Message, ...] = (Message("user", prompt),)
        from_string = True
    elif isinstance(prompt, (bytes, bytearray)):
        raise InputError("prompt must be text (str), not bytes; decode it first")
    elif isinstance(prompt, Sequence) and not isinstance(prompt, str):
        built = []
        for index, item in enumerate(prompt):
            if not isinstance(item, Mapping):
                raise InputError(f"message {index} must be a mapping with 'role' and 'content'")
            role, content = item.get("role"), item.get("content")
            if role not in _ROLES:
                raise InputError(f"message {index}: role must be one of {sorted(_ROLES)}")
            if not isinstance(content, str):
                raise InputError(f"message {index}: content must be a string")
            built.append(Message(str(role), content))
        messages, from_string = tuple(built), False
    else:
        raise InputError(f"prompt must be a string or a list of chat messages, not {type(prompt).__name__}")
    if not messages or not any(m.content.strip() for m in messages):
        raise InputError("prompt is empty")
    total = sum(len(m.content) for m in messages)
    if total > max_chars:
        raise InputError(f"prompt is too large ({total} characters; this policy allows {max_chars})")
    return messages, from_string


class Router:
    """Routes prompts under one policy. Thread-safe; reuse it (models load once)."""

    def __init__(
        self,
        policy: "str | Path | Policy | Mapping[str, Any]" = "general",
        *,
        detector: Detector | None = None,
        local: Backend | None = None,
        frontier: Backend | None = None,
        audit: "AuditStore | NullAudit | None" = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy: Policy = load_policy(policy)
        self._detector = detector
        self._lock = threading.Lock()
        self._backends = Backends(self.policy, local=local, frontier=frontier)
        # Budget, retries, breaker, fallback and audit live in privroute.dispatch;
        # ``audit`` defaults to the store the policy/environment names.
        self._dispatch = Dispatcher(self.policy, self._backends, audit=audit, clock=clock, sleep=sleep)

    def __repr__(self) -> str:
        return f"Router(policy={self.policy.name!r})"

    # ------------------------------------------------------------ components

    @property
    def detector(self) -> Detector:
        with self._lock:
            if self._detector is None:
                from .detect import detector_for

                self._detector = detector_for(self.policy.detect)
            return self._detector

    @property
    def local(self) -> Backend:
        return self._backends.local

    @property
    def frontier(self) -> Backend:
        """The frontier backend; ConfigurationError when the policy and environment name none."""
        return self._backends.frontier

    def warm_up(self) -> None:
        """Load the detector now (spaCy, Presidio) rather than on the first caller's request."""
        self.classify("warm up")

    # ------------------------------------------------------------ analysis

    def _detect(self, text: str) -> tuple[Entity, ...]:
        try:
            return tuple(self.detector.detect(text))
        except PrivrouteError:
            raise
        except Exception as exc:  # fail closed, whatever the detector threw
            raise DetectionError(f"detector failed ({type(exc).__name__}); nothing was sent") from exc

    def _detect_all(self, messages: Sequence[Message]) -> tuple[tuple[Entity, ...], ...]:
        """Entities per message, under the policy's detection time budget for the whole request."""
        found = []
        with time_budget(self.policy.limits.detect_budget_s):
            for message in messages:
                check_deadline(len(message.content))  # also bounds a custom detector that never checks
                found.append(self._detect(message.content))
            check_deadline()
        return tuple(found)

    def _analyse(self, prompt: Prompt) -> _Analysis:
        messages, from_string = to_messages(prompt, max_chars=self.policy.limits.max_prompt_chars)
        try:
            per_message = self._detect_all(messages)
        except DetectionTimeout:
            if self.policy.limits.on_detect_timeout != "local":
                raise
            # Unknown content goes where regulated content goes, raw, inside the trust boundary.
            log.warning("detection ran past its budget; routing local as the policy says")
            decision = Decision(action="local", sensitivity="regulated", reasons=(DETECTION_TIMEOUT_REASON,),
                                policy=self.policy.name)
            return _Analysis(messages, tuple(() for _ in messages), decision, from_string)
        joined, shifted = _join(messages, per_message)
        decision = _language_gate(self.policy, messages, decide(self.policy, joined, shifted))
        return _Analysis(messages, per_message, decision, from_string)

    def classify(self, prompt: Prompt) -> Decision:
        """The decision for a prompt, without calling any model."""
        return self._analyse(prompt).decision

    def redact(self, text: str, *, vault: Vault | None = None) -> Redaction:
        """Replace detected PII in ``text`` with placeholders (no model call)."""
        messages, from_string = to_messages(text, max_chars=self.policy.limits.max_prompt_chars)
        if not from_string:
            raise InputError("redact takes one text (str); route() takes chat messages")
        from .detect.lang import refuse_uncovered

        refuse_uncovered(messages[0].content, self.policy.detect)  # route() can answer it locally; redact() cannot
        entities = self._redactable(self._detect_all(messages)[0])
        return (vault or Vault()).redact(text, entities)

    def _redactable(self, entities: Sequence[Entity]) -> tuple[Entity, ...]:
        only = self.policy.redact.entities
        return tuple(e for e in entities if not only or e.type in only)

    # ------------------------------------------------------------ routing

    def prepare(self, prompt: Prompt) -> "Prepared":
        """Detect, decide and redact, without calling any model. Raises Blocked.

        What it returns is exactly what ``route``/``stream`` would send, and where.
        """
        analysis = self._analyse(prompt)
        decision = analysis.decision
        log.debug("decision action=%s sensitivity=%s reasons=%s", decision.action, decision.sensitivity,
                  ",".join(decision.reasons))
        if decision.action == "block":
            raise Blocked(decision.reasons, sensitivity=decision.sensitivity, decision=decision)
        if decision.action == "local":
            return Prepared(decision, analysis.messages, None, "local", None, analysis.messages)
        redaction = None
        outgoing = analysis.messages
        if decision.action == "redact":
            vault = Vault()
            redactions = [vault.redact(m.content, self._redactable(ents))
                          for m, ents in zip(analysis.messages, analysis.per_message)]
            outgoing = tuple(Message(m.role, r.text) for m, r in zip(analysis.messages, redactions))
            redaction = redactions[-1]
        sent = outgoing[0].content if analysis.from_string else json.dumps([m.as_dict() for m in outgoing])
        return Prepared(decision, outgoing, sent, "frontier", redaction, analysis.messages)

    def route(self, prompt: Prompt, *, max_tokens: int | None = None) -> RouteResult:
        """Classify, then answer locally, via the frontier (redacted or not), or raise Blocked.

        Every outcome (answer, block, error) is appended to the audit log.
        """
        call = self._dispatch.begin(prompt)
        prepared = None
        try:
            prepared = self.prepare(prompt)
            outcome = call.run(prepared, max_tokens)
            result = self._result(outcome, prepared, call.started)
        except Exception as exc:
            call.failed(exc, prepared)
            raise
        call.answered(prepared, outcome)
        return result

    def stream(self, prompt: Prompt, *, max_tokens: int | None = None) -> "StreamingRoute":
        """Like route, but the answer arrives as restored text deltas.

        Placeholders split across chunks are held back until complete. Retries and
        fallback apply until the first delta; a stream that breaks after that raises
        a typed error (FrontierUnavailable, FrontierTimeout) while iterating.
        """
        call = self._dispatch.begin(prompt, stream=True)
        prepared = None
        try:
            prepared = self.prepare(prompt)
            opened = call.open_stream(prepared, max_tokens)
        except Exception as exc:
            call.failed(exc, prepared)
            raise
        return StreamingRoute(opened.prepared, opened.backend, opened.deltas)

    def _result(self, outcome: Outcome, prepared: "Prepared", started: float) -> RouteResult:
        completion = outcome.completion
        answer, unknown = completion.text, ()
        # Only a frontier answer holds placeholders; the local model saw the original text.
        redaction = prepared.redaction if outcome.target == "frontier" else None
        if redaction is not None:
            restored = redaction.restore_report(completion.text)
            answer, unknown = restored.text, restored.unknown
        return RouteResult(
            answer=answer, decision=prepared.decision, sent=outcome.sent, backend=outcome.backend.name,
            model=completion.model, attempts=outcome.attempts, truncated=completion.truncated,
            usage=completion.usage, cost=outcome.cost, latency_s=self._dispatch.elapsed(started),
            unknown_placeholders=tuple(unknown), fallback_reason=outcome.fallback_reason,
            input_truncated=completion.input_truncated, redaction=redaction,
        )


class StreamingRoute:
    """Iterate for restored text deltas; ``decision``, ``backend`` and ``model`` are known up front.

    ``backend``/``model`` name the backend that answers, after any fallback.
    """

    def __init__(self, prepared: Prepared, backend: Backend, deltas: Iterator[str]) -> None:
        self.prepared = prepared
        self.decision = prepared.decision
        self.backend = backend.name
        self.model = backend.model
        self.sent = prepared.sent
        self._deltas = deltas
        self._restorer = StreamRestorer(prepared.redaction.vault) if prepared.redaction else None

    def __repr__(self) -> str:
        return f"StreamingRoute(action={self.decision.action!r}, backend={self.backend!r})"

    @property
    def unknown_placeholders(self) -> tuple[str, ...]:
        return tuple(self._restorer.unknown) if self._restorer else ()

    @property
    def truncated(self) -> bool:
        """After iteration: the answer stopped at its token limit (finish_reason "length")."""
        return bool(getattr(self._deltas, "truncated", False))

    @property
    def input_truncated(self) -> bool:
        """Once the first delta is out: the local model saw only the most recent part of the prompt."""
        return bool(getattr(self._deltas, "input_truncated", False))

    def __iter__(self) -> Iterator[str]:
        if self._restorer is None:
            yield from self._deltas
        else:
            yield from self._restorer.restore_all(self._deltas)


def _language_gate(policy: Policy, messages: Sequence[Message], decision: Decision) -> Decision:
    """Text in a language the policy does not cover: answered locally, refused, or read as English, as it says."""
    from .detect.lang import UNKNOWN_REASON, needs_identification, uncovered_languages

    config = policy.detect
    if not needs_identification(config) or not any(uncovered_languages(m.content, config) for m in messages):
        return decision
    action = decision.action
    if config.unknown_language == "block":
        action = "block"
    elif config.unknown_language == "local" and action != "block":
        action = "local"
    return replace(decision, action=action, reasons=(*decision.reasons, UNKNOWN_REASON))


def _join(messages: Sequence[Message], per_message: Sequence[Sequence[Entity]]) -> tuple[str, tuple[Entity, ...]]:
    """One text for rule evaluation, with entity offsets shifted into it."""
    if len(messages) == 1:
        return messages[0].content, tuple(per_message[0])
    parts, shifted, offset = [], [], 0
    for message, entities in zip(messages, per_message):
        parts.append(message.content)
        shifted.extend(Entity(e.start + offset, e.end + offset, e.type, e.score, e.source) for e in entities)
        offset += len(message.content) + 2
    return "\n\n".join(parts), tuple(shifted)


# ---------------------------------------------------------------- shared routers

_routers: dict[Any, Router] = {}
_routers_lock = threading.Lock()


def _cache_key(policy: Any) -> Any:
    if isinstance(policy, Policy):
        return ("policy", policy.content_hash)
    if isinstance(policy, (str, Path)):
        path = Path(policy)
        if path.suffix in (".yaml", ".yml") and path.is_file():
            stat = path.stat()
            return ("file", str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        return ("name", str(policy))
    return None


def get_router(policy: Any = "general") -> Router:
    """The process-wide Router for a policy (one per policy: models load once)."""
    key = _cache_key(policy)
    if key is None:
        return Router(policy)
    with _routers_lock:
        router = _routers.get(key)
        if router is None:
            router = _routers[key] = Router(policy)
        return router
