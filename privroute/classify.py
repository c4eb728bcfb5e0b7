"""Rule evaluation: entities + text -> Decision (action, sensitivity, reasons).

Pure and cheap: no model call, no I/O. The detector runs before this.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from .detect.base import Entity
from .loosening import ACTION_PROTECTION, LoosenedPath
from .policy import Action, Policy, Rule, Sensitivity

__all__ = ["Decision", "Sensitivity", "decide", "rule_matches"]


@dataclass(frozen=True)
class Decision:
    """What the router will do with a prompt, and why.

    ``reasons`` are the ids of the rules that matched, in policy order;
    ``entity_counts`` counts detected entities per type (no values);
    ``loosened`` holds ``(key, reason)`` for each declared loosening of the policy
    (``loosen:``) that this decision went through; audit records carry it.
    """

    action: Action
    sensitivity: str
    reasons: tuple[str, ...] = ()
    entities: tuple[Entity, ...] = field(default=(), repr=False)
    entity_counts: tuple[tuple[str, int], ...] = ()
    policy: str = ""
    loosened: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "action": self.action,
            "sensitivity": self.sensitivity,
            "reasons": list(self.reasons),
            "entities": dict(self.entity_counts),
            "policy": self.policy,
            "loosened": [{"key": key, "reason": reason} for key, reason in self.loosened],
        }


@lru_cache(maxsize=4096)
def _term_regex(terms: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first so "heart attack" wins over "heart"; escaped so terms are literal.
    alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


@lru_cache(maxsize=4096)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def rule_matches(rule: Rule, text: str, counts: Mapping[str, int]) -> bool:
    """Whether every condition of ``rule`` holds for ``text`` and its entity counts."""
    cond = rule.when
    if cond.entities_any:
        if sum(counts.get(t, 0) for t in cond.entities_any) < cond.min_entities:
            return False
    if cond.entities_all and not all(counts.get(t, 0) > 0 for t in cond.entities_all):
        return False
    if cond.terms_any and not _term_regex(cond.terms_any).search(text):
        return False
    if cond.patterns_any and not any(_pattern_regex(p).search(text) for p in cond.patterns_any):
        return False
    return True


def decide(policy: Policy, text: str, entities: Sequence[Entity]) -> Decision:
    """Apply the policy's rules. Sensitivity is the highest any matching rule implies."""
    counts = Counter(e.type for e in entities)
    level = Sensitivity[policy.classify.default]
    reasons: list[str] = []
    override: Action | None = None
    for rule in policy.classify.rules:
        if not rule_matches(rule, text, counts):
            continue
        reasons.append(rule.id)
        rule_level = Sensitivity[rule.sensitivity]
        level = max(level, rule_level)
        if rule.action == "block":
            override = "block"
        elif rule.action is not None and override != "block":
            override = rule.action
    action: Action = policy.route_for(level)
    if override == "block":
        action = "block"
    elif override is not None and _more_private(override, action):
        action = override
    loosened = tuple((path.key, path.reason) for path in policy.loosened
                     if _went_through(path, level.name, reasons, text, counts))
    return Decision(
        action=action,
        sensitivity=level.name,
        reasons=tuple(reasons),
        entities=tuple(entities),
        entity_counts=tuple(sorted(counts.items())),
        policy=policy.name,
        loosened=loosened,
    )


def _went_through(path: LoosenedPath, level: str, reasons: Sequence[str], text: str,
                  counts: Mapping[str, int]) -> bool:
    """Whether a decision took a loosened path: its level's route, a rule the parent had, the default."""
    if path.everywhere or level in path.sensitivities or (path.default and not reasons):
        return True
    # A loosened rule matters where the ancestor's version of it matches this prompt.
    return any(rule_matches(rule, text, counts) for rule in path.rules)


def _more_private(candidate: Action, current: Action) -> bool:
    """A rule may tighten the route for its level, never loosen it."""
    return ACTION_PROTECTION[candidate] > ACTION_PROTECTION[current]
