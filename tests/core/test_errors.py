"""errors.py tells the truth: its drawn tree is the class tree, and every error has an outcome."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import privroute
from privroute import errors

pytestmark = pytest.mark.fast

ERRORS = {name: obj for name, obj in vars(errors).items()
          if inspect.isclass(obj) and issubclass(obj, errors.PrivrouteError)}


def _drawn_tree() -> dict[str, tuple[str | None, tuple[str, ...]]]:
    """name -> (parent, builtins) as the module docstring draws them."""
    drawn: dict[str, tuple[str | None, tuple[str, ...]]] = {}
    stack: list[tuple[int, str]] = []
    for line in (errors.__doc__ or "").splitlines():
        match = re.match(r"^(?P<indent>[\s│]*)(?:[├└]── )?(?P<name>[A-Z]\w+)(?: \((?P<bases>[\w, ]+)\))?", line)
        if not match or match["name"] not in ERRORS and not line.lstrip().startswith(("├", "└", "Privroute")):
            continue
        depth = len(match["indent"]) // 4 + (1 if "──" in line else 0)
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1][1] if stack else None
        bases = tuple(b.strip() for b in match["bases"].split(",")) if match["bases"] else ()
        drawn[match["name"]] = (parent, bases)
        stack.append((depth, match["name"]))
    return drawn


def _instance(klass: type[errors.PrivrouteError]) -> errors.PrivrouteError:
    """One instance of each error, built through its real constructor."""
    special = {errors.Blocked: (["rule"],), errors.MissingDependency: ("pkg", "extra"), errors.QueueFull: (2,),
               errors.ContextOverflow: (900, 448, 512, 64), errors.LanguageNotCovered: (("de",), "local")}
    return klass(*special.get(klass, ("message",)))  # type: ignore[call-arg]


class TestHierarchy:
    def test_every_error_is_drawn_with_its_real_parent_and_builtins(self) -> None:
        """The docstring tree and the classes agree, both ways."""
        drawn = _drawn_tree()
        assert set(drawn) == set(ERRORS)
        for name, (parent, builtins) in drawn.items():
            klass = ERRORS[name]
            privroute_bases = [b.__name__ for b in klass.__bases__ if issubclass(b, errors.PrivrouteError)]
            assert privroute_bases == ([parent] if parent else []), name
            other_bases = tuple(b.__name__ for b in klass.__bases__ if not issubclass(b, errors.PrivrouteError))
            assert other_bases == (builtins or (("Exception",) if parent is None else ())), name

    def test_no_exception_is_defined_outside_errors_py(self) -> None:
        """Every class privroute defines that derives from Exception lives in errors.py (the proxy's
        ApiError, an HTTP answer rather than an error privroute raises to callers, aside)."""
        package = Path(privroute.__file__).parent
        found = []
        for path in package.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef) and any(
                        getattr(b, "id", getattr(b, "attr", "")).endswith(("Error", "Exception", "Full", "Open",
                                                                           "Blocked", "Exceeded", "Timeout",
                                                                           "Unavailable", "Dependency", "Found"))
                        for b in node.bases):
                    found.append(f"{path.relative_to(package)}:{node.name}")
        assert sorted(f for f in found if not f.startswith("errors.py")) == ["server/protocol.py:ApiError"]

    def test_public_api_exports_every_error(self) -> None:
        assert set(ERRORS) <= set(errors.__all__)

    def test_declared_attributes_not_patched(self) -> None:
        """status_code and retry_after are constructor arguments of BackendError."""
        exc = errors.FrontierUnavailable("x", backend="b", status_code=429, retry_after=2.0)
        assert (exc.status_code, exc.retry_after, exc.attempts) == (429, 2.0, 1)
        assert errors.FrontierTimeout("x").status_code is None


class TestOutcomeMaps:
    @pytest.mark.parametrize("name", sorted(ERRORS))
    def test_every_error_has_an_exit_code_and_http_status(self, name: str) -> None:
        exc = _instance(ERRORS[name])
        assert errors.exit_code_for(exc) in (1, 2, 3)
        assert 400 <= errors.http_status_for(exc) <= 599

    def test_documented_exit_codes(self) -> None:
        """README: 1 error, 2 usage error, 3 blocked."""
        assert errors.exit_code_for(errors.Blocked(["r"])) == 3
        assert errors.exit_code_for(errors.BatchUsageError("x")) == 2
        assert errors.exit_code_for(errors.DetectionError("x")) == 1

    def test_http_statuses(self) -> None:
        assert errors.http_status_for(errors.Blocked(["r"])) == 403
        assert errors.http_status_for(errors.InputError("x")) == 400
        assert errors.http_status_for(errors.QueueFull(2)) == 429
        assert errors.http_status_for(errors.FrontierUnavailable("x", status_code=429)) == 429
        assert errors.http_status_for(errors.FrontierUnavailable("x", status_code=503)) == 502
        assert errors.http_status_for(errors.CircuitOpen("x")) == 502
        assert errors.http_status_for(errors.FrontierTimeout("x")) == 504
        assert errors.http_status_for(errors.LocalTimeout("x")) == 504
        assert errors.http_status_for(errors.LocalWorkerError("x")) == 502
        assert errors.http_status_for(errors.ContextOverflow(900, 448, 512, 64)) == 400
        assert errors.http_status_for(errors.AuditError("x")) == 503

    def test_proxy_uses_the_map(self) -> None:
        """The proxy's error answer takes its status from errors.HTTP_STATUS."""
        from privroute.server.protocol import error_for

        for klass in ERRORS.values():
            exc = _instance(klass)
            assert error_for(exc).status == errors.http_status_for(exc), klass.__name__
