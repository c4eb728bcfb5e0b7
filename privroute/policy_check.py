"""``privroute policy check``: everything a route would need, resolved before deploying.

A policy that loads can still fail at route time, or quietly protect less than it
reads: a typo in an entity type makes a rule that never fires, a missing model or
spaCy pipeline fails the first routed prompt, ``audit.required`` without an audit
trail refuses every call. ``check_policy`` looks at all of it and reports every
problem, each with the file, line and key it comes from:

* the file and its parents load (every schema error, not only the first; a child that
  loosens its parent without ``loosen:`` is one);
* every entity type a rule, threshold, filter or recognizer names is one the detector
  reports (or a policy recognizer defines), with the closest known name when not;
* the spaCy pipeline is installed, and Presidio;
* when some route keeps prompts local: the local model resolves (catalog name or
  .gguf file), its file is a GGUF and matches the catalog's sha256, llama.cpp is
  installed (or ``local.base_url`` answers);
* when some route sends to the frontier: a model and a destination are configured,
  and (online) the endpoint answers and accepts the key;
* the audit settings agree with ``audit.required`` and the audit file is writable;
* every ``loosen:`` declaration loosens something relative to its parent.

``offline=True`` skips what needs the network (the frontier's and a local server's
reachability). No spaCy pipeline or model is loaded: the check is fast.
"""

from __future__ import annotations

import importlib.util
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import AuditError, MissingDependency, ModelNotFound, PolicyError
from .loosening import covers, loosenings
from .policy import Policy, closest, load_policy, policy_sources
from .stores import open_store, resolve_location

__all__ = ["CheckReport", "Problem", "check_policy"]

_PROBE_TIMEOUT_S = 5.0
_GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class Problem:
    """One thing that would fail or silently not work, and where it is written."""

    message: str
    source: str | None = None
    line: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = self.source or "<policy>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        if self.key:
            where = f"{where}: {self.key}"
        return f"{where}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {"source": self.source, "line": self.line, "key": self.key, "message": self.message}


@dataclass(frozen=True)
class CheckReport:
    """``problems`` (empty when the policy is deployable), what was checked, what was skipped."""

    policy: str
    name: str | None = None
    content_hash: str | None = None
    problems: tuple[Problem, ...] = ()
    checked: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, object]:
        return {"policy": self.policy, "name": self.name, "ok": self.ok, "sha256": self.content_hash,
                "problems": [p.as_dict() for p in self.problems], "checked": list(self.checked),
                "skipped": list(self.skipped), "notes": list(self.notes)}


@dataclass
class _Run:
    sources: tuple[Any, ...]
    problems: list[Problem] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def where(self, *path: str) -> tuple[str | None, int | None]:
        """The first file of the chain (child first) that sets ``path``, and its line."""
        for source in self.sources:
            node: Any = source.data
            for part in path:
                node = node.get(part) if isinstance(node, dict) else None
            if node is not None:
                return source.source, source.line_for(path)
        return (self.sources[0].source if self.sources else None), None

    def problem(self, message: str, *path: str, key: str | None = None) -> None:
        """A problem with a setting; one inherited from a parent is reported on the checked file."""
        top = self.sources[0].source if self.sources else None
        source, line = self.where(*path) if path else (top, None)
        if source != top:
            message = f"{message} (inherited from {source}{f':{line}' if line else ''})"
            source, line = top, None
        self.problems.append(Problem(message, source, line, key or ".".join(path) or None))


def check_policy(ref: str, *, offline: bool = False) -> CheckReport:
    """Check a policy file or shipped name; never raises for a problem in it (it reports it)."""
    try:
        sources = policy_sources(ref)
    except PolicyError as exc:
        return CheckReport(ref, problems=tuple(_from_error(e) for e in exc.problems))
    run = _Run(sources)
    policy: Policy | None = None
    try:
        policy = load_policy(ref)
    except PolicyError as exc:
        run.problems.extend(_from_error(e) for e in exc.problems)
    if len(sources) > 1:
        run.checked.append("parents: " + " <- ".join(s.source for s in reversed(sources)))
    defined = _recognizer_types(sources)
    _check_entity_names(run, defined)
    _check_loosen_declarations(run)
    if policy is not None:
        _check_filters(run, policy, defined)
        _check_detector(run, policy)
        needs = _destinations(policy)
        if "local" in needs:
            _check_local(run, policy, offline)
        else:
            run.skipped.append("local model: no route keeps prompts local")
        if "frontier" in needs:
            _check_frontier(run, policy, offline)
        else:
            run.skipped.append("frontier: no route sends to the frontier")
        _check_audit(run, policy)
        _check_budget(run, policy)
        for path in policy.loosened:
            run.notes.append(f"loosened on purpose: {path.key} ({path.reason})")
    return CheckReport(ref, policy.name if policy else None, policy.content_hash if policy else None,
                       tuple(_unique(_ordered(run))), tuple(run.checked), tuple(run.skipped), tuple(run.notes))


