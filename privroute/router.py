"""Router: policy + detector + classifier + backends -> RouteResult.

The order of work in ``route`` is the safety argument:

1. validate the input (InputError; nothing sent);
2. detect on every message, and on the values of earlier tool call arguments
   (any failure -> DetectionError; nothing sent);
3. decide (rules -> action);
4. block -> Blocked; local -> raw to the local backend; redact -> placeholders to
   the frontier and values restored into the answer; frontier -> as is.

Nothing leaves the machine before step 3 has finished without an exception.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from .backends import Backend, Message, Usage
from .backends.base import ToolCall, ToolCallDelta, ToolSpec, is_json
from .classify import Decision, decide
from .detect.base import Detector, Entity
from .detect.deadline import check as check_deadline, time_budget
from .dispatch import Backends, Dispatcher, Outcome, Prepared
from .errors import Blocked, DetectionError, DetectionTimeout, InputError, MalformedResponse, PrivrouteError
from .policy import Policy, load_policy
from .toolargs import ArgsView, args_view
from .vault import Redaction, StreamRestorer, Vault, json_escape

if TYPE_CHECKING:
    from .audit import AuditStore, NullAudit
    from .embed import EmbedResult

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
    tool_calls: tuple[ToolCall, ...] = ()
    """The function calls the model asked for (``route(..., tools=...)``), values restored."""
    finish_reason: str | None = None

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
            "tool_calls": [call.as_dict() for call in self.tool_calls],
        }


@dataclass(frozen=True)
class _Analysis:
    messages: tuple[Message, ...]
    per_message: tuple[tuple[Entity, ...], ...]
    decision: Decision
    from_string: bool
    per_call: tuple[tuple[tuple[ArgsView, tuple[Entity, ...]], ...], ...] = ()
    """Per message, each earlier tool call's arguments (as the detector saw them) and their entities."""


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
            built.append(_message(index, item))
        messages, from_string = tuple(built), False
    else:
        raise InputError(f"prompt must be a string or a list of chat messages, not {type(prompt).__name__}")
    if not messages or not any(m.content.strip() or m.tool_calls for m in messages):
        raise InputError("prompt is empty")
    total = sum(m.text_size() for m in messages)
    if total > max_chars:
        raise InputError(f"prompt is too large ({total} characters; this policy allows {max_chars})")
    return messages, from_string


