"""The layout is the design: imports point one way, frontends stay out of the core."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import privroute

pytestmark = pytest.mark.fast

PACKAGE = Path(privroute.__file__).resolve().parent
FRONTENDS = ("privroute.batch", "privroute.server", "privroute.cli")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(name: str, path: Path) -> Iterator[str]:
    """Every module ``name`` imports, at any depth of its code (functions and TYPE_CHECKING too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                # ``from . import logsafe`` imports a module; ``from .x import name`` imports x.
                yield f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target


def _graph() -> dict[str, set[str]]:
    return {name: {t for t in _imports(name, path) if t in MODULES and t != name} for name, path in MODULES.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


class TestImports:
    def test_no_import_cycle_inside_the_package(self) -> None:
        """No module reaches itself through imports, counting imports inside functions."""
        assert _cycle(_graph()) is None

    def test_the_checker_finds_a_cycle(self) -> None:
        """The cycle finder itself works (a check that cannot fail proves nothing)."""
        assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
        assert _cycle({"a": {"b"}, "b": set()}) is None

    def test_core_imports_no_frontend(self) -> None:
        """Nothing outside batch/, server/, cli/ imports them (the package's lazy redact_files aside)."""
        offenders = [(name, target) for name, targets in _graph().items() if not name.startswith(FRONTENDS)
                     for target in targets if target.startswith(FRONTENDS)]
        assert offenders == [("privroute", "privroute.batch")]  # privroute.redact_files, imported on call

    def test_only_the_cli_imports_click(self) -> None:
        """click and privroute.cli are imported only inside privroute/cli/."""
        offenders = [name for name, path in MODULES.items() if not name.startswith("privroute.cli")
                     for target in _imports(name, path) if target.split(".")[0] == "click"
                     or target.startswith("privroute.cli")]
        assert offenders == []

    def test_frontends_do_not_import_each_other_except_cli(self) -> None:
        """batch and server are siblings; only the CLI sits on top of both."""
        graph = _graph()
        for frontend in ("privroute.batch", "privroute.server"):
            others = [f for f in FRONTENDS if f != frontend]
            assert not [(n, t) for n, ts in graph.items() if n.startswith(frontend)
                        for t in ts if t.startswith(tuple(others))]

    def test_modules_stay_small(self) -> None:
        """No module grows past about 600 lines."""
        sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in MODULES.items()}
        assert {name: n for name, n in sizes.items() if n > 650} == {}