def _from_error(exc: PolicyError) -> Problem:
    return Problem(exc.message, exc.source, exc.line, exc.key)


def _ordered(run: _Run) -> list[Problem]:
    """The checked file's problems first, then each parent's, each by line."""
    order = {source.source: index for index, source in enumerate(run.sources)}
    return sorted(run.problems, key=lambda p: (order.get(p.source or "", len(order)), p.line or 0))


def _unique(problems: list[Problem]) -> Iterator[Problem]:
    seen: set[str] = set()
    for problem in problems:
        if str(problem) not in seen:
            seen.add(str(problem))
            yield problem


# ------------------------------------------------------------------ entity types


def _known_types() -> frozenset[str]:
    from .detect.engine import known_entity_types

    return known_entity_types()


def _recognizer_types(sources: tuple[Any, ...]) -> frozenset[str]:
    """Types the chain's own recognizers define: a policy may introduce a type."""
    found = set()
    for source in sources:
        for spec in _items(source.data, "detect", "recognizers"):
            if isinstance(spec.get("entity"), str):
                found.add(spec["entity"])
    return frozenset(found)


def _items(data: Any, *path: str) -> list[dict[str, Any]]:
    for part in path:
        data = data.get(part) if isinstance(data, dict) else None
    return [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def _names(value: Any) -> list[tuple[int, str]]:
    return [(i, v) for i, v in enumerate(value) if isinstance(v, str)] if isinstance(value, list) else []


def _check_entity_names(run: _Run, defined: frozenset[str]) -> None:
    """Every type a rule, filter or threshold names, in every file of the chain, is known."""
    detector = _known_types()
    known = detector | defined
    run.checked.append(f"entity types: {len(detector)} from the detector, {len(defined - detector)} "
                       "defined by policy recognizers")

    def unknown(type_: str, source: Any, loc: tuple[str, ...], key: str, effect: str) -> None:
        guess = closest(type_, known)
        hint = f"; did you mean {guess!r}?" if guess else " (not a type the detector reports)"
        run.problems.append(Problem(f"unknown entity type {type_!r}{hint} ({effect})", source.source,
                                    source.line_for(loc), key))

    used = {type_ for source in run.sources for rule in _items(source.data, "classify", "rules")
            if isinstance(rule.get("when"), dict)
            for field_name in ("entities_any", "entities_all") for _, type_ in _names(rule["when"].get(field_name))}
    for source in run.sources:
        data = source.data
        for index, rule in enumerate(_items(data, "classify", "rules")):
            when = rule.get("when") if isinstance(rule.get("when"), dict) else {}
            for field_name in ("entities_any", "entities_all"):
                for j, type_ in _names(when.get(field_name)):
                    if type_ not in known:
                        unknown(type_, source, ("classify", "rules", str(index), "when", field_name, str(j)),
                                f"classify.rules.{rule.get('id')}.when.{field_name}",
                                "the detector never reports it, so this condition never holds")
        detect = data.get("detect") if isinstance(data.get("detect"), dict) else {}
        for j, type_ in _names(detect.get("entities")):
            if type_ not in known:
                unknown(type_, source, ("detect", "entities", str(j)), "detect.entities", "nothing is detected as it")
        for type_ in (detect.get("thresholds") or {}) if isinstance(detect.get("thresholds"), dict) else {}:
            if str(type_) not in known:
                unknown(str(type_), source, ("detect", "thresholds", str(type_)), f"detect.thresholds.{type_}",
                        "this threshold applies to nothing")
        redact = data.get("redact") if isinstance(data.get("redact"), dict) else {}
        for j, type_ in _names(redact.get("entities")):
            if type_ not in known:
                unknown(type_, source, ("redact", "entities", str(j)), "redact.entities", "nothing is redacted as it")
        for index, spec in enumerate(_items(data, "detect", "recognizers")):
            type_ = spec.get("entity")
            if not isinstance(type_, str) or type_ in detector or type_ in used:
                continue
            # A new type no rule names: a typo of a known type, or a type that only gets redacted.
            key = f"detect.recognizers.{spec.get('name')}.entity"
            if guess := closest(type_, detector, cutoff=0.9):
                run.problems.append(Problem(
                    f"recognizer reports {type_!r}, which no rule names and the detector does not know; "
                    f"did you mean {guess!r}?", source.source,
                    source.line_for(("detect", "recognizers", str(index), "entity")), key))
            else:
                run.notes.append(f"{source.source}: {key}: new type {type_!r} is redacted, but no rule names it")


def _check_filters(run: _Run, policy: Policy, defined: frozenset[str]) -> None:
    """A rule type that ``detect.entities`` leaves out can never be detected, so never matches."""
    reported = set(policy.detect.entities)
    if not reported:
        return
    for rule in policy.classify.rules:
        for type_ in {*rule.when.entities_any, *rule.when.entities_all} - reported - set(defined):
            source, line = _rule_place(run, rule.id)
            run.problems.append(Problem(f"uses {type_!r}, which detect.entities leaves out: never detected",
                                        source, line, f"classify.rules.{rule.id}.when"))


def _rule_place(run: _Run, rule_id: str) -> tuple[str | None, int | None]:
    for source in run.sources:
        for index, rule in enumerate(_items(source.data, "classify", "rules")):
            if rule.get("id") == rule_id:
                return source.source, source.line_for(("classify", "rules", str(index)))
    return None, None


# ------------------------------------------------------------------ loosening


def _check_loosen_declarations(run: _Run) -> None:
    """A ``loosen:`` entry must loosen something: a stale one would hide a later loosening."""
    for index, source in enumerate(run.sources):
        declared = [(j, item.get("key")) for j, item in enumerate(_items(source.data, "loosen"))]
        if not declared:
            continue
        if index + 1 >= len(run.sources):
            run.problems.append(Problem("loosen: is declared but this policy extends nothing", source.source,
                                        source.line_for(("loosen",)), "loosen"))
            continue
        try:
            child, parent = load_policy(_ref(source)), load_policy(_ref(run.sources[index + 1]))
        except PolicyError:
            continue  # reported by the load above
        changed = [change.key for change in loosenings(parent, child)]
        for j, key in declared:
            if isinstance(key, str) and not any(covers(key, c) for c in changed):
                run.problems.append(Problem(
                    f"declares a loosening of {key!r}, but this policy does not protect less than "
                    f"{parent.name!r} there (remove it)", source.source, source.line_for(("loosen", str(j))),
                    f"loosen.{key}"))


def _ref(source: Any) -> str:
    suffix = " (shipped)"
    return source.source.removesuffix(suffix)


# ------------------------------------------------------------------ what a route needs


def _destinations(policy: Policy) -> set[str]:
    """Where some prompt can go: "local" and/or "frontier"."""
    actions = {getattr(policy.routes, level) for level in type(policy.routes).model_fields}
    actions |= {rule.action for rule in policy.classify.rules if rule.action}
    needs = set()
    if "local" in actions:
        needs.add("local")
    if actions & {"frontier", "redact"}:
        needs.add("frontier")
        if policy.frontier.fallback == "local":
            needs.add("local")
        if policy.budget.on_exceed == "local" and (policy.budget.daily_tokens or policy.budget.daily_cost):
            needs.add("local")
    return needs


def _check_detector(run: _Run, policy: Policy) -> None:
    model = policy.detect.spacy_model
    if "/" in model or os.sep in model:
        if not (Path(model).expanduser() / "config.cfg").is_file():
            run.problem(f"no spaCy pipeline at {model} (a folder with config.cfg)", "detect", "spacy_model")
    elif _missing(model):
        run.problem(f"spaCy model package {model!r} is not installed; privroute never downloads models "
                    "(install the package that provides it)", "detect", "spacy_model")
    else:
        run.checked.append(f"spaCy model: {model} installed")
    if _missing("presidio_analyzer"):
        run.problem("presidio-analyzer is not installed (pip install 'privroute[detect]'): nothing can be "
                    "detected, so every route fails", "detect")
    _check_languages(run, policy)


def _check_languages(run: _Run, policy: Policy) -> None:
    """Every language the policy covers needs its pipeline; identifying them needs lingua."""
    from .detect.lang import PACKS, model_for, needs_identification

    config = policy.detect
    for code in config.languages:
        model = model_for(config, code)
        if code == config.language and model == config.spacy_model:
            continue  # checked above
        if ("/" in model or os.sep in model) and (Path(model).expanduser() / "config.cfg").is_file():
            run.checked.append(f"language {code}: pipeline at {model}")
        elif "/" in model or os.sep in model or _missing(model):
            extra = PACKS.get(code, ("", ""))[1]
            hint = f"pip install 'privroute[{extra}]'" if extra and code not in config.models else \
                "install the package that provides it"
            run.problem(f"language {code!r}: its spaCy pipeline {model!r} is not installed ({hint}); "
                        "privroute never downloads models", "detect", "languages")
        else:
            run.checked.append(f"language {code}: {model} installed")
    if needs_identification(config):
        if _missing("lingua"):
            run.problem("identifying the language of a text needs lingua-language-detector "
                        "(pip install 'privroute[fr]'); without it every prompt fails", "detect", "languages")
        else:
            run.checked.append(f"languages {', '.join(config.languages)} identified; other languages: "
                               f"{config.unknown_language}")


def _missing(module: str) -> bool:
    """Whether a top-level module cannot be found, without importing (and so running) it."""
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):
        return True