def _message(index: int, item: Mapping[str, Any]) -> Message:
    """One chat message: role and content, and an assistant's ``tool_calls`` or a tool result's id."""
    role, content, calls = item.get("role"), item.get("content"), item.get("tool_calls") or ()
    if role not in _ROLES:
        raise InputError(f"message {index}: role must be one of {sorted(_ROLES)}")
    if content is None and calls and role == "assistant":
        content = ""  # a turn that only called tools
    if not isinstance(content, str):
        raise InputError(f"message {index}: content must be a string")
    tool_calls = []
    for position, call in enumerate(calls if role == "assistant" else ()):
        if isinstance(call, ToolCall):
            tool_calls.append(call)
            continue
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(function, Mapping) or not all(
                isinstance(v, str) for v in (call.get("id"), function.get("name"), function.get("arguments"))):
            raise InputError(f"message {index}: tool_calls.{position} needs a string id, function.name and "
                             "function.arguments")
        tool_calls.append(ToolCall(call["id"], function["name"], function["arguments"]))
    if calls and role != "assistant":
        raise InputError(f"message {index}: only assistant messages carry tool_calls")
    call_id, name = item.get("tool_call_id"), item.get("name")
    if role == "tool" and not isinstance(call_id, str):
        raise InputError(f"message {index}: a tool result needs a string tool_call_id")
    if name is not None and not isinstance(name, str):
        raise InputError(f"message {index}: name must be a string")
    return Message(str(role), content, tuple(tool_calls), call_id if role == "tool" else None, name)


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
        tenant: str | None = None,
        local_embedder: Any = None,
    ) -> None:
        self.policy: Policy = load_policy(policy)
        self._detector = detector
        self._lock = threading.Lock()
        self._backends = Backends(self.policy, local=local, frontier=frontier, local_embedder=local_embedder)
        # Budget, retries, breaker, fallback and audit live in privroute.dispatch;
        # ``audit`` defaults to the store the policy/environment names. ``tenant`` (the
        # proxy's caller) names the audit records and the budget; default: budget.tenant.
        self.tenant = tenant or self.policy.budget.tenant
        self._dispatch = Dispatcher(self.policy, self._backends, audit=audit, clock=clock, sleep=sleep,
                                    tenant=self.tenant)

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
        per_call: tuple[tuple[tuple[ArgsView, tuple[Entity, ...]], ...], ...] = ()
        texts: list[str] = [m.content for m in messages]
        found: list[Sequence[Entity]] = list(per_message)
        if any(m.tool_calls for m in messages):
            views = [tuple(args_view(call.arguments) for call in m.tool_calls) for m in messages]
            with time_budget(self.policy.limits.detect_budget_s):
                per_call = tuple(tuple((view, self._detect(view.text)) for view in row) for row in views)
            # The rules see the arguments' values beside the messages, as one conversation.
            for row in per_call:
                texts.extend(view.text for view, _ in row)
                found.extend(entities for _, entities in row)
        joined, shifted = _join(texts, found)
        decision = _language_gate(self.policy, messages, decide(self.policy, joined, shifted))
        return _Analysis(messages, per_message, decision, from_string, per_call)

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
            outgoing = tuple(dataclasses.replace(m, content=r.text) for m, r in zip(analysis.messages, redactions))
            if analysis.per_call:
                outgoing = tuple(
                    dataclasses.replace(m, tool_calls=tuple(
                        dataclasses.replace(call, arguments=view.redact(vault, self._redactable(ents)))
                        for call, (view, ents) in zip(m.tool_calls, row)))
                    if m.tool_calls else m
                    for m, row in zip(outgoing, analysis.per_call))
            redaction = redactions[-1]
        sent = outgoing[0].content if analysis.from_string else json.dumps([m.as_dict() for m in outgoing])
        return Prepared(decision, outgoing, sent, "frontier", redaction, analysis.messages)

    def route(self, prompt: Prompt, *, max_tokens: int | None = None, tools: ToolSpec | None = None) -> RouteResult:
        """Classify, then answer locally, via the frontier (redacted or not), or raise Blocked.

        ``tools`` offers the model function tools; the placeholders in the calls it
        asks for come back with their values (``RouteResult.tool_calls``). A local
        model that cannot call tools refuses (UnsupportedRequest).
        Every outcome (answer, block, error) is appended to the audit log.
        """
        call = self._dispatch.begin(prompt)
        prepared = None
        try:
            prepared = self.prepare(prompt)
            outcome = call.run(prepared, max_tokens, tools=tools)
            result = self._result(outcome, prepared, call.started)
        except Exception as exc:
            call.failed(exc, prepared)
            raise
        call.answered(prepared, outcome)
        return result

    def stream(self, prompt: Prompt, *, max_tokens: int | None = None,
               tools: ToolSpec | None = None) -> "StreamingRoute":
        """Like route, but the answer arrives as restored text deltas.

        Placeholders split across chunks are held back until complete. Retries and
        fallback apply until the first delta; a stream that breaks after that raises
        a typed error (FrontierUnavailable, FrontierTimeout) while iterating.
        """
        call = self._dispatch.begin(prompt, stream=True)
        prepared = None
        try:
            prepared = self.prepare(prompt)
            opened = call.open_stream(prepared, max_tokens, tools=tools)
        except Exception as exc:
            call.failed(exc, prepared)
            raise
        return StreamingRoute(opened.prepared, opened.backend, opened.deltas)

    def embed(self, inputs: Sequence[str]) -> "EmbedResult":
        """One vector per text, as the policy's ``embeddings.action`` says (privroute.embed). Raises Blocked."""
        from .embed import embed

        return embed(self, inputs)

    def _result(self, outcome: Outcome, prepared: "Prepared", started: float) -> RouteResult:
        completion = outcome.completion
        answer, unknown = completion.text, ()
        # Only a frontier answer holds placeholders; the local model saw the original text.
        redaction = prepared.redaction if outcome.target == "frontier" else None
        tool_calls = completion.tool_calls
        if redaction is not None:
            restored = redaction.restore_report(completion.text)
            answer, unknown = restored.text, restored.unknown
            tool_calls = tuple(_restore_call(call, redaction.vault) for call in tool_calls)
        return RouteResult(
            answer=answer, decision=prepared.decision, sent=outcome.sent, backend=outcome.backend.name,
            model=completion.model, attempts=outcome.attempts, truncated=completion.truncated,
            usage=completion.usage, cost=outcome.cost, latency_s=self._dispatch.elapsed(started),
            unknown_placeholders=tuple(unknown), fallback_reason=outcome.fallback_reason,
            input_truncated=completion.input_truncated, redaction=redaction,
            tool_calls=tool_calls, finish_reason=completion.finish_reason,
        )


