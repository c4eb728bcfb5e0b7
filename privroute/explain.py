"""``privroute policy explain``: every rule of a policy, matched or not, for one prompt."""

from __future__ import annotations

from typing import Any

from .classify import rule_matches
from .router import get_router

__all__ = ["explain"]


def explain(policy: Any, prompt: str) -> dict[str, Any]:
    """A report of how ``policy`` decides ``prompt``: entity counts (no values), rules, route."""
    router = get_router(policy)
    decision = router.classify(prompt)
    counts = dict(decision.entity_counts)
    rules = [
        {
            "id": rule.id,
            "description": rule.description,
            "sensitivity": rule.sensitivity,
            "action": rule.action,
            "matched": rule_matches(rule, prompt, counts),
        }
        for rule in router.policy.classify.rules
    ]
    return {
        "policy": router.policy.name,
        "entities": counts,
        "rules": rules,
        "default": router.policy.classify.default,
        "sensitivity": decision.sensitivity,
        "action": decision.action,
        "reasons": list(decision.reasons),
        "loosened": [{"key": key, "reason": reason} for key, reason in decision.loosened],
        "routes": router.policy.routes.model_dump(),
    }
