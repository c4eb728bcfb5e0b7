"""What one policy changes relative to another, and which changes protect less.

``compare(before, after)`` lists every difference that matters for routing, rule by
rule, route by route, each marked ``loosens`` when ``after`` protects less than
``before``. ``load_policy`` uses it to refuse a child policy that loosens its
parent without saying so (``loosen:``); ``privroute policy diff`` prints it.

Protection is ordered ``block > local > redact > frontier`` for actions and by
sensitivity level for a rule's sensitivity. A change loosens when:

* a route or a rule's action becomes less protective, or a rule's sensitivity lower;
* a rule is dropped, or its conditions may match fewer prompts (any change that is
  not provably broader: more entity types, terms or patterns, a lower count);
* the default sensitivity is lowered;
* detection reports less: a threshold raised, the reported or redacted entity
  types narrowed, values added to the allow list, normalisation turned off, a
  recognizer dropped or narrowed, a keep rule added, propagation turned off, text in
  other languages read as English where it was kept local or refused, a language
  dropped (read as English now) or language identification turned off;
* an audit trail the parent required is no longer required or disabled;
* a prompt whose detection ran out of time goes local where the parent blocked it
  (``limits.on_detect_timeout``);
* embeddings move toward the frontier (``refuse > local > redact``).

Policies are read through their attributes only: this module imports nothing from
privroute, so ``policy.py`` can use it at load time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["ACTION_PROTECTION", "SENSITIVITIES", "Change", "LoosenedPath", "compare", "covers", "loosened_paths",
           "loosenings"]

ACTION_PROTECTION: dict[str, int] = {"frontier": 0, "redact": 1, "local": 2, "block": 3}
"""How much each action protects: a route may only move up this order without ``loosen:``."""
EMBEDDING_PROTECTION: dict[str, int] = {"redact": 0, "local": 1, "refuse": 2}

SENSITIVITIES: tuple[str, ...] = ("public", "internal", "confidential", "regulated")
"""In increasing order, as ``privroute.policy.Sensitivity`` (a test checks they agree)."""


@dataclass(frozen=True)
class Change:
    """One difference. ``key`` is the dotted setting (rules and recognizers by id/name)."""

    key: str
    before: str
    after: str
    loosens: bool
    note: str = ""

    def describe(self) -> str:
        moved = f"{self.before} -> {self.after}" if self.before or self.after else ""
        return "; ".join(part for part in (moved, self.note) if part)

    def as_dict(self) -> dict[str, object]:
        return {"key": self.key, "before": self.before, "after": self.after, "loosens": self.loosens,
                "note": self.note}


def covers(declared: str, key: str) -> bool:
    """Whether a ``loosen:`` key covers a change's key: the same key, or a parent of it."""
    return key == declared or key.startswith(declared + ".")


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (tuple, list, frozenset, set)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def _action(value: str | None) -> int:
    return -1 if value is None else ACTION_PROTECTION[value]


def _rule_broader_or_equal(old: Any, new: Any) -> bool:
    """Whether ``new`` matches at least every prompt ``old`` matches (conservatively)."""
    a, b = old.when, new.when
    if a.entities_any:
        if not b.entities_any:
            return not (b.entities_all or b.terms_any or b.patterns_any)
        if not set(a.entities_any) <= set(b.entities_any) or b.min_entities > a.min_entities:
            return False
    elif b.entities_any:
        return False
    if not set(b.entities_all) <= set(a.entities_all):
        return False
    for field in ("terms_any", "patterns_any"):
        old_values, new_values = getattr(a, field), getattr(b, field)
        if old_values and new_values and not set(old_values) <= set(new_values):
            return False
        if new_values and not old_values:
            return False
    return True