def _check_local(run: _Run, policy: Policy, offline: bool) -> None:
    local = policy.local
    if local.base_url:
        if offline:
            run.skipped.append(f"local server {local.base_url}: not contacted (--offline)")
        else:
            failure = _probe(local.base_url, None)
            if failure:
                run.problem(f"local model server: {failure}", "local", "base_url")
            else:
                run.checked.append(f"local server {local.base_url}: answers")
        return
    from .models import resolve_model, verify_checksum

    try:
        model = resolve_model(local.model)
    except ModelNotFound as exc:
        run.problem(str(exc), "local", "model")
        return
    with model.path.open("rb") as handle:
        if handle.read(4) != _GGUF_MAGIC:
            run.problem(f"{model.path.name} is not a GGUF model file", "local", "model")
            return
    if model.entry is not None and model.entry.sha256:
        try:
            verify_checksum(model)
        except ModelNotFound as exc:
            run.problem(str(exc), "local", "model")
            return
        run.checked.append(f"local model: {model.name} (sha256 verified)")
    else:
        run.checked.append(f"local model: {model.path} (GGUF; no catalog checksum to verify)")
    if _missing("llama_cpp"):
        run.problem("llama-cpp-python is not installed (pip install 'privroute[local]'): local routes fail",
                    "local", "model")


