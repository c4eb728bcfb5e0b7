"""``privroute policy test``: example prompts with the decision a policy must take.

A case file is YAML, validated strictly like a policy::

    policy: healthcare            # optional, documentation: the policy these cases were written for
                                  # (a child policy may run its parent's cases)
    cases:
      - name: phi-stays-local
        prompt: "Patient Jane Roe, MRN 4471123, has new chest pain."
        expect:
          action: local                      # required
          sensitivity: regulated             # optional
          reasons: [hipaa-record-identifier] # optional: exactly these rules fire (any order)
          reasons_include: [...]             # optional: at least these rules fire
          redacted: [PERSON]                 # optional: exactly these types are replaced when redacting

Each case runs the real detector and rules (``Router.classify``; no model is called)
and compares what the policy decides with what the case expects. A broken case file
is a ``PolicyTestError`` naming its file, line and key.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import PolicyTestError
from .shipped import shipped_dir
from .yamlsource import line_for, yaml_lines

__all__ = ["CaseResult", "Mismatch", "TestReport", "load_cases", "run_cases", "shipped_cases"]

_MAX_BYTES = 2_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Expect(_Strict):
    action: Literal["local", "redact", "frontier", "block"]
    sensitivity: Literal["public", "internal", "confidential", "regulated"] | None = None
    reasons: tuple[str, ...] | None = None
    reasons_include: tuple[str, ...] = ()
    redacted: tuple[str, ...] | None = None


class Case(_Strict):
    name: str = Field(min_length=1, max_length=200)
    prompt: str = Field(min_length=1)
    expect: Expect


class CaseFile(_Strict):
    policy: str | None = None
    description: str = ""
    cases: tuple[Case, ...] = Field(min_length=1)


@dataclass(frozen=True)
class Mismatch:
    field: str
    expected: str
    actual: str


@dataclass(frozen=True)
class CaseResult:
    name: str
    line: int | None
    mismatches: tuple[Mismatch, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.mismatches

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "line": self.line, "passed": self.passed,
                "mismatches": [{"field": m.field, "expected": m.expected, "actual": m.actual}
                               for m in self.mismatches]}


@dataclass(frozen=True)
class TestReport:
    policy: str
    cases_file: str
    results: tuple[CaseResult, ...]

    __test__ = False  # not a pytest class

    @property
    def failed(self) -> tuple[CaseResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, object]:
        return {"policy": self.policy, "cases": self.cases_file, "ok": self.ok, "passed":
                len(self.results) - len(self.failed), "failed": len(self.failed),
                "results": [r.as_dict() for r in self.results]}


def load_cases(path: str | Path) -> tuple[CaseFile, dict[tuple[str, ...], int]]:
    """Read and validate a case file; raises PolicyTestError with its file, line and key."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise PolicyTestError(f"cannot read the case file ({exc.strerror})", source=source) from None
    if len(raw) > _MAX_BYTES:
        raise PolicyTestError("the case file is too large", source=source)
    try:
        text = raw.decode("utf-8")
        data = yaml.safe_load(text)
        lines = yaml_lines(text)
    except UnicodeDecodeError:
        raise PolicyTestError("the case file is not UTF-8 text", source=source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise PolicyTestError(f"not valid YAML: {getattr(exc, 'problem', None) or 'parse error'}", source=source,
                              line=mark.line + 1 if mark is not None else None) from None
    if not isinstance(data, dict):
        raise PolicyTestError("a case file must be a YAML mapping with a 'cases:' list", source=source)
    try:
        return CaseFile.model_validate(data), lines
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            loc = tuple(error.get("loc", ()))
            message = "unknown key" if error.get("type") == "extra_forbidden" else error.get("msg", "invalid")
            problems.append(PolicyTestError(message.removeprefix("Value error, "), source=source,
                                            line=line_for(lines, loc), key=".".join(str(p) for p in loc) or None))
        first, extra = problems[0], len(problems) - 1
        raise PolicyTestError(first.message + (f" (and {extra} more)" if extra else ""), source=source,
                              line=first.line, key=first.key, problems=problems) from None


def _set(values: Any) -> str:
    return "[" + ", ".join(sorted(values)) + "]"


def _compare(expect: Expect, decision: Any, redacted: set[str]) -> tuple[Mismatch, ...]:
    found: list[Mismatch] = []
    if decision.action != expect.action:
        found.append(Mismatch("action", expect.action, decision.action))
    if expect.sensitivity is not None and decision.sensitivity != expect.sensitivity:
        found.append(Mismatch("sensitivity", expect.sensitivity, decision.sensitivity))
    reasons = set(decision.reasons)
    if expect.reasons is not None and reasons != set(expect.reasons):
        found.append(Mismatch("reasons", _set(expect.reasons), _set(reasons)))
    missing = set(expect.reasons_include) - reasons
    if missing:
        found.append(Mismatch("reasons_include", _set(expect.reasons_include), _set(reasons)))
    if expect.redacted is not None and redacted != set(expect.redacted):
        found.append(Mismatch("redacted", _set(expect.redacted), _set(redacted)))
    return tuple(found)


def run_cases(policy: Any, cases_path: str | Path, *, detector: Any = None) -> TestReport:
    """Run every case of ``cases_path`` against ``policy`` (a name, path, mapping or Policy)."""
    from .router import Router, get_router

    cases, lines = load_cases(cases_path)
    router = Router(policy=policy, detector=detector) if detector is not None else get_router(policy)
    loaded = router.policy
    only = set(loaded.redact.entities)
    results = []
    for index, case in enumerate(cases.cases):
        decision = router.classify(case.prompt)
        redacted = {e.type for e in decision.entities if not only or e.type in only}
        results.append(CaseResult(case.name, line_for(lines, ("cases", index)),
                                  _compare(case.expect, decision, redacted)))
    return TestReport(loaded.name, str(cases_path), tuple(results))


def shipped_cases() -> dict[str, Path]:
    """The case file of each shipped policy (``policies/tests/<name>.yaml``)."""
    folder = shipped_dir("policies").joinpath("tests")
    if not folder.is_dir():
        return {}
    return {item.name[:-5]: Path(str(item)) for item in folder.iterdir() if item.name.endswith(".yaml")}