def _rules(before: Any, after: Any) -> list[Change]:
    changes: list[Change] = []
    old = {r.id: r for r in before.classify.rules}
    new = {r.id: r for r in after.classify.rules}
    for rule_id, rule in old.items():
        key = f"classify.rules.{rule_id}"
        if rule_id not in new:
            changes.append(Change(key, "", "", True, f"rule dropped (was {rule.sensitivity})"))
            continue
        other = new[rule_id]
        if other.sensitivity != rule.sensitivity:
            lower = SENSITIVITIES.index(other.sensitivity) < SENSITIVITIES.index(rule.sensitivity)
            changes.append(Change(f"{key}.sensitivity", rule.sensitivity, other.sensitivity, lower))
        if other.action != rule.action:
            changes.append(Change(f"{key}.action", _show(rule.action), _show(other.action),
                                  _action(other.action) < _action(rule.action)))
        if other.when != rule.when:
            broader = _rule_broader_or_equal(rule, other)
            changes.append(Change(f"{key}.when", "", "", not broader,
                                  "conditions broadened" if broader else "conditions may match fewer prompts"))
    for rule_id, rule in new.items():
        if rule_id not in old:
            changes.append(Change(f"classify.rules.{rule_id}", "", "", False, f"rule added ({rule.sensitivity})"))
    return changes


def _recognizers(before: Any, after: Any) -> list[Change]:
    changes: list[Change] = []
    old = {r.name: r for r in before.detect.recognizers}
    new = {r.name: r for r in after.detect.recognizers}
    for name, spec in old.items():
        key = f"detect.recognizers.{name}"
        other = new.get(name)
        if other is None:
            changes.append(Change(key, "", "", True, f"recognizer dropped (was {spec.entity})"))
        elif other != spec:
            scores = {(p.regex, p.score) for p in spec.patterns}
            kept = {p.regex: p.score for p in other.patterns}
            narrower = (other.entity != spec.entity
                        or any(regex not in kept or kept[regex] < score for regex, score in scores)
                        or not set(spec.deny_list) <= set(other.deny_list)
                        or not set(spec.context) <= set(other.context)
                        or (spec.checksum == "none" and other.checksum != "none")
                        or set(other.flags) != set(spec.flags))
            changes.append(Change(key, spec.entity, other.entity, narrower,
                                  "recognizer narrowed" if narrower else "recognizer broadened"))
    for name, spec in new.items():
        if name not in old:
            changes.append(Change(f"detect.recognizers.{name}", "", "", False, f"recognizer added ({spec.entity})"))
    return changes


def _types(before: tuple[str, ...], after: tuple[str, ...]) -> bool:
    """Whether an entity-type filter got narrower (empty means every type)."""
    if not before:
        return bool(after)
    return bool(after) and not set(before) <= set(after)


def _fields(a: Any, b: Any) -> list[Change]:
    """Field typing (detect.fields): turning it off, ignoring a field name or dropping or retyping an
    added name types fewer values; adding a name types more."""
    changes: list[Change] = []
    if a.enabled != b.enabled:
        changes.append(Change("detect.fields.enabled", str(a.enabled), str(b.enabled), not b.enabled))
    if set(a.ignore) != set(b.ignore):
        added = sorted(set(b.ignore) - set(a.ignore))
        changes.append(Change("detect.fields.ignore", _show(a.ignore), _show(b.ignore), bool(added),
                              f"no longer typed: {', '.join(added)}" if added else ""))
    if a.names != b.names:
        lost = sorted(name for name, type_ in a.names.items() if b.names.get(name) != type_)
        changes.append(Change("detect.fields.names", f"{len(a.names)} names", f"{len(b.names)} names", bool(lost),
                              f"dropped or retyped: {', '.join(lost)}" if lost else ""))
    return changes