def _check_frontier(run: _Run, policy: Policy, offline: bool) -> None:
    frontier = policy.frontier
    if not frontier.model:
        run.problem("some route sends to the frontier, but no frontier model is configured", "frontier", "model")
    url = frontier.base_url or os.environ.get("OPENAI_BASE_URL") or None
    key = os.environ.get(frontier.api_key_env) or None
    if url is None and key is None:
        run.problem(f"some route sends to the frontier, but none is configured: set frontier.base_url, "
                    f"OPENAI_BASE_URL or {frontier.api_key_env}", "frontier", key="frontier")
        return
    target = url or "https://api.openai.com/v1"
    if offline:
        run.skipped.append(f"frontier {target}: not contacted (--offline)")
        return
    failure = _probe(target, key)
    if failure:
        run.problem(f"frontier: {failure}", "frontier", "base_url")
    else:
        run.checked.append(f"frontier {target}: answers")


def _probe(base_url: str, key: str | None) -> str | None:
    """GET {base_url}/models: None when the endpoint answers and takes the key, else why not."""
    request = urllib.request.Request(base_url.rstrip("/") + "/models", method="GET")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=_PROBE_TIMEOUT_S):
            return None
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return f"{base_url} refused the API key (HTTP {exc.code})"
        return None if exc.code < 500 else f"{base_url} answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"cannot reach {base_url} ({type(reason).__name__})"


def _check_audit(run: _Run, policy: Policy) -> None:
    audit = policy.audit
    if audit.required and not audit.enabled:
        run.problem("audit.required is true but audit.enabled is false: every route would fail (AuditError)",
                    "audit", "enabled")
        return
    if not audit.enabled:
        run.skipped.append("audit: disabled")
        return
    location = resolve_location(audit.url, audit.path)
    if isinstance(location, str):  # PostgreSQL: reach it and take the head row's lock briefly
        _check_database(run, location, required=audit.required)
        return
    path = location
    if str(path) == ":memory:":
        run.checked.append("audit: in memory")
        return
    if path.exists():
        writable = path.is_file() and os.access(path, os.W_OK)
    else:
        # The nearest existing ancestor must be a directory we may create entries in (a regular
        # file there blocks the path for every user, root included).
        parent = _existing_parent(path)
        writable = parent.is_dir() and os.access(parent, os.W_OK)
    if not writable:
        consequence = "every route would fail" if audit.required else "records would be lost"
        run.problem(f"the audit log {path} is not writable ({consequence})", "audit", "path")
    else:
        run.checked.append(f"audit: {path} writable" + (" (required)" if audit.required else ""))


def _check_database(run: _Run, url: str, *, required: bool) -> None:
    store = open_store(url)
    try:
        store.check_writable()
    except (AuditError, MissingDependency) as exc:
        consequence = "every route would fail" if required else "records would be lost"
        run.problem(f"the audit database is not usable: {exc} ({consequence})", "audit", "url")
    else:
        run.checked.append(f"audit: {store.location} writable" + (" (required)" if required else ""))
    finally:
        store.close()


def _existing_parent(path: Path) -> Path:
    for parent in path.parents:
        if parent.exists():
            return parent
    return Path("/")


def _check_budget(run: _Run, policy: Policy) -> None:
    prices = policy.budget.prices
    if prices and not Path(prices).expanduser().is_file():
        run.problem(f"price table {prices} not found", "budget", "prices")

