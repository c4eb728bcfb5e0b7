"""Embeddings under a policy (``Router.embed``): detect, decide, then embed or refuse.

The policy's ``embeddings.action`` is one choice for all of a tenant's texts,
because vectors of two models cannot share a search index:

* ``redact`` (default): each input is detected and decided on its own (a chunk of a
  document is its own text); personal data becomes placeholders, each input in a
  vault of its own, so a text embeds the same whatever batch it came in; the
  frontier embeds the result. Input the policy routes ``local`` (regulated) is
  refused: it never reaches the frontier, and a local vector would not fit the index.
* ``local``: every input is embedded by the local model, nothing leaves the machine.
* ``refuse``: no embeddings.

A ``block`` decision refuses the request whatever the action. Refusals raise
``Blocked`` (nothing sent); every outcome gets one audit record, as for ``route``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .backends.base import Message, Usage
from .classify import Decision, decide
from .dispatch import Prepared
from .errors import Blocked, InputError
from .loosening import ACTION_PROTECTION
from .vault import Vault

__all__ = ["EmbedResult", "MAX_INPUTS", "REFUSED", "REGULATED", "embed"]

MAX_INPUTS = 2048
"""Inputs per request (OpenAI's limit)."""
REFUSED = "embeddings-refused"
"""The reason of a refusal by ``embeddings.action: refuse``."""
REGULATED = "embeddings-never-frontier"
"""The reason added when input the policy keeps local is refused under ``embeddings.action: redact``."""


@dataclass(frozen=True)
class EmbedResult:
    """One vector per input. ``sent`` is the JSON list of texts that left the machine (None: local)."""

    vectors: tuple[tuple[float, ...], ...]
    decision: Decision
    target: str
    backend: str
    model: str
    sent: str | None
    usage: Usage | None = None
    cost: float | None = None
    attempts: int = 1

    def __repr__(self) -> str:
        return (f"EmbedResult(action={self.decision.action!r}, target={self.target!r}, model={self.model!r}, "
                f"vectors={len(self.vectors)})")


def embed(router: Any, inputs: Sequence[str]) -> EmbedResult:
    """Embed ``inputs`` as the ``privroute.Router``'s policy says; raises Blocked, InputError, backend errors.

    (The router is not imported here: it imports this module when ``Router.embed`` is called.)
    """
    call = router._dispatch.begin(list(inputs) if isinstance(inputs, (list, tuple)) else inputs)
    prepared = None
    try:
        prepared = _prepare(router, inputs)
        vectors, outcome = call.run_embed(prepared, router.policy.embeddings.model)
    except Exception as exc:
        call.failed(exc, prepared)
        raise
    call.answered(prepared, outcome)
    return EmbedResult(vectors.vectors, prepared.decision, outcome.target, outcome.backend.name, vectors.model,
                       outcome.sent, vectors.usage, outcome.cost, outcome.attempts)


def _texts(inputs: Sequence[str], max_chars: int) -> tuple[str, ...]:
    if isinstance(inputs, str) or not isinstance(inputs, Sequence):
        raise InputError("embeddings take a list of texts")
    if not inputs or len(inputs) > MAX_INPUTS:
        raise InputError(f"embeddings take 1 to {MAX_INPUTS} texts")
    for index, text in enumerate(inputs):
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"input {index} must be a non-empty string")
    total = sum(len(text) for text in inputs)
    if total > max_chars:
        raise InputError(f"input is too large ({total} characters; this policy allows {max_chars})")
    return tuple(inputs)


def _prepare(router: Any, inputs: Sequence[str]) -> Prepared:
    policy = router.policy
    texts = _texts(inputs, policy.limits.max_prompt_chars)
    if policy.embeddings.action == "refuse":
        raise Blocked((REFUSED,), sensitivity=None)
    found = [router._detect(text) for text in texts]
    decisions = [decide(policy, text, entities) for text, entities in zip(texts, found)]
    decision = _strictest(decisions)
    if decision.action == "block":
        raise Blocked(decision.reasons, sensitivity=decision.sensitivity, decision=decision)
    original = tuple(Message("user", text) for text in texts)
    if policy.embeddings.action == "local":
        return Prepared(dataclasses.replace(decision, action="local"), original, None, "local", None, original)
    if decision.action == "local":
        reasons = (*decision.reasons, REGULATED)
        raise Blocked(reasons, sensitivity=decision.sensitivity, decision=dataclasses.replace(decision,
                                                                                               reasons=reasons))
    outgoing = tuple(
        Vault().redact(text, router._redactable(entities)).text if each.action == "redact" else text
        for text, entities, each in zip(texts, found, decisions))
    sent = json.dumps(list(outgoing), ensure_ascii=False)
    return Prepared(decision, tuple(Message("user", text) for text in outgoing), sent, "frontier", None, original)


def _strictest(decisions: Sequence[Decision]) -> Decision:
    """The most protective input's decision, with every input's reasons and entity counts."""
    strictest = max(decisions, key=lambda d: ACTION_PROTECTION[d.action])
    reasons = tuple(dict.fromkeys(reason for d in decisions for reason in d.reasons))
    counts: dict[str, int] = {}
    for each in decisions:
        for kind, count in each.entity_counts:
            counts[kind] = counts.get(kind, 0) + count
    return dataclasses.replace(strictest, reasons=reasons, entity_counts=tuple(sorted(counts.items())),
                               entities=())