class StreamingRoute:
    """Iterate for restored text deltas; ``decision``, ``backend`` and ``model`` are known up front.

    ``backend``/``model`` name the backend that answers, after any fallback. With
    ``tools``, ``ToolCallDelta`` pieces come beside the text, their arguments
    restored (values JSON-escaped) however the upstream split them.
    """

    def __init__(self, prepared: Prepared, backend: Backend, deltas: Iterator[str]) -> None:
        self.prepared = prepared
        self.decision = prepared.decision
        self.backend = backend.name
        self.model = backend.model
        self.sent = prepared.sent
        self._deltas = deltas
        self._restorer = StreamRestorer(prepared.redaction.vault) if prepared.redaction else None
        self._calls: dict[int, StreamRestorer] = {}
        self._vault = prepared.redaction.vault if prepared.redaction else None

    def __repr__(self) -> str:
        return f"StreamingRoute(action={self.decision.action!r}, backend={self.backend!r})"

    @property
    def unknown_placeholders(self) -> tuple[str, ...]:
        if self._restorer is None:
            return ()
        return tuple(self._restorer.unknown) + tuple(u for r in self._calls.values() for u in r.unknown)

    @property
    def truncated(self) -> bool:
        """After iteration: the answer stopped at its token limit (finish_reason "length")."""
        return bool(getattr(self._deltas, "truncated", False))

    @property
    def input_truncated(self) -> bool:
        """Once the first delta is out: the local model saw only the most recent part of the prompt."""
        return bool(getattr(self._deltas, "input_truncated", False))

    @property
    def finish_reason(self) -> str | None:
        """After iteration: the upstream's finish_reason ("stop", "length", "tool_calls"), when it gave one."""
        return getattr(self._deltas, "finish_reason", None)

    def __iter__(self) -> Iterator[Any]:
        if self._restorer is None:
            yield from self._deltas
            return
        # One restorer per channel (the text, each tool call); a channel's held-back tail is
        # released when another channel starts, so every piece comes out in order.
        current: int | None = None
        for delta in self._deltas:
            channel = delta.index if isinstance(delta, ToolCallDelta) else None
            if channel != current:
                yield from self._flush(current)
                current = channel
            if isinstance(delta, ToolCallDelta):
                restorer = self._calls.get(delta.index)
                if restorer is None:
                    restorer = self._calls[delta.index] = StreamRestorer(self._vault, escape=json_escape)
                out = restorer.feed(delta.arguments)
                if out or delta.id is not None or delta.name is not None:
                    yield dataclasses.replace(delta, arguments=out)
            else:
                out = self._restorer.feed(delta)
                if out:
                    yield out
        yield from self._flush(current)

    def _flush(self, channel: int | None) -> Iterator[Any]:
        restorer = self._restorer if channel is None else self._calls.get(channel)
        tail = restorer.flush() if restorer is not None else ""
        if tail:
            yield tail if channel is None else ToolCallDelta(channel, tail)


def _restore_call(call: ToolCall, vault: Vault) -> ToolCall:
    """A tool call with its arguments' placeholders restored; the values JSON-escaped, so still JSON."""
    restored = vault.restore_report(call.arguments, escape=json_escape).text
    if not is_json(restored):  # the backend checked the arguments it got; a restore never breaks them
        raise MalformedResponse("tool call arguments are not JSON after restoring", backend="frontier")
    return dataclasses.replace(call, arguments=restored)


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


def _join(texts: Sequence[str], per_text: Sequence[Sequence[Entity]]) -> tuple[str, tuple[Entity, ...]]:
    """One text for rule evaluation, with entity offsets shifted into it."""
    if len(texts) == 1:
        return texts[0], tuple(per_text[0])
    parts, shifted, offset = [], [], 0
    for text, entities in zip(texts, per_text):
        parts.append(text)
        shifted.extend(Entity(e.start + offset, e.end + offset, e.type, e.score, e.source) for e in entities)
        offset += len(text) + 2
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