def _detection(before: Any, after: Any) -> list[Change]:
    changes: list[Change] = []
    a, b = before.detect, after.detect
    if a.threshold != b.threshold:
        changes.append(Change("detect.threshold", str(a.threshold), str(b.threshold), b.threshold > a.threshold))
    for type_ in sorted(set(a.thresholds) | set(b.thresholds)):
        old, new = a.thresholds.get(type_, a.threshold), b.thresholds.get(type_, b.threshold)
        if old != new:
            changes.append(Change(f"detect.thresholds.{type_}", str(old), str(new), new > old))
    if a.entities != b.entities:
        changes.append(Change("detect.entities", _show(a.entities) if a.entities else "all",
                              _show(b.entities) if b.entities else "all", _types(a.entities, b.entities)))
    if a.allow_list != b.allow_list:
        added = set(b.allow_list) - set(a.allow_list)
        changes.append(Change("detect.allow_list", f"{len(a.allow_list)} values", f"{len(b.allow_list)} values",
                              bool(added), f"{len(added)} values no longer detected" if added else ""))
    if a.normalize != b.normalize:
        changes.append(Change("detect.normalize", str(a.normalize), str(b.normalize), not b.normalize))
    if set(a.keep) != set(b.keep):
        # A keep rule leaves detected text readable: adding one protects less.
        added = sorted(set(b.keep) - set(a.keep))
        changes.append(Change("detect.keep", _show(a.keep), _show(b.keep), bool(added),
                              f"now kept: {', '.join(added)}" if added else ""))
    if a.propagate != b.propagate:
        changes.append(Change("detect.propagate", str(a.propagate), str(b.propagate), not b.propagate))
    changes.extend(_languages(a, b))
    changes.extend(_fields(a.fields, b.fields))
    for field in ("language", "spacy_model"):
        if getattr(a, field) != getattr(b, field):
            changes.append(Change(f"detect.{field}", getattr(a, field), getattr(b, field), False))
    changes.extend(_recognizers(before, after))
    if before.redact.entities != after.redact.entities:
        old_types, new_types = before.redact.entities, after.redact.entities
        changes.append(Change("redact.entities", _show(old_types) if old_types else "all",
                              _show(new_types) if new_types else "all", _types(old_types, new_types)))
    return changes


_UNKNOWN_LANGUAGE = {"redact-with-en": 0, "local": 1, "block": 2}


def _languages(a: Any, b: Any) -> list[Change]:
    """Language settings: text in a language no longer covered, or no longer identified, is read less well."""
    changes: list[Change] = []
    if a.unknown_language != b.unknown_language:
        changes.append(Change("detect.unknown_language", a.unknown_language, b.unknown_language,
                              _UNKNOWN_LANGUAGE[b.unknown_language] < _UNKNOWN_LANGUAGE[a.unknown_language]))
    if a.languages != b.languages:
        dropped = sorted(set(a.languages) - set(b.languages))
        changes.append(Change("detect.languages", _show(a.languages), _show(b.languages),
                              bool(dropped) and b.unknown_language == "redact-with-en",
                              f"no longer read in their own pipeline: {', '.join(dropped)}" if dropped else ""))
    if a.identify_language != b.identify_language:
        changes.append(Change("detect.identify_language", str(a.identify_language), str(b.identify_language),
                              not b.identify_language))
    if a.models != b.models:
        changes.append(Change("detect.models", _show(sorted(a.models.items())), _show(sorted(b.models.items())),
                              False))
    return changes


def compare(before: Any, after: Any) -> tuple[Change, ...]:
    """Every routing-relevant difference from ``before`` to ``after``, loosenings marked."""
    changes: list[Change] = []
    for level in SENSITIVITIES:
        old, new = getattr(before.routes, level), getattr(after.routes, level)
        if old != new:
            changes.append(Change(f"routes.{level}", old, new, ACTION_PROTECTION[new] < ACTION_PROTECTION[old]))
    if before.classify.default != after.classify.default:
        old, new = before.classify.default, after.classify.default
        changes.append(Change("classify.default", old, new, SENSITIVITIES.index(new) < SENSITIVITIES.index(old)))
    changes.extend(_rules(before, after))
    changes.extend(_detection(before, after))
    a, b = before.audit, after.audit
    if a.enabled != b.enabled:
        changes.append(Change("audit.enabled", str(a.enabled), str(b.enabled), a.required and not b.enabled))
    if a.required != b.required:
        changes.append(Change("audit.required", str(a.required), str(b.required), a.required and not b.required))
    if a.path != b.path:
        changes.append(Change("audit.path", _show(a.path), _show(b.path), False))
    changes.extend(_limits(before, after))
    for field in ("model", "base_url", "fallback"):
        if getattr(before.frontier, field) != getattr(after.frontier, field):
            changes.append(Change(f"frontier.{field}", _show(getattr(before.frontier, field)),
                                  _show(getattr(after.frontier, field)), False))
    old_embed, new_embed = getattr(before, "embeddings", None), getattr(after, "embeddings", None)
    if old_embed is not None and new_embed is not None and old_embed.action != new_embed.action:
        changes.append(Change("embeddings.action", old_embed.action, new_embed.action,
                              EMBEDDING_PROTECTION[new_embed.action] < EMBEDDING_PROTECTION[old_embed.action]))
    for field in ("model", "base_url"):
        if getattr(before.local, field) != getattr(after.local, field):
            changes.append(Change(f"local.{field}", _show(getattr(before.local, field)),
                                  _show(getattr(after.local, field)), False))
    return tuple(changes)


def _limits(before: Any, after: Any) -> list[Change]:
    """What a prompt whose detection ran out of time gets (``local`` protects less than
    ``block``); the budget itself decides availability, not protection."""
    a, b = getattr(before, "limits", None), getattr(after, "limits", None)
    if a is None or b is None:
        return []
    changes = []
    if a.on_detect_timeout != b.on_detect_timeout:
        changes.append(Change("limits.on_detect_timeout", a.on_detect_timeout, b.on_detect_timeout,
                              ACTION_PROTECTION[b.on_detect_timeout] < ACTION_PROTECTION[a.on_detect_timeout]))
    if a.detect_budget_s != b.detect_budget_s:
        changes.append(Change("limits.detect_budget_s", _show(a.detect_budget_s), _show(b.detect_budget_s), False))
    return changes


def loosenings(before: Any, after: Any) -> tuple[Change, ...]:
    """The changes from ``before`` to ``after`` that protect less."""
    return tuple(change for change in compare(before, after) if change.loosens)


@dataclass(frozen=True)
class LoosenedPath:
    """A declared loosening, resolved at load: the decisions it affects.

    ``sensitivities``: decisions at those levels (a loosened route); ``rules``: the
    ancestors' versions of a loosened rule (decisions where one of them matches);
    ``default``: decisions no rule matched; ``everywhere``: every decision (detection,
    redaction and audit settings apply to all prompts).
    """

    key: str
    reason: str
    sensitivities: tuple[str, ...] = ()
    rules: tuple[Any, ...] = ()
    default: bool = False
    everywhere: bool = False


def loosened_paths(policy: Any, ancestors: Sequence[Any]) -> tuple[LoosenedPath, ...]:
    """Where ``policy`` protects less than any of its ancestors, by declared key, with its reason.

    ``load_policy`` has already refused every loosening that is not declared; the
    reason of a change is the most specific ``loosen:`` key that covers it.
    """
    found: dict[str, dict[str, Any]] = {}
    for ancestor in ancestors:
        for change in loosenings(ancestor, policy):
            matching = [d for d in policy.loosen if covers(d.key, change.key)]
            declared = max(matching, key=lambda d: len(d.key)) if matching else None
            key = declared.key if declared else change.key
            entry = found.setdefault(key, {"reason": declared.reason if declared else "", "levels": set(),
                                           "rules": [], "default": False, "everywhere": False})
            parts = change.key.split(".")
            if parts[0] == "routes":
                entry["levels"].add(parts[1])
            elif parts[:2] == ["classify", "rules"]:
                rule_id = change.key[len("classify.rules."):].split(".")[0]
                entry["rules"].extend(r for r in ancestor.classify.rules if r.id == rule_id)
            elif change.key == "classify.default":
                entry["default"] = True
            else:
                entry["everywhere"] = True
    return tuple(
        LoosenedPath(key, entry["reason"], tuple(sorted(entry["levels"])), tuple(entry["rules"]),
                     entry["default"], entry["everywhere"])
        for key, entry in found.items())
